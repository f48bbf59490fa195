import ArgumentParser
import NetBPF
import NetBPFTracing

struct TraceTcpstates: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "tcpstates", abstract: "Trace TCP state changes and the time spent in each state.")
    @Flag(name: .customShort("4"), help: "IPv4 only.") var ipv4 = false
    @Flag(name: .customShort("6"), help: "IPv6 only.") var ipv6 = false
    @Option(name: .customShort("L"), help: "Comma-separated local ports to trace.") var localPorts: String?
    @Option(name: .customShort("D"), help: "Comma-separated remote ports to trace.") var remotePorts: String?
    @Flag(name: .customShort("T"), help: "Include a timestamp column.") var timestamp = false
    @Flag(name: .customShort("w"), help: "Wide columns (fit IPv6 addresses).") var wide = false
    @Option(name: .customShort("d"), help: "Trace for this many seconds, then exit.") var duration: Double?
    @OptionGroup var output: TraceOutputOptions

    func run() throws {
        try runTool(verbose: output.verbose) {
            var o = Tcpstates.Options()
            o.family = try family(ipv4: ipv4, ipv6: ipv6)
            o.localPorts = try localPorts.map(parsePorts) ?? []
            o.remotePorts = try remotePorts.map(parsePorts) ?? []
            o.timestamp = timestamp; o.wide = wide
            let session = try Tcpstates.start(o)
            defer { closeReportingFailures(session) }
            if !output.json { TraceOutput.line(Tcpstates.header(o)); TraceOutput.flush() }
            let start = Clock.bootNanoseconds()
            try session.runRing("events", duration: duration) { r in
                let e = Tcpstates.decode(r)
                if output.json { TraceOutput.jsonLine(e) } else { TraceOutput.line(Tcpstates.line(e, o, startNs: start)) }
            }
        }
    }
}
