import ArgumentParser
import NetBPFAttach

/// `netbpf list [IFACE]`: what BPF runs on which interface and hook, across tcx, tc and XDP,
/// including programs other tools attached (like `bpftool net`).
struct ListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List BPF programs attached to interfaces.")
    @Argument(help: "Only this interface.") var interface: String?
    @Option(help: "The network namespace to look in.") var netns: String?
    @OptionGroup var output: OutputOptions

    func run() throws {
        try reportingErrors(verbose: output.verbose) {
            let rows = try Attacher().list(interface: interface, namespace: netns)
            if output.json { try printJSON(rows); return }
            if rows.isEmpty { print("no BPF programs attached\(interface.map { " to \($0)" } ?? "")"); return }
            print(table(["interface", "hook", "id", "name", "tag", "by", "detail"],
                        rows.map { ["\($0.interface)(\($0.ifindex))", $0.hook, String($0.programID), $0.programName, $0.programTag, $0.owner, $0.detail] }))
        }
    }
}
