import ArgumentParser
import NetBPF

/// Expected attach type 0 is also "none": show it only for program types where 0 means something.
func attachTypeText(_ p: ProgramSpec) -> String {
    p.expectedAttachType.rawValue == 0 && p.type.description != "cgroup_skb" ? "-" : p.expectedAttachType.description
}

/// `netbpf object inspect FILE`: the programs and maps of an object file, without loading it.
struct ObjectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "object", abstract: "Inspect BPF object files.",
                                                    subcommands: [Inspect.self])

    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "inspect", abstract: "List an object's programs and maps (nothing is loaded).")
        @Argument(help: "A BPF object (.o) or BPF C source (.c, compiled in-process).") var file: String
        @OptionGroup var compile: CompileArguments
        @OptionGroup var output: OutputOptions

        func run() throws {
            try reportingErrors(verbose: output.verbose) {
                let spec = try ProgramInput.open(file, compile: compile)
                if output.json {
                    struct Prog: Encodable { let name, section: String; let type: ProgramType; let attachType: AttachType?; let instructions: Int }
                    struct MapOut: Encodable { let name: String; let type: MapType; let keySize, valueSize, maxEntries, flags: UInt32; let isInternal: Bool }
                    struct Out: Encodable { let name: String; let programs: [Prog]; let maps: [MapOut] }
                    try printJSON(Out(name: spec.name,
                                      programs: spec.programs.map { Prog(name: $0.name, section: $0.section, type: $0.type, attachType: attachTypeText($0) == "-" ? nil : $0.expectedAttachType, instructions: $0.instructionCount) },
                                      maps: spec.maps.map { MapOut(name: $0.name, type: $0.type, keySize: $0.keySize, valueSize: $0.valueSize, maxEntries: $0.maxEntries, flags: $0.flags, isInternal: $0.isInternal) }))
                    return
                }
                print("object \(spec.name)")
                print("programs:")
                print(table(["name", "section", "type", "attach type", "insns"],
                            spec.programs.map { [$0.name, $0.section, $0.type.description, attachTypeText($0), "\($0.instructionCount)"] })
                        .split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
                print("maps:")
                print(table(["name", "type", "key", "value", "max entries", "flags"],
                            spec.maps.map { [$0.name, $0.type.description, "\($0.keySize)", "\($0.valueSize)", "\($0.maxEntries)", String(format: "0x%x", $0.flags)] })
                        .split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
            }
        }
    }
}
