import ArgumentParser
import NetBPF
import NetBPFTracing

struct TraceTcprtt: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tcprtt", abstract: "Summarize TCP round-trip times (smoothed RTT) as histograms, as libbpf-tools' tcprtt.",
        discussion: "Tracepoint tcp:tcp_probe (fires in tcp_rcv_established, where BCC and libbpf-tools read srtt).")
    @Option(name: [.customShort("i"), .customLong("interval")], help: "Print a summary every this many seconds.") var interval: Int?
    @Option(name: [.customShort("d"), .customLong("duration")], help: "Total duration in seconds.") var duration: Int?
    @Flag(name: [.customShort("T"), .customLong("timestamp")], help: "Include a timestamp with each summary.") var timestamp = false
    @Flag(name: [.customShort("m"), .customLong("millisecond")], help: "Millisecond histogram.") var milliseconds = false
    @Option(name: [.customShort("p"), .customLong("lport")], help: "Only this local port.") var lport: UInt16?
    @Option(name: [.customShort("P"), .customLong("rport")], help: "Only this remote port.") var rport: UInt16?
    @Option(name: [.customShort("a"), .customLong("laddr")], help: "Only this local address.") var laddr: String?
    @Option(name: [.customShort("A"), .customLong("raddr")], help: "Only this remote address.") var raddr: String?
    @Flag(name: [.customShort("b"), .customLong("byladdr")], help: "A histogram per local address.") var byLocal = false
    @Flag(name: [.customShort("B"), .customLong("byraddr")], help: "A histogram per remote address.") var byRemote = false
    @Flag(name: [.customShort("e"), .customLong("extension")], help: "Show the average with each histogram.") var extended = false
    @OptionGroup var output: TraceOutputOptions

    func run() throws {
        try runTool(verbose: output.verbose) {
            var o = Tcprtt.Options()
            o.localPort = lport; o.remotePort = rport; o.localAddress = laddr; o.remoteAddress = raddr
            o.byLocalAddress = byLocal; o.byRemoteAddress = byRemote; o.extended = extended
            o.milliseconds = milliseconds; o.timestamp = timestamp
            let session = try Tcprtt.start(o)
            defer { closeReportingFailures(session) }
            if !output.json { TraceOutput.line(Tcprtt.banner(duration: duration)); TraceOutput.flush() }
            try runIntervals(interval: interval ?? duration, count: interval == nil && duration != nil ? 1 : nil, duration: duration) {
                let entries = try Tcprtt.collect(session, o)
                if output.json {
                    struct Report: Encodable { var time: String; var histograms: [Tcprtt.Entry] }
                    TraceOutput.jsonLine(Report(time: Clock.wallTime(), histograms: entries))
                } else {
                    TraceOutput.line("")
                    if timestamp { TraceOutput.line(pad8(Clock.wallTime())) }
                    TraceOutput.write(Tcprtt.format(entries, o))
                }
                TraceOutput.flush()
            }
        }
    }

    private func pad8(_ s: String) -> String { s.count >= 8 ? s : s + String(repeating: " ", count: 8 - s.count) }
}
