import Foundation
import Glibc
import NetBPF
import NetBPFNetlink

/// What `down` removed.
public struct TeardownResult: Sendable, Codable, Equatable {
    /// The simulation's name.
    public var name: String
    /// Processes stopped (SIGTERM, then SIGKILL after a grace period).
    public var processesStopped = 0
    /// Network namespaces deleted, with everything inside them.
    public var namespacesRemoved = 0
    /// Interfaces deleted from the machine's own namespace.
    public var rootLinksRemoved = 0
    /// bpffs pins removed.
    public var pinsRemoved = 0
    /// Things that could not be removed (the journal is kept so `down` can be run again).
    public var leftovers: [String] = []
    /// Wall time of the teardown.
    public var seconds = 0.0
}

/// Removes everything a journal lists, in an order that never strands anything: processes first
/// (they hold their namespace), then pins, root-namespace links and namespaces. Missing objects
/// are skipped, so it works on the journal of an `up` killed at any point, and running it twice
/// is harmless. The journal is marked tearing-down first and removed only when all is gone.
enum Teardown {
    static func run(_ journal: Journal, dir: StateDirectory) -> TeardownResult {
        let started = Date()
        var journal = journal
        var result = TeardownResult(name: journal.name)
        journal.state = .tearingDown
        try? dir.write(journal)

        // 1. Processes: journaled ones (whole process group), then anything else in our namespaces.
        let nsNames = journal.namespaces.map(\.name)
        var running = Set(journal.processes.compactMap { e in e.pid.flatMap { SimProcesses.isAlive($0, startTime: e.startTime) ? $0 : nil } })
        running.formUnion(SimProcesses.processes(inNamespaces: nsNames))
        let survivors = SimProcesses.terminate(journal.processes, namespaces: nsNames)
        result.processesStopped = max(0, running.count - survivors.count)
        for pid in survivors { result.leftovers.append("process \(pid)") }

        // 2. Pins, then their directories (deepest first).
        for pin in journal.pins {
            if unlink(pin) == 0 { result.pinsRemoved += 1 }
            else if errno != ENOENT { result.leftovers.append("pin \(pin) (\(String(cString: strerror(errno))))") }
        }
        // The shared parent /sys/fs/bpf/netbpf/sim stays: removing it when empty would race a
        // concurrent `sim up` between its mkdir of the parent and of its own directory.
        if let pinDir = journal.pinDirectory { removeEmptyTree(pinDir, leftovers: &result.leftovers) }

        // 3. Root-namespace links (deleting one end of a veth deletes its peer).
        if !journal.rootLinks.isEmpty {
            do {
                let nl = try NetlinkSocket()
                for link in journal.rootLinks {
                    guard let info = try? nl.interface(.name(link.name)) else { continue }
                    guard info.kind == "veth" else {
                        result.leftovers.append("root interface \(link.name) is a \(info.kind ?? "device"), not our veth: left alone")
                        continue
                    }
                    do {
                        try nl.deleteLink(.name(link.name))
                        result.rootLinksRemoved += 1
                    } catch {
                        if (try? nl.interfaceExists(.name(link.name))) == true { result.leftovers.append("root interface \(link.name): \(error)") }
                    }
                }
            } catch {
                result.leftovers.append("root namespace: \(error)")
            }
        }

        // 4. Namespaces (their veths, bridges, VXLAN devices, qdiscs and filters go with them).
        for ns in journal.namespaces where NetworkNamespace.exists(ns.name) {
            do {
                try NetworkNamespace.delete(ns.name)
                result.namespacesRemoved += 1
            } catch {
                result.leftovers.append("namespace \(ns.name): \(error)")
            }
        }

        result.seconds = Date().timeIntervalSince(started)
        if result.leftovers.isEmpty {
            dir.remove()
        } else {
            try? dir.write(journal)
        }
        return result
    }

    /// rmdir's a directory tree bottom-up; whatever is not empty stays (and is reported).
    static func removeEmptyTree(_ path: String, leftovers: inout [String]) {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { return }
        if isDir.boolValue {
            for e in (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [] {
                removeEmptyTree(path + "/" + e, leftovers: &leftovers)
            }
            if rmdir(path) != 0 && errno != ENOENT { leftovers.append("directory \(path) (\(String(cString: strerror(errno))))") }
        } else {
            leftovers.append("file \(path) (not made by this simulation)")
        }
    }
}
