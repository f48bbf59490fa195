import ArgumentParser
import NetBPFAttach
import NetBPFNetlink
import NetBPFSim

/// `netbpf doctor [--fix]`: list (and remove) what netbpf left behind.
struct DoctorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor", abstract: "Find (and with --fix remove) netbpf's leftovers: interrupted attaches, attachments of processes that are gone, stale records, orphan pins, half-built simulations.")
    @Flag(help: "Remove what is found (live attachments are only listed).") var fix = false
    @Option(help: "Only this network namespace's records and pins.") var netns: String?
    @OptionGroup var output: OutputOptions

    func run() throws {
        try reportingErrors(verbose: output.verbose) {
            if let netns, !NetworkNamespace.isValidName(netns) {
                throw ValidationError("--netns '\(netns)' is not a namespace name (one name under /run/netns: no '/', '.' or '..')")
            }
            var findings = Doctor(namespace: netns).examine(fix: fix)
            if netns == nil {
                findings += SimulationLeftovers.examine(fix: fix).map {
                    Doctor.Finding(kind: "sim", what: "simulation \($0.simulation): \($0.what)", fixed: $0.fixed)
                }
            }
            if output.json { try printJSON(findings); return }
            if findings.isEmpty { print("nothing of netbpf's is left " + (netns.map { "in namespace \($0)" } ?? "on this machine")); return }
            print(table(["kind", "what", fix ? "removed" : ""], findings.map { [$0.kind, $0.what, ($0.kind == "attached" || $0.kind == "attaching") ? "" : ($0.fixed ? "yes" : "")] }))
            let leftovers = findings.filter { $0.kind != "attached" && $0.kind != "attaching" && !$0.fixed }.count
            if leftovers > 0 { print("\(leftovers) leftover(s); run `netbpf doctor --fix\(netns.map { " --netns \($0)" } ?? "")` to remove them") }
        }
    }
}
