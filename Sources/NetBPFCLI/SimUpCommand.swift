import ArgumentParser
import Foundation
import Glibc
import NetBPFSim

/// `netbpf sim up FILE`: validate a topology file, build it, print its hosts and addresses.
struct SimUpCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "up",
        abstract: "Build the network a topology file describes (idempotent).",
        discussion: """
            Validates FILE first (nothing is created if it has a problem), then creates a network
            namespace per host (nb-NAME-HOST), the links, bridges, VXLAN devices, addresses, routes,
            VLAN access ports and BPF attachments, and starts the processes. State is kept in
            /run/netbpf/sim/NAME so `netbpf sim down` removes everything, even if this command is
            killed. Run again on a running simulation it reports it is up (restarting processes that
            died), or rebuilds one left half-made.
            """)

    @Argument(help: "The topology file (YAML, see docs/topologies.md), or the name of a shipped one (pair, router, demo, ...).") var file: String
    /// The file `file` names (TopologyLocation: a shipped topology by its name).
    var path: String { TopologyLocation.resolve(file) }
    @Option(name: .long, help: "Simulation name (default: the file's name: or its file name); run a second copy under another name.")
    var name: String?
    @Flag(help: "Tear down a running copy and build it again.") var recreate = false
    @OptionGroup var output: OutputOptions

    func run() throws {
        try reportingSimErrors(verbose: output.verbose) {
            let text: String
            guard let data = FileManager.default.contents(atPath: path) else {
                throw SimError(.notFound, operation: "read topology", subject: path, message: "no such file or not readable",
                               hint: "name a topology file, or a shipped topology by its name (e.g. pair)")
            }
            text = String(decoding: data, as: UTF8.self)
            let topology = try Topology.parse(text, file: path, nameOverride: name)
            var options = UpOptions(recreate: recreate)
            if output.verbose {
                // write(2), not FileHandle: a closed pipe must not end the build half-way.
                options.progress = { line in _ = "  \(line)\n".withCString { write(2, $0, strlen($0)) } }
            }
            SimSignals.install()
            options.cancelled = { SimSignals.received }
            let result = try Simulation.up(topology, options: options)
            SimSignals.restore()
            if output.json {
                struct Up: Encodable {
                    let outcome: String
                    let seconds: Double
                    let steps: Int
                    let simulation: SimulationReport
                }
                try printJSON(Up(outcome: describe(result.outcome), seconds: result.seconds, steps: result.steps, simulation: result.report))
                return
            }
            let r = result.report
            let timing = String(format: "%.3f s", result.seconds)
            switch result.outcome {
            case .created:
                print("simulation '\(r.name)' is up: \(simSummary(r)); built in \(timing) (\(result.steps) steps)")
            case .alreadyUp:
                print("simulation '\(r.name)' is already up: \(simSummary(r)); nothing changed")
            case .restartedProcesses(let list):
                print("simulation '\(r.name)' is already up; restarted \(list.joined(separator: ", "))")
            case .recreated(let reason):
                print("simulation '\(r.name)' rebuilt (\(reason)): \(simSummary(r)); built in \(timing) (\(result.steps) steps)")
            }
            print(simTable(r))
            print("\nrun commands with: netbpf sim exec HOST -- COMMAND   (or ip netns exec NAMESPACE COMMAND)")
            print("remove it with:    netbpf sim down \(r.name)")
        }
    }

    func describe(_ o: UpResult.Outcome) -> String {
        switch o {
        case .created: return "created"
        case .alreadyUp: return "already-up"
        case .restartedProcesses: return "restarted-processes"
        case .recreated: return "recreated"
        }
    }
}
