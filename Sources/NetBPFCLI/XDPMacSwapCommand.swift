import ArgumentParser
import NetBPFControllers

/// `netbpf xdp-macswap IFACE`: BCC's xdp_macswap_count.py. Sends every unicast UDP frame that
/// arrives on IFACE back out of it with the MACs swapped (XDP_TX), passes the rest, prints
/// `PROTO: N pkt/s` each interval for all frames; detaches on SIGINT/SIGTERM/SIGHUP or after
/// --seconds and prints the totals and how many were sent back.
struct XDPMacSwapCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "xdp-macswap",
        abstract: "Send every unicast UDP frame back where it came from with XDP_TX (MACs swapped) and print frames per IP protocol each second.")

    @Argument(help: "The interface.") var interface: String
    @Option(help: "generic (skb) or driver (native).") var mode: String = "generic"
    @Option(help: "The network namespace of the interface.") var netns: String?
    @OptionGroup var peer: XDPPeerOptions
    @Option(help: "Seconds between reports.") var interval: Double = 1
    @Option(help: "Stop after this many seconds.") var seconds: Double?
    @OptionGroup var output: OutputOptions

    func run() throws {
        try reportingErrors(verbose: output.verbose) {
            let xdpMode = try XDPExample.mode(mode)
            try XDPExample.checkInterval(interval)
            try XDPExample.checkSeconds(seconds)
            let passPeer = try peer.resolved(defaultNamespace: netns)
            let stop = StopFlag.installed()
            let swapper = try XDPMacSwapper(interface: interface, namespace: netns, mode: xdpMode, peer: passPeer)
            defer { swapper.stop() } // on errors; a no-op after the stop below
            XDPExample.warnAboutVethPeer(interface, namespace: netns, mode: xdpMode, peer: peer, role: "sends back")
            try XDPExample.printRates(
                command: "xdp-macswap",
                header: "Printing frames per IP protocol-number on \(interface) (\(XDPExample.name(xdpMode)) mode; unicast UDP is sent back with MACs swapped"
                    + (passPeer.map { ", XDP_PASS on \($0.interface)" } ?? "") + "), hit CTRL+C to stop",
                stop: stop, json: output.json, interval: interval, seconds: seconds, totals: swapper.totals,
                extras: { [("sentBack", try swapper.sentBack())] },
                footer: { t, extra in "Removing filter from device; total frames: " + XDPExample.list(t) + "; sent back: \(extra["sentBack"] ?? 0)" })
            try XDPExample.finish(swapper.stop())
        }
    }
}
