import ArgumentParser
import NetBPFControllers

/// `netbpf xdp-drop-count IFACE`: BCC's xdp_drop_count.py. Drops every frame arriving on IFACE
/// and prints `PROTO: N pkt/s` each interval; detaches on SIGINT/SIGTERM/SIGHUP or after
/// --seconds and prints the totals (exit 1 with one line on stderr if a detach failed).
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
            let xdpMode = try XDPExample.mode(mode)
            try XDPExample.checkInterval(interval)
            try XDPExample.checkSeconds(seconds)
            let stop = StopFlag.installed()
            let counter = try XDPDropCounter(interface: interface, namespace: netns, mode: xdpMode)
            defer { counter.stop() } // on errors; a no-op after the stop below
            try XDPExample.printRates(
                command: "xdp-drop-count", header: "Printing drops per IP protocol-number on \(interface) (\(XDPExample.name(xdpMode)) mode), hit CTRL+C to stop",
                stop: stop, json: output.json, interval: interval, seconds: seconds, totals: counter.totals,
                footer: { t, _ in "Removing filter from device; total drops: " + XDPExample.list(t) })
            try XDPExample.finish(counter.stop())
        }
    }
}
