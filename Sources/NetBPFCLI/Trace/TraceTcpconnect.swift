import ArgumentParser
import NetBPF
import NetBPFTracing

struct TraceTcpconnect: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tcpconnect", abstract: "Trace active TCP connects (connect()), with BCC's tcpconnect columns.",
        discussion: "Tracepoints only (sock:inet_sock_set_state, syscalls:sys_exit_connect, tcp:tcp_retransmit_skb). BCC's -d (DNS) and --cgroupmap/--mntnsmap are not offered; the duration is --duration because BCC's -d is DNS.")
    @Flag(name: [.customShort("t"), .customLong("timestamp")], help: "Include a timestamp column (seconds since the first connect).") var timestamp = false
    @Option(name: [.customShort("p"), .customLong("pid")], help: "Trace this process only.") var pid: UInt32?
    @Option(name: [.customShort("P"), .customLong("port")], help: "Comma-separated destination ports to trace.") var ports: String?
    @Flag(name: [.customShort("4"), .customLong("ipv4")], help: "IPv4 only.") var ipv4 = false
    @Flag(name: [.customShort("6"), .customLong("ipv6")], help: "IPv6 only.") var ipv6 = false
    @Flag(name: [.customShort("L"), .customLong("lport")], help: "Include an LPORT column.") var lport = false
    @Flag(name: [.customShort("U"), .customLong("print-uid")], help: "Include a UID column.") var printUID = false
    @Option(name: [.customShort("u"), .customLong("uid")], help: "Trace this UID only.") var uid: UInt32?
    @Flag(name: [.customShort("c"), .customLong("count")], help: "Count connects per source, destination and port; print at the end.") var count = false
    @Option(name: .customLong("duration"), help: "Trace for this many seconds, then exit.") var duration: Double?
    @OptionGroup var output: TraceOutputOptions

    func run() throws {
        try runTool(verbose: output.verbose) {
            var o = Tcpconnect.Options()
            o.pid = pid; o.uid = uid
            o.family = try family(ipv4: ipv4, ipv6: ipv6)
            o.ports = try ports.map(parsePorts) ?? []
            o.timestamp = timestamp; o.printUID = printUID; o.localPort = lport; o.count = count
            let session = try Tcpconnect.start(o)
            defer { closeReportingFailures(session) }
            if count {
                if !output.json { TraceOutput.line("Tracing connect ... Hit Ctrl-C to end"); TraceOutput.flush() }
                _ = StopSignal.sleep(duration ?? 1e12)
                let rows = try Tcpconnect.counts(session)
                if output.json {
                    struct Report: Encodable { var counts: [Tcpconnect.Count] }
                    TraceOutput.jsonLine(Report(counts: rows))
                } else {
                    TraceOutput.write(Tcpconnect.format(rows))
                }
                return
            }
            if !output.json { TraceOutput.line(Tcpconnect.header(o)); TraceOutput.flush() }
            var start: UInt64?
            try session.runRing("events", duration: duration) { r in
                let e = Tcpconnect.decode(r)
                if start == nil { start = e.timestampNs }
                if output.json { TraceOutput.jsonLine(e) } else { TraceOutput.line(Tcpconnect.line(e, o, startNs: start ?? 0)) }
            }
        }
    }
}
