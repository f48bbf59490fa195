import Foundation
import NetBPFNetlink

/// Simulations a killed `netbpf sim up` or `sim down` left behind, for `netbpf doctor`: a journal
/// still at `building` or `tearing-down` with no process holding the simulation's lock, or one
/// that is `up` while some of its namespaces are gone. Fixing one is `Simulation.down`.
public enum SimulationLeftovers {
    /// One simulation left behind.
    public struct Finding: Sendable {
        /// The simulation's name.
        public var simulation: String
        /// What is wrong with it, in one line.
        public var what: String
        /// Whether `examine(fix: true)` tore it down.
        public var fixed: Bool
    }

    /// Every simulation left behind; those being built or torn down right now (lock held) are
    /// skipped.
    /// - Parameter fix: tear each leftover down (its journal says what to remove).
    public static func examine(fix: Bool) -> [Finding] {
        Simulation.list().compactMap { name -> Finding? in
            let dir = StateDirectory(name: name)
            // A simulation whose lock is held is being built or torn down right now.
            guard let lock = try? SimulationLock(dir, timeout: 0, quiet: true) else { return nil }
            let journal = try? dir.readJournal()
            let problem: String?
            switch journal {
            case nil:
                problem = "no readable journal in \(dir.path)"
            case let j? where j.state != .up:
                let left = j.namespaces.filter { NetworkNamespace.exists($0.name) }.map(\.name)
                problem = "`sim \(j.state == .building ? "up" : "down")` (pid \(j.ownerPID)) did not finish (\(j.state.rawValue), \(j.steps) steps)"
                    + (left.isEmpty ? "" : "; namespaces left: \(left.joined(separator: ", "))")
            case let j?:
                let missing = j.namespaces.filter { !NetworkNamespace.exists($0.name) }.map(\.name)
                problem = missing.isEmpty ? nil : "up, but namespaces \(missing.joined(separator: ", ")) are gone"
            }
            guard let problem else { return nil }
            var fixed = false
            if fix && journal == nil {
                dir.remove()
                lock.removeFile()
                fixed = true
            }
            lock.release()
            if fix && journal != nil { fixed = (try? Simulation.down(name)) != nil } // down takes the lock itself
            return Finding(simulation: name, what: problem, fixed: fixed)
        }
    }
}
