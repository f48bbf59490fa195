import ArgumentParser
import NetBPFControllers

/// `netbpf xdp-redirect IN OUT`: BCC's xdp_redirect_map.py. Every frame arriving on IN leaves
/// through OUT (a devmap redirect); prints `PROTO: N pkt/s` of the redirected frames each
/// interval; detaches everything on SIGINT/SIGTERM/SIGHUP or after --seconds and prints the
/// totals, and how many frames could not be redirected (OUT gone from the devmap).
struct XDPRedirectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "xdp-redirect",
        abstract: "Redirect every frame from one interface out of another with an XDP devmap and print frames per IP protocol each second.")

    @Argument(help: "The interface frames arrive on.") var input: String
    @Argument(help: "The interface they leave by (same namespace).") var output: String
    @Option(help: "generic (skb) or driver (native).") var mode: String = "generic"
    @Option(help: "The network namespace of both interfaces.") var netns: String?
    @OptionGroup var peer: XDPPeerOptions
    @Option(help: "Seconds between reports.") var interval: Double = 1
    @Option(help: "Stop after this many seconds.") var seconds: Double?
    @OptionGroup var outputOptions: OutputOptions

    func run() throws {
        try reportingErrors(verbose: outputOptions.verbose) {
            let xdpMode = try XDPExample.mode(mode)
            try XDPExample.checkInterval(interval)
            try XDPExample.checkSeconds(seconds)
            let passPeer = try peer.resolved(defaultNamespace: netns)
            let stop = StopFlag.installed()
            let redirector = try XDPRedirector(input: input, output: output, namespace: netns, mode: xdpMode, peer: passPeer)
            defer { redirector.stop() } // on errors; a no-op after the stop below
            XDPExample.warnAboutVethPeer(output, namespace: netns, mode: xdpMode, peer: peer, role: "transmits")
            try XDPExample.printRates(
                command: "xdp-redirect",
                header: "Redirecting \(input) -> \(output) (\(XDPExample.name(xdpMode)) mode"
                    + (passPeer.map { ", XDP_PASS on \($0.interface)" } ?? "") + "), printing redirected frames per IP protocol-number, hit CTRL+C to stop",
                stop: stop, json: outputOptions.json, interval: interval, seconds: seconds, totals: redirector.totals,
                extras: { [("notRedirected", try redirector.notRedirected())] },
                footer: { t, extra in "Removing filters from devices; total redirected: " + XDPExample.list(t) + "; not redirected: \(extra["notRedirected"] ?? 0)" })
            try XDPExample.finish(redirector.stop())
        }
    }
}
