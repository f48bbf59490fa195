import ArgumentParser
import Foundation
import Glibc
import NetBPF
import NetBPFTracing

/// `netbpf trace TOOL ...`: the tracing tools of Tools/, with the options of their BCC and
/// libbpf-tools namesakes plus --json.
struct TraceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trace",
        abstract: "Tracing tools: execsnoop, opensnoop, exitsnoop, killsnoop, syscount, runqlat, tcpstates, tcplife, tcpconnect, tcpaccept, tcpretrans, tcpreset, tcpdrop, tcprtt, sofdsnoop, biolatency, bitesize, funccount, tplist, bps, trace, packet.",
        subcommands: [TraceExecsnoop.self, TraceOpensnoop.self, TraceExitsnoop.self, TraceKillsnoop.self, TraceSyscount.self,
                      TraceRunqlat.self, TraceTcpstates.self, TraceTcplife.self, TraceTcpconnect.self, TraceTcpaccept.self, TraceTcpretrans.self, TraceTcpreset.self, TraceTcpdrop.self, TraceTcprtt.self, TraceSofdsnoop.self, TraceBiolatency.self, TraceBitesize.self,
                      TraceFunccount.self, TraceTplist.self, TraceBps.self, TraceTrace.self, TraceRun.self,
                      TracePacket.self])
}

/// Options shared by the tracing tools.
struct TraceOutputOptions: ParsableArguments {
    @Flag(help: "Print one JSON object per event (or per interval) instead of columns.")
    var json = false

    @Flag(name: .long, help: "Print libbpf's messages and whole verifier logs.")
    var verbose = false
}

enum TraceOutput {
    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }()

    /// One compact JSON object on its own line.
    static func jsonLine<T: Encodable>(_ value: T) {
        guard let data = try? encoder.encode(value) else { return }
        data.withUnsafeBytes { _ = fwrite($0.baseAddress, 1, $0.count, StandardStreams.cOut) }
        fputc(0x0a, StandardStreams.cOut)
    }

    static func line(_ text: String) {
        fputs(text, StandardStreams.cOut)
        fputc(0x0a, StandardStreams.cOut)
    }

    static func write(_ text: String) { fputs(text, StandardStreams.cOut) }

    static func flush() { fflush(StandardStreams.cOut) }
}

/// The interval/count loop of histogram tools (runqlat, biolatency, syscount, funccount):
/// without an interval, one report at Ctrl-C; with one, a report every `interval` seconds,
/// `count` times. Returns when done or stopped.
func runIntervals(interval: Int?, count: Int?, duration: Int? = nil, report: () throws -> Void) throws {
    if let i = interval, i <= 0 { throw BPFError(.invalidArgument, operation: "trace", subject: "interval", message: "must be at least 1 second") }
    if let c = count, c <= 0 { throw BPFError(.invalidArgument, operation: "trace", subject: "count", message: "must be at least 1") }
    guard let interval else {
        _ = StopSignal.sleep(duration.map(Double.init) ?? 1e12)
        try report()
        return
    }
    var done = 0
    var elapsed = 0
    while true {
        let completed = StopSignal.sleep(Double(interval))
        try report()
        done += 1
        elapsed += interval
        if !completed { return }
        if let count, done >= count { return }
        if let duration, elapsed >= duration { return }
    }
}

/// Runs a tool body with the stop signals installed and errors reported as one line.
func runTool(verbose: Bool, _ body: () throws -> Void) throws {
    StopSignal.install()
    StartupPages.drop()
    try reportingErrors(verbose: verbose) {
        try body()
        TraceOutput.flush()
    }
}

/// Parses "ipv4"/"ipv6" flags into an address family.
func family(ipv4: Bool, ipv6: Bool) throws -> UInt16? {
    if ipv4 && ipv6 { throw BPFError(.invalidArgument, operation: "trace", message: "give -4 or -6, not both") }
    return ipv4 ? 2 : ipv6 ? 10 : nil
}

/// The syscall probes of execsnoop/opensnoop: `--kprobe`, else the tracepoints, else (on a
/// kernel without syscall tracepoints) kprobes with a note on stderr saying so.
func syscallProbes(kprobe: Bool, tool: String, syscall: String) throws -> SyscallProbes.Request {
    let (mode, note) = try SyscallProbes.resolve(kprobe ? .kprobe : .automatic, tool: tool, syscall: syscall)
    if let note { StandardStreams.err(note + "\n") }
    return mode == .kprobe ? .kprobe : .tracepoint
}
