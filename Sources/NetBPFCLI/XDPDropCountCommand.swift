import ArgumentParser
import Foundation
import Glibc
import NetBPF
import NetBPFControllers
import NetBPFNetlink

/// `netbpf xdp-drop-count IFACE`: BCC's xdp_drop_count.py. Drops every frame arriving on IFACE
/// and prints `PROTO: N pkt/s` each interval; detaches on SIGINT/SIGTERM or after --seconds and
/// prints the totals.
struct XDPDropCountCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "xdp-drop-count",
        abstract: "Drop every frame on an interface with XDP and print drops per IP protocol each second.")

    @Argument(help: "The interface.") var interface: String
    @Option(help: "generic (skb) or driver (native).") var mode: String = "generic"
    @Option(help: "The network namespace of the interface.") var netns: String?
    @Option(help: "Seconds between reports.") var interval: Double = 1
    @Option(help: "Stop after this many seconds.") var seconds: Double?
    @OptionGroup var output: OutputOptions

    func run() throws {
        try reportingErrors(verbose: output.verbose) {
            let xdpMode: XDPMode
            switch mode {
            case "generic", "skb": xdpMode = .generic
            case "driver", "native", "drv": xdpMode = .native
            default:
                StandardStreams.err("netbpf: --mode '\(mode)' is not an XDP mode; hint: generic or driver\n")
                throw ExitCode(1)
            }
            guard interval > 0, interval.isFinite else {
                StandardStreams.err("netbpf: --interval must be a positive number of seconds\n")
                throw ExitCode(1)
            }
            let stop = StopFlag.installed()
            let counter = try XDPDropCounter(interface: interface, namespace: netns, mode: xdpMode)
            defer { counter.stop() }
            let out = ReportWriter(json: false)
            out.write("Printing drops per IP protocol-number on \(interface) (\(xdpMode == .generic ? "generic" : "driver") mode), hit CTRL+C to stop\n")
            var last: [UInt8: UInt64] = [:]
            let deadline = seconds.map { Date().addingTimeInterval($0) }
            var next = Date().addingTimeInterval(interval)
            while !stop.isSet && !out.closed {
                let now = Date()
                if let deadline, now >= deadline { break }
                if now >= next {
                    let t = try counter.totals()
                    for (p, n) in t.sorted(by: { $0.key < $1.key }) where n > last[p, default: 0] {
                        out.write("\(p): \(Int((Double(n - last[p, default: 0]) / interval).rounded())) pkt/s\n")
                    }
                    last = t
                    next = next.addingTimeInterval(interval)
                    continue
                }
                usleep(UInt32(max(1_000, min(100_000, min(next, deadline ?? next).timeIntervalSince(now) * 1e6))))
            }
            let t = try counter.totals()
            out.write("Removing filter from device; total drops: " + (t.isEmpty ? "none" : t.sorted { $0.key < $1.key }.map { "proto \($0.key): \($0.value)" }.joined(separator: ", ")) + "\n")
            try out.finish("xdp-drop-count")
        }
    }
}
