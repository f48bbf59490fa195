import ArgumentParser
import NetBPF
import NetBPFTracing

struct TraceTcpreset: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tcpreset", abstract: "Trace TCP resets sent and received, with the socket state and the kernel's reason.",
        discussion: "Tracepoints tcp:tcp_send_reset and tcp:tcp_receive_reset. REASON (enum sk_rst_reason, from the kernel's BTF) needs Linux 6.10.")
    @Flag(name: [.customShort("4"), .customLong("ipv4")], help: "IPv4 only.") var ipv4 = false
    @Flag(name: [.customShort("6"), .customLong("ipv6")], help: "IPv6 only.") var ipv6 = false
    @Option(name: .customShort("L"), help: "Comma-separated local ports to trace.") var localPorts: String?
    @Option(name: .customShort("D"), help: "Comma-separated remote ports to trace.") var remotePorts: String?
    @Flag(name: [.customShort("s"), .customLong("sent")], help: "Only resets this host sends.") var sentOnly = false
    @Flag(name: [.customShort("r"), .customLong("received")], help: "Only resets this host receives.") var receivedOnly = false
    @Option(name: .customShort("d"), help: "Trace for this many seconds, then exit.") var duration: Double?
    @OptionGroup var output: TraceOutputOptions

    func run() throws {
        try runTool(verbose: output.verbose) {
            var o = Tcpreset.Options()
            o.family = try family(ipv4: ipv4, ipv6: ipv6)
            o.localPorts = try localPorts.map(parsePorts) ?? []
            o.remotePorts = try remotePorts.map(parsePorts) ?? []
            if sentOnly && receivedOnly { throw BPFError(.invalidArgument, operation: "tcpreset", message: "give --sent or --received, not both") }
            o.sent = !receivedOnly; o.received = !sentOnly
            let session = try Tcpreset.start(o)
            defer { closeReportingFailures(session) }
            if !output.json { TraceOutput.line(Tcpreset.header()); TraceOutput.flush() }
            try session.runRing("events", duration: duration) { r in
                let e = Tcpreset.decode(r)
                if output.json { TraceOutput.jsonLine(e) } else { TraceOutput.line(Tcpreset.line(e)) }
            }
        }
    }
}
