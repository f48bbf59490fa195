import ArgumentParser
import Foundation
import Glibc
import NetBPF
import NetBPFControllers
import NetBPFTracing
import Synchronization

/// `netbpf drops [FILTER]`: who dropped my packet. Counts every packet the kernel drops
/// (skb:kfree_skb) by reason, kernel location, namespace/interface, protocol and addresses.
struct DropsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drops",
        abstract: "Count dropped packets by reason, kernel location, namespace/interface, protocol and addresses.",
        discussion: """
        Reasons are the kernel's enum skb_drop_reason, read from its BTF. FILTER is a pcap expression \
        (as tcpdump's, e.g. 'udp port 53'), compiled by libpcap and run in the kernel on each dropped packet. \
        A terminal shows a live table; otherwise the table (or --json) is printed at the end \
        (Ctrl-C, --seconds) and every --interval when one is given.
        """)

    @Option(help: "Stop after this many seconds.") var seconds: Double?
    @Option(help: "Report every this many seconds (default: 1 on a terminal, else only at the end).") var interval: Double?
    @Option(help: "Only drops in this namespace: a /run/netns name or a simulation host.") var netns: String?
    @Flag(help: "Keep source ports: one row per flow rather than per destination port.") var byFlow = false
    @Option(help: "Serve Prometheus metrics on ADDR:PORT at /metrics.") var listen: String?
    @OptionGroup var output: TraceOutputOptions
    @Argument(parsing: .remaining, help: "A pcap filter expression, e.g. 'udp and dst port 9'.") var filter: [String] = []

    func run() throws {
        try runTool(verbose: output.verbose) {
            if let s = seconds, !(s > 0) { throw BPFError(.invalidArgument, operation: "drops", subject: "--seconds", message: "must be more than 0") }
            if let i = interval, !(i > 0) { throw BPFError(.invalidArgument, operation: "drops", subject: "--interval", message: "must be more than 0") }
            var o = Drops.Options()
            o.netnsInode = try netns.map(DropsPlaces.inode(of:))
            o.filter = filter.isEmpty ? nil : filter.joined(separator: " ")
            o.byFlow = byFlow
            let metrics = Mutex<Data?>(nil)
            let server = try listen.map { address in
                try HTTPServer(listen: address) { request in
                    guard request.path == "/metrics" else {
                        return .body(status: 404, contentType: "text/plain; charset=utf-8", Data("netbpf drops serves /metrics\n".utf8))
                    }
                    guard let m = metrics.withLock({ $0 }) else {
                        return .body(status: 503, contentType: "text/plain; charset=utf-8", Data("no sample yet\n".utf8))
                    }
                    return .body(status: 200, contentType: DropsReport.prometheusContentType, m)
                }
            }
            let session = try Drops.start(o)
            defer { closeReportingFailures(session); server?.stop() }
            server?.start()

            let live = isatty(STDOUT_FILENO) == 1 && !output.json
            let every = interval ?? (live || server != nil ? 1 : nil)
            let ready = (server.map { "Prometheus metrics at \($0.url)/metrics\n" } ?? "")
                + "Tracing packet drops (skb:kfree_skb)\(o.filter.map { ", filter '\($0)'" } ?? "")... Hit Ctrl-C to end."
            if output.json { StandardStreams.err(ready + "\n") } else { TraceOutput.line(ready) }
            TraceOutput.flush()
            DropsReport.preloadSymbols()

            let start = Clock.monotonic()
            func report(final: Bool) {
                guard let table = try? Drops.snapshot(session) else { return }
                let rows = DropsReport.rows(table, names: DropsPlaces.scan())
                let c = Drops.counters(session)
                if server != nil { metrics.withLock { $0 = Data(DropsReport.prometheus(rows, tableFull: c.tableFull, seen: c.seen).utf8) } }
                guard final || interval != nil || live else { return }
                if output.json {
                    TraceOutput.jsonLine(DropsJSON(seconds: ((Clock.monotonic() - start) * 1000).rounded() / 1000, drops: rows, unrecorded: c.tableFull))
                } else {
                    if live { TraceOutput.write("\u{1b}[H\u{1b}[2J") }
                    TraceOutput.line("\(Clock.wallTime())  \(rows.reduce(0) { $0 + $1.packets }) drops\(c.tableFull > 0 ? ", \(c.tableFull) not recorded (table full)" : "")")
                    TraceOutput.line(DropsReport.header)
                    for r in rows { TraceOutput.line(DropsReport.line(r)) }
                    if !final || interval != nil { TraceOutput.line("") }
                }
                TraceOutput.flush()
            }
            while !StopSignal.requested {
                var step = every ?? 0.1
                if let seconds { step = min(step, seconds - (Clock.monotonic() - start)) }
                if step <= 0 { break }
                let finished = !StopSignal.sleep(step)
                if let seconds, Clock.monotonic() - start >= seconds { break }
                if finished { break }
                if every != nil { report(final: false) }
            }
            // A live table already shows the last state only if nothing changed since; print the end state once more.
            report(final: true)
        }
    }
}

/// `--json`: one object per report.
struct DropsJSON: Encodable {
    var seconds: Double
    var drops: [DropRow]
    /// Drops that found the kernel's table full.
    var unrecorded: UInt64
}

extension DropsCommand: TracingCommand {}
