import ArgumentParser
import NetBPF
import NetBPFTracing

struct TraceTcplife: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "tcplife", abstract: "Trace the lifespan of TCP sessions with bytes sent and received.")
    @Option(name: .customShort("p"), help: "Trace this process only.") var pid: UInt32?
    @Flag(name: .customShort("4"), help: "IPv4 only.") var ipv4 = false
    @Flag(name: .customShort("6"), help: "IPv6 only.") var ipv6 = false
    @Option(name: .customShort("L"), help: "Comma-separated local ports to trace.") var localPorts: String?
    @Option(name: .customShort("D"), help: "Comma-separated remote ports to trace.") var remotePorts: String?
    @Flag(name: .customShort("T"), help: "Include a time column (HH:MM:SS).") var time = false
    @Flag(name: .customShort("w"), help: "Wide columns (fit IPv6 addresses).") var wide = false
    @Option(name: .customShort("d"), help: "Trace for this many seconds, then exit.") var duration: Double?
    @OptionGroup var output: TraceOutputOptions

    func run() throws {
        try runTool(verbose: output.verbose) {
            var o = Tcplife.Options()
            o.pid = pid
            o.family = try family(ipv4: ipv4, ipv6: ipv6)
            o.localPorts = try localPorts.map(parsePorts) ?? []
            o.remotePorts = try remotePorts.map(parsePorts) ?? []
            o.time = time; o.wide = wide
            let session = try Tcplife.start(o)
            defer { closeReportingFailures(session) }
            if !output.json { TraceOutput.line(Tcplife.header(o)); TraceOutput.flush() }
            try session.runRing("events", duration: duration) { r in
                let e = Tcplife.decode(r)
                if output.json { TraceOutput.jsonLine(e) } else { TraceOutput.line(Tcplife.line(e, o)) }
            }
        }
    }
}
