import ArgumentParser
import Foundation
import NetBPF

/// `netbpf prog list|show|run`.
struct ProgCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "prog", abstract: "List, show and test-run BPF programs.",
                                                    subcommands: [List.self, Show.self, Run.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "Every BPF program loaded on the system (like `bpftool prog show`).")
        @OptionGroup var output: OutputOptions

        func run() throws {
            try reportingErrors(verbose: output.verbose) {
                let programs = try Inventory.programs()
                if output.json { try printJSON(programs); return }
                print(table(["id", "type", "name", "tag", "loaded", "xlated", "jited", "memlock", "maps", "attached"],
                            programs.map { p in
                                [String(p.info.id), p.info.type.description, p.info.name, p.info.tag, formatTime(p.info.loadTime),
                                 "\(p.info.translatedBytes)B", "\(p.info.jitedBytes)B", formatBytes(p.info.memlockBytes),
                                 p.info.mapIDs.map(String.init).joined(separator: ","), p.attachedTo.joined(separator: "; ")]
                            }))
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "show", abstract: "One program by id or pinned path.")
        @Argument(help: "A program id, or a path in bpffs.") var target: String
        @OptionGroup var output: OutputOptions

        func run() throws {
            try reportingErrors(verbose: output.verbose) {
                let program = try UInt32(target).map { try BPFProgram.open(id: $0) } ?? BPFProgram.open(pinned: target)
                let info = try program.info()
                if output.json { try printJSON(info); return }
                print("\(info.id): \(info.type)  name \(info.name)  tag \(info.tag)\(info.gplCompatible ? "  gpl" : "")")
                print("\tloaded_at \(formatTime(info.loadTime))  uid \(info.createdByUID)")
                print("\txlated \(info.translatedBytes)B  jited \(info.jitedBytes)B  memlock \(formatBytes(info.memlockBytes))  verified_insns \(info.verifiedInstructions)")
                if !info.mapIDs.isEmpty { print("\tmap_ids " + info.mapIDs.map(String.init).joined(separator: ",")) }
                if info.btfID != 0 { print("\tbtf_id \(info.btfID)") }
            }
        }
    }

    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "run",
            abstract: "Test-run a program of an object on a packet (BPF_PROG_TEST_RUN).",
            discussion: "The object is loaded, the program runs in the kernel on the given bytes, nothing is attached.")
        @Argument(help: "A BPF object (.o) or BPF C source (.c).") var object: String
        @OptionGroup var compile: CompileArguments
        @Option(name: .long, help: "Program name (default: the object's first program).") var program: String?
        @Option(name: .long, help: "Packet bytes as hex.") var data: String?
        @Option(name: .long, help: "Read the packet from this file (raw bytes).") var dataFile: String?
        @Option(name: .long, help: "Repetitions (the duration is the mean); with --live: frames to send (default 1, or unlimited with --seconds).") var `repeat`: Int?
        @OptionGroup var live: LiveFrameOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            try reportingErrors(verbose: output.verbose) {
                let packet: [UInt8]
                switch (data, dataFile) {
                case (let hex?, nil): packet = try parseHex(hex)
                case (nil, let path?):
                    guard let d = FileManager.default.contents(atPath: path) else {
                        throw BPFError(.notFound, operation: "read packet", subject: path, message: "cannot read file")
                    }
                    packet = Array(d)
                default:
                    throw BPFError(.invalidArgument, operation: "prog run", message: "give exactly one of --data HEX or --data-file PATH")
                }
                try live.validate(repeat: self.repeat)
                let spec = try ProgramInput.open(object, compile: compile)
                let name = program ?? spec.programs[0].name
                guard spec.programs.contains(where: { $0.name == name }) else {
                    throw BPFError(.notFound, operation: "prog run", subject: name, message: "no program of that name in the object",
                                   hint: "programs here: " + spec.programs.map(\.name).joined(separator: ", "))
                }
                for p in spec.programs where p.name != name { try spec.setAutoload(false, forProgram: p.name) }
                let loaded = try spec.load()
                let prog = try loaded.program(named: name)
                if let iface = live.live {
                    try runLive(prog, name: name, frame: packet, interface: iface)
                    return
                }
                let repeatCount = self.repeat ?? 1
                let result = try prog.testRun(data: packet, repeat: repeatCount)
                if output.json {
                    struct Out: Encodable { let program: String; let retval: UInt32; let durationNs: UInt32; let dataOut: String; let repeatCount: Int }
                    try printJSON(Out(program: name, retval: result.returnValue, durationNs: result.durationNanoseconds,
                                      dataOut: hexString(result.dataOut), repeatCount: repeatCount))
                    return
                }
                print("program \(name): retval \(result.returnValue)  duration \(result.durationNanoseconds) ns (mean of \(repeatCount))")
                if result.dataOut != packet { print("data out: \(hexString(result.dataOut))") }
            }
        }

        private func parseHex(_ text: String) throws -> [UInt8] {
            var hex = text.filter { !$0.isWhitespace && $0 != "," }
            if hex.hasPrefix("0x") { hex.removeFirst(2) }
            guard hex.count % 2 == 0, hex.allSatisfy(\.isHexDigit) else {
                throw BPFError(.invalidArgument, operation: "prog run", message: "--data is not hex bytes")
            }
            return stride(from: 0, to: hex.count, by: 2).map { i in
                let a = hex.index(hex.startIndex, offsetBy: i)
                return UInt8(hex[a..<hex.index(a, offsetBy: 2)], radix: 16)!
            }
        }
    }
}
