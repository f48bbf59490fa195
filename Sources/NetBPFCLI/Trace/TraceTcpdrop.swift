import ArgumentParser
import NetBPF
import NetBPFTracing

struct TraceTcpdrop: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tcpdrop", abstract: "Trace TCP segments the kernel drops, with BCC's tcpdrop columns and kernel stacks.",
        discussion: "Tracepoint skb:kfree_skb (Linux 5.17+, for its drop reason); --json adds the reason and location. Unlike BCC, drops of segments without a socket (NO_SOCKET) are shown too, with state '-'. netbpf drops counts every drop by reason.")
    @Flag(name: [.customShort("4"), .customLong("ipv4")], help: "IPv4 only.") var ipv4 = false
    @Flag(name: [.customShort("6"), .customLong("ipv6")], help: "IPv6 only.") var ipv6 = false
    @Flag(name: .customLong("no-stack"), help: "Do not print kernel stacks.") var noStack = false
    @Option(name: .customShort("d"), help: "Trace for this many seconds, then exit.") var duration: Double?
    @OptionGroup var output: TraceOutputOptions

    func run() throws {
        try runTool(verbose: output.verbose) {
            var o = Tcpdrop.Options()
            o.family = try family(ipv4: ipv4, ipv6: ipv6)
            o.stacks = !noStack
            let session = try Tcpdrop.start(o)
            defer { closeReportingFailures(session) }
            let decoder = Tcpdrop.Decoder(session)
            if !output.json { TraceOutput.line(Tcpdrop.header()); TraceOutput.flush() }
            try session.runRing("events", duration: duration) { r in
                let e = decoder.decode(r)
                if output.json { TraceOutput.jsonLine(e) } else { TraceOutput.write(Tcpdrop.text(e)) }
            }
        }
    }
}
