import ArgumentParser
import NetBPF
import NetBPFTracing

struct TraceTcpretrans: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tcpretrans", abstract: "Trace TCP retransmits, with BCC's tcpretrans columns.",
        discussion: "Tracepoint tcp:tcp_retransmit_skb. BCC's -l (tail loss probes) needs a kprobe on tcp_send_loss_probe, which has no tracepoint: it is refused.")
    @Flag(name: [.customShort("s"), .customLong("sequence")], help: "Include the TCP sequence number.") var sequence = false
    @Flag(name: [.customShort("l"), .customLong("lossprobe")], help: "Include tail loss probe attempts (not available: needs a kprobe).") var lossprobe = false
    @Flag(name: [.customShort("c"), .customLong("count")], help: "Count retransmits per flow; print at the end.") var count = false
    @Flag(name: [.customShort("4"), .customLong("ipv4")], help: "IPv4 only.") var ipv4 = false
    @Flag(name: [.customShort("6"), .customLong("ipv6")], help: "IPv6 only.") var ipv6 = false
    @Option(name: .customShort("d"), help: "Trace for this many seconds, then exit.") var duration: Double?
    @OptionGroup var output: TraceOutputOptions

    func run() throws {
        try runTool(verbose: output.verbose) {
            if lossprobe {
                throw BPFError(.unsupported, operation: "tcpretrans", subject: "-l",
                               message: "tail loss probes have no tracepoint (BCC traces tcp_send_loss_probe with a kprobe)",
                               hint: "run without -l: retransmits after a loss probe are still reported")
            }
            var o = Tcpretrans.Options()
            o.family = try family(ipv4: ipv4, ipv6: ipv6)
            o.sequence = sequence; o.count = count
            let session = try Tcpretrans.start(o)
            defer { closeReportingFailures(session) }
            if !output.json { TraceOutput.line("Tracing retransmits ... Hit Ctrl-C to end"); TraceOutput.flush() }
            if count {
                _ = StopSignal.sleep(duration ?? 1e12)
                let rows = try Tcpretrans.counts(session)
                if output.json {
                    struct Report: Encodable { var counts: [Tcpretrans.Count] }
                    TraceOutput.jsonLine(Report(counts: rows))
                } else {
                    TraceOutput.write(Tcpretrans.format(rows))
                }
                return
            }
            if !output.json { TraceOutput.line(Tcpretrans.header(o)); TraceOutput.flush() }
            try session.runRing("events", duration: duration) { r in
                let e = Tcpretrans.decode(r)
                if output.json { TraceOutput.jsonLine(e) } else { TraceOutput.line(Tcpretrans.line(e, o)) }
            }
        }
    }
}
