import ArgumentParser
import Foundation
import NetBPFSim

/// `netbpf sim down [FILE | NAME | --all]`: remove everything a simulation created.
struct SimDownCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "down",
        abstract: "Remove a simulation: its processes, pins, links and namespaces.",
        discussion: "Works from the state journal, so it also cleans up after an `up` that was killed half-way.")

    @Argument(help: "A topology file or a simulation name (default: the only running simulation).") var target: String?
    @Flag(help: "Remove every simulation.") var all = false
    @OptionGroup var output: OutputOptions

    func run() throws {
        try reportingSimErrors(verbose: output.verbose) {
            var names: [String]
            if all {
                guard target == nil else { throw ValidationError("give a name or --all, not both") }
                names = Simulation.list()
            } else if let target {
                if target.hasSuffix(".yaml") || target.hasSuffix(".yml") || target.contains("/") {
                    names = [Topology.simulationName(ofFile: target)]
                } else {
                    names = [target]
                }
            } else {
                names = Simulation.list()
                guard names.count == 1 else {
                    throw SimError(.notFound, operation: "sim down", message: names.isEmpty ? "no simulation is running" : "several simulations are running: \(names.joined(separator: ", "))",
                                   hint: names.isEmpty ? nil : "name one, or use --all")
                }
            }
            var results: [TeardownResult] = []
            var failures: [SimError] = []
            for n in names {
                do { results.append(try Simulation.down(n)) } catch let e as SimError { failures.append(e) }
            }
            if output.json { try printJSON(results) } else {
                if results.isEmpty && failures.isEmpty { print("no simulations") }
                for t in results {
                    print(String(format: "simulation '%@' removed: %d namespace%@, %d process%@, %d pin%@, %d root link%@ (%.3f s)",
                                 t.name, t.namespacesRemoved, t.namespacesRemoved == 1 ? "" : "s",
                                 t.processesStopped, t.processesStopped == 1 ? "" : "es",
                                 t.pinsRemoved, t.pinsRemoved == 1 ? "" : "s",
                                 t.rootLinksRemoved, t.rootLinksRemoved == 1 ? "" : "s", t.seconds))
                }
            }
            if failures.count == 1 { throw failures[0] }
            if failures.count > 1 {
                throw SimError(.teardownIncomplete, operation: "sim down", message: failures.map(\.description).joined(separator: " | "))
            }
        }
    }
}
