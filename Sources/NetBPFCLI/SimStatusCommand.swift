import ArgumentParser
import Foundation
import NetBPFSim

/// `netbpf sim status [NAME]`: the running simulations, or one in detail.
struct SimStatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "List running simulations, or show one's hosts, interfaces, addresses and processes.")

    @Argument(help: "A simulation name (default: list them all, or the only one in detail).") var name: String?
    @OptionGroup var output: OutputOptions

    func run() throws {
        try reportingSimErrors(verbose: output.verbose) {
            let names = Simulation.list()
            if let name = name ?? (names.count == 1 ? names[0] : nil) {
                let r = try Simulation.status(name)
                if output.json { try printJSON(r); return }
                let health = r.healthy ? "" : (r.state == "up" ? " (damaged: something is missing; `netbpf sim up` repairs it)" : " (run `netbpf sim down \(r.name)` to clean up)")
                print("simulation '\(r.name)': \(r.state)\(health); \(simSummary(r)); file \(r.file)")
                print(simTable(r))
                if !r.pins.isEmpty { print("\npinned: " + r.pins.joined(separator: " ")) }
                return
            }
            let reports = names.compactMap { try? Simulation.status($0) }
            if output.json { try printJSON(reports); return }
            if reports.isEmpty { print("no simulations"); return }
            print(table(["NAME", "STATE", "HOSTS", "PROCESSES", "FILE"], reports.map { r in
                [r.name, r.healthy ? r.state : "\(r.state) (damaged)",
                 "\(r.nodes.count)", "\(r.nodes.reduce(0) { $0 + $1.processes.filter(\.running).count })", r.file]
            }))
        }
    }
}
