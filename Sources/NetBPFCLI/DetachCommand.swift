import ArgumentParser
import NetBPF
import NetBPFAttach

/// `netbpf detach tc|xdp IFACE [--id N | --name NAME | --all]`: undo what `netbpf attach` did,
/// and only that: programs other tools attached are refused by name.
struct DetachCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "detach", abstract: "Detach programs netbpf attached.",
                                                    subcommands: [TC.self, XDP.self])

    struct Selection: ParsableArguments {
        @Argument(help: "The interface.") var interface: String
        @Option(help: "The program id to detach.") var id: UInt32?
        @Option(help: "The program name to detach.") var name: String?
        @Flag(help: "Every program netbpf attached to this hook family.") var all = false
        @Option(help: "The network namespace the interface is in.") var netns: String?
    }

    struct TC: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "tc", abstract: "Detach tc programs (tcx or clsact).")
        @OptionGroup var selection: Selection
        @Flag(help: "Only ingress.") var ingress = false
        @Flag(help: "Only egress.") var egress = false
        @OptionGroup var output: OutputOptions
        func run() throws {
            try reportingErrors(verbose: output.verbose) {
                let direction: TCDirection? = ingress ? .ingress : egress ? .egress : nil
                let done = try Attacher().detach(.tc, interface: selection.interface, namespace: selection.netns, direction: direction,
                                                 programID: selection.id, programName: selection.name, all: selection.all)
                try printDetached(done, json: output.json)
            }
        }
    }

    struct XDP: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "xdp", abstract: "Detach an XDP program.")
        @OptionGroup var selection: Selection
        @OptionGroup var output: OutputOptions
        func run() throws {
            try reportingErrors(verbose: output.verbose) {
                let done = try Attacher().detach(.xdp, interface: selection.interface, namespace: selection.netns,
                                                 programID: selection.id, programName: selection.name, all: selection.all)
                try printDetached(done, json: output.json)
            }
        }
    }
}

func printDetached(_ records: [AttachmentRecord], json: Bool) throws {
    if json { try printJSON(records); return }
    for r in records { print("detached \(r.programName) (id \(r.programID)) from \(r.place)\(r.createdClsact ? "; clsact removed if empty" : "")") }
}
