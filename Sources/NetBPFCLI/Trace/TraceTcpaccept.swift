import ArgumentParser
import NetBPF
import NetBPFTracing

struct TraceTcpaccept: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tcpaccept", abstract: "Trace TCP connections accepted by processes (accept()), with BCC's tcpaccept columns.",
        discussion: "Tracepoints only (syscalls:sys_exit_accept, sys_exit_accept4). BCC's --cgroupmap/--mntnsmap are not offered.")
    @Flag(name: [.customShort("T"), .customLong("time")], help: "Include a time column (HH:MM:SS).") var time = false
    @Flag(name: [.customShort("t"), .customLong("timestamp")], help: "Include a timestamp column (seconds since the first accept).") var timestamp = false
    @Option(name: [.customShort("p"), .customLong("pid")], help: "Trace this process only.") var pid: UInt32?
    @Option(name: [.customShort("P"), .customLong("port")], help: "Comma-separated local ports to trace.") var ports: String?
    @Flag(name: [.customShort("4"), .customLong("ipv4")], help: "IPv4 only.") var ipv4 = false
    @Flag(name: [.customShort("6"), .customLong("ipv6")], help: "IPv6 only.") var ipv6 = false
    @Option(name: .customShort("d"), help: "Trace for this many seconds, then exit.") var duration: Double?
    @OptionGroup var output: TraceOutputOptions

    func run() throws {
        try runTool(verbose: output.verbose) {
            var o = Tcpaccept.Options()
            o.pid = pid
            o.family = try family(ipv4: ipv4, ipv6: ipv6)
            o.ports = try ports.map(parsePorts) ?? []
            o.time = time; o.timestamp = timestamp
            let session = try Tcpaccept.start(o)
            defer { closeReportingFailures(session) }
            if !output.json { TraceOutput.line(Tcpaccept.header(o)); TraceOutput.flush() }
            var start: UInt64?
            try session.runRing("events", duration: duration) { r in
                let e = Tcpaccept.decode(r)
                if start == nil { start = e.timestampNs }
                if output.json { TraceOutput.jsonLine(e) } else { TraceOutput.line(Tcpaccept.line(e, o, startNs: start ?? 0)) }
            }
        }
    }
}
