import ArgumentParser
import Foundation
import NetBPF
import NetBPFTracing

/// `netbpf trace run PROGRAM.c -d SECONDS`: loads a tracing object, attaches each program where
/// its section (or BCC-style name) says, waits, and prints every map's entries as numbers. The
/// generic runner for kprobes, kretprobes (by name and FUNC+OFFSET), kprobe.multi, uprobes,
/// fentry/fexit and tracepoints, as `bpftool prog loadall ... autoattach` plus a map dump.
struct TraceRun: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "Load a tracing program, attach it by its sections, then print its maps.",
        discussion: """
            Sections: kprobe/FUNC[+OFFSET], kretprobe/FUNC, kprobe.multi/GLOB, kretprobe.multi/GLOB, \
            uprobe/BINARY:SYMBOL, uretprobe/BINARY:SYMBOL, fentry/FUNC, fexit/FUNC, tracepoint/CAT/EVENT, \
            raw_tp/EVENT; BCC's names kprobe__FUNC and kretprobe__FUNC need no section. \
            Example: netbpf trace run count.bpf.c -d 5 --json
            """)
    @Argument(help: "BPF C (.c) or an object (.o).") var program: String
    @Option(name: .customShort("d"), help: "Run this many seconds (default: until Ctrl-C).") var duration: Double?
    @OptionGroup var compile: CompileArguments
    @OptionGroup var output: TraceOutputOptions

    func run() throws {
        try runTool(verbose: output.verbose) {
            let object = try ProgramInput.open(program, compile: compile).load()
            var links: [BPFLink] = []
            var attached: [String] = []
            defer { detachReportingFailures(links) }
            for p in object.programs {
                let (link, place) = try Self.attach(p)
                links.append(link)
                attached.append(place)
            }
            // On stderr, also with --json: whoever drives the command waits for this line.
            StandardStreams.err("attached: " + attached.joined(separator: ", ") + "; Ctrl-C to end\n")
            _ = StopSignal.sleep(duration ?? 1e12)
            let maps = try object.maps.filter { !$0.name.contains(".") }.map { ($0.name, try Self.numbers(of: $0)) }
            if output.json {
                struct Report: Encodable { var attached: [String]; var maps: [String: [String: UInt64]] }
                TraceOutput.jsonLine(Report(attached: attached, maps: Dictionary(maps, uniquingKeysWith: { a, _ in a })))
            } else {
                for (name, entries) in maps {
                    TraceOutput.line("\(name):")
                    for (k, v) in entries.sorted(by: { $0.key < $1.key }) { TraceOutput.line("  \(k): \(v)") }
                }
            }
        }
    }

    /// The link for one program and where it went, from its section or its BCC-style name.
    static func attach(_ p: BPFProgram) throws -> (BPFLink, String) {
        let section = p.section, name = p.name
        func after(_ prefix: String) -> String? { section.hasPrefix(prefix) ? String(section.dropFirst(prefix.count)) : nil }
        if let target = after("kprobe/") ?? after("kretprobe/") {
            let retprobe = section.hasPrefix("kretprobe/")
            let parts = target.split(separator: "+", maxSplits: 1).map(String.init)
            var offset: UInt64 = 0
            if parts.count == 2 {
                guard let o = parts[1].hasPrefix("0x") ? UInt64(parts[1].dropFirst(2), radix: 16) : UInt64(parts[1]) else {
                    throw BPFError(.invalidArgument, operation: "trace run", subject: section, message: "the offset is not a number", hint: "kprobe/FUNC+OFFSET")
                }
                offset = o
            }
            let link = try p.attachKprobe(function: parts[0], offset: offset, retprobe: retprobe)
            return (link, "\(retprobe ? "kretprobe" : "kprobe"):\(target)")
        }
        if let glob = after("kprobe.multi/") ?? after("kretprobe.multi/") {
            return (try p.attachKprobeMulti(pattern: glob, retprobe: section.hasPrefix("kretprobe.")), section)
        }
        if let target = after("uprobe/") ?? after("uretprobe/"), let colon = target.lastIndex(of: ":") {
            let link = try p.attachUprobe(binary: String(target[..<colon]), symbol: String(target[target.index(after: colon)...]),
                                          retprobe: section.hasPrefix("uretprobe/"))
            return (link, section)
        }
        if section.hasPrefix("fentry/") || section.hasPrefix("fexit/") { return (try p.attachTrampoline(), section) }
        if let tp = after("tracepoint/") ?? after("tp/") {
            let parts = tp.split(separator: "/").map(String.init)
            guard parts.count == 2 else {
                throw BPFError(.invalidArgument, operation: "trace run", subject: section, message: "a tracepoint section is tracepoint/CATEGORY/EVENT")
            }
            return (try p.attachTracepoint(category: parts[0], name: parts[1], cookie: 0), "tracepoint:\(parts[0]):\(parts[1])")
        }
        if let event = after("raw_tp/") ?? after("raw_tracepoint/") { return (try p.attachRawTracepoint(event), section) }
        if name.hasPrefix("kprobe__") || name.hasPrefix("kretprobe__") {
            let retprobe = name.hasPrefix("kretprobe__")
            let function = String(name.dropFirst(retprobe ? 11 : 8))
            return (try p.attachKprobe(function: function, retprobe: retprobe), "\(retprobe ? "kretprobe" : "kprobe"):\(function)")
        }
        throw BPFError(.invalidArgument, operation: "trace run", subject: name, message: "section '\(section)' names no hook this command attaches",
                       hint: "kprobe/FUNC, kretprobe/FUNC, uprobe/BINARY:SYMBOL, fentry/FUNC, tracepoint/CAT/EVENT, ...")
    }

    /// A map's entries with key and value read as little-endian unsigned numbers (per-CPU values
    /// summed); keys or values wider than 8 bytes are left out.
    static func numbers(of map: BPFMap) throws -> [String: UInt64] {
        guard map.keySize <= 8, map.valueSize <= 8 else { return [:] }
        var out: [String: UInt64] = [:]
        // Per-CPU maps hold one 8-byte-aligned slot per possible CPU.
        let stride = map.valueBufferSize > map.valueSize ? map.valueBufferSize / max(1, map.possibleCPUs) : map.valueSize
        for entry in try map.dump(method: .perKey) {
            var value: UInt64 = 0
            var offset = 0
            while offset + map.valueSize <= entry.value.count {
                value &+= little(entry.value[offset..<offset + map.valueSize])
                offset += stride
            }
            out[String(little(entry.key[...]))] = value
        }
        return out
    }

    static func little(_ bytes: ArraySlice<UInt8>) -> UInt64 {
        bytes.reversed().reduce(0) { $0 << 8 | UInt64($1) }
    }
}
