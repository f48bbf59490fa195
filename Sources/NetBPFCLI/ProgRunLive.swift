import ArgumentParser
import Foundation
import Glibc
import NetBPF
import NetBPFNetlink

/// `prog run --live IFACE`: a program as a traffic generator, paced to a rate: an XDP program in
/// live-frames mode (BPF_F_TEST_XDP_LIVE_FRAMES, Linux 5.18), or a tc program that sends its
/// frames with bpf_clone_redirect where the kernel refuses live frames; see docs/loader.md, "Live frames".
struct LiveFrameOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Traffic generator: send --repeat copies of the packet into IFACE. An XDP program runs in live-frames mode (Linux 5.18): each frame acts on its verdict as if it arrived on IFACE (XDP_PASS: into IFACE's receive path, tc ingress and packet sockets included; XDP_TX: out of IFACE). A tc program runs in a plain test run with IFACE as its skb's interface and sends --burst frames per run itself with bpf_clone_redirect (programs/tc_udp_gen.bpf.c), for kernels that refuse live frames.", valueName: "IFACE"))
    var live: String?
    @Option(name: .long, help: ArgumentHelp("With --live: the network namespace IFACE is in (a /run/netns name).", valueName: "NS"))
    var netns: String?
    @Option(name: .long, help: ArgumentHelp("With --live: frames per second to hold (default: as fast as the kernel runs them).", valueName: "PPS"))
    var rate: Double?
    @Option(name: .long, help: ArgumentHelp("With --live: stop after this long (with --repeat: whichever comes first).", valueName: "S"))
    var seconds: Double?
    @Option(name: .long, help: ArgumentHelp("With --live and an XDP program: frames per kernel batch, 1-256 (default: the kernel's 64).", valueName: "N"))
    var batchSize: UInt32?
    @Option(name: .long, help: ArgumentHelp("With --live and a tc program: frames it sends per run (in __sk_buff.cb[0]), 1-256 (default 32).", valueName: "N"))
    var burst: UInt32?

    /// Live-only options without --live, and values out of range, are refused before anything is loaded.
    func validate(repeat count: Int?) throws {
        func refuse(_ message: String, hint: String? = nil) -> BPFError {
            BPFError(.invalidArgument, operation: "prog run", message: message, hint: hint)
        }
        guard live != nil else {
            if netns != nil || rate != nil || seconds != nil || batchSize != nil || burst != nil {
                throw refuse("--netns, --rate, --seconds, --batch-size and --burst go with --live IFACE")
            }
            return
        }
        if let count, count < 1 { throw refuse("--repeat must be at least 1") }
        if let rate, !(rate > 0 && rate <= 1e9) { throw refuse("--rate must be more than 0 and at most 1e9 frames per second") }
        if let seconds, !(seconds > 0 && seconds.isFinite) { throw refuse("--seconds must be positive") }
        if let batchSize, !(1...256).contains(batchSize) { throw refuse("--batch-size must be 1-256", hint: "the kernel's limit (TEST_XDP_MAX_BATCH)") }
        if let burst, !(1...256).contains(burst) { throw refuse("--burst must be 1-256") }
    }

    /// IFACE's index in NS (or in our namespace); one clear error when either is missing.
    func ifindex(_ name: String) throws -> Int32 {
        guard let ns = netns else {
            let i = Int32(bitPattern: if_nametoindex(name))
            guard i != 0 else {
                throw BPFError(.notFound, operation: "prog run --live", subject: name, message: "no interface '\(name)' in this network namespace",
                               hint: "list them with `ip link`; for another namespace add --netns NS")
            }
            return i
        }
        guard NetworkNamespace.exists(ns) else {
            throw BPFError(.notFound, operation: "prog run --live", subject: ns, message: "no network namespace '\(ns)'", hint: "list them with `ip netns list`")
        }
        let i = try withNamespace(ns) { Int32(bitPattern: if_nametoindex(name)) }
        guard i != 0 else {
            throw BPFError(.notFound, operation: "prog run --live", subject: name, message: "no interface '\(name)' in network namespace \(ns)",
                           hint: "list them with `ip -n \(ns) link`")
        }
        return i
    }
}

extension ProgCommand.Run {
    /// Sends the frame through `prog` in live-frames mode and prints what was sent.
    func runLive(_ prog: BPFProgram, name: String, frame: [UInt8], interface: String) throws {
        guard prog.type == .xdp || prog.type == .schedCls else {
            throw BPFError(.invalidArgument, operation: "prog run --live", subject: name,
                           message: "a generator is an XDP program (live frames) or a tc program that sends with bpf_clone_redirect; \(name) is \(prog.type)",
                           hint: "see programs/xdp_udp_gen.bpf.c and programs/tc_udp_gen.bpf.c")
        }
        let ifindex = try live.ifindex(interface)
        let total = self.repeat.map(UInt64.init) ?? (live.seconds == nil ? 1 : nil)
        let plan = LiveTrafficPlan(frame: frame, ifindex: ifindex, total: total, rate: live.rate, seconds: live.seconds,
                                   batchSize: live.batchSize ?? 0, burst: live.burst ?? 32)
        let stop = StopFlag.installed()
        let report: LiveTrafficReport
        if let ns = live.netns {
            report = try withNamespace(ns) { try prog.generate(plan) { stop.isSet } }
        } else {
            report = try prog.generate(plan) { stop.isSet }
        }
        if output.json {
            struct Out: Encodable {
                let program: String, interface: String, netns: String?, askedRate: Double?
                let report: LiveTrafficReport
            }
            try printJSON(Out(program: name, interface: interface, netns: live.netns, askedRate: live.rate, report: report))
            return
        }
        let place = live.netns.map { "\($0)/\(interface)" } ?? interface
        let asked = live.rate.map { String(format: " (asked %.0f)", $0) } ?? ""
        let perFrame = report.frames > 0 ? report.cpuSeconds * 1e9 / Double(report.frames) : 0
        let f = { (format: String, value: Double) in String(format: format, value) }
        print("program \(name): \(report.frames) frames into \(place) in \(f("%.3f", report.seconds)) s: \(f("%.0f", report.rate)) frames/s\(asked); "
              + "\(report.calls) test runs, CPU \(f("%.3f", report.cpuSeconds)) s (\(f("%.0f", perFrame)) ns per frame)\(report.failed > 0 ? "; \(report.failed) not sent" : "")\(report.interrupted ? "; interrupted" : "")")
    }
}
