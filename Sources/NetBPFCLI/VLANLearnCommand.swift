import ArgumentParser
import Foundation
import Glibc
import NetBPF
import NetBPFAttach
import NetBPFControllers
import Synchronization

/// `netbpf vlan-learn`: BCC's vlan_learning, done right. Attaches programs/vlan_learning.bpf.c to
/// a trunk and to the worker interfaces, maps client MACs to workers, reports each interval and
/// detaches everything on SIGINT, SIGTERM or SIGHUP (or after --seconds).
struct VLANLearnCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vlan-learn",
        abstract: "Demultiplex a VLAN trunk to workers by client MAC, learning each client's VLAN.",
        discussion: """
        Frames arriving tagged on the trunk from a mapped client MAC teach netbpf the client's VLAN, \
        lose their tag and go to the client's worker interface; the worker's frames to that client get \
        the tag back and go out of the trunk. Untagged frames and unknown MACs are dropped and counted. \
        Each interval prints per client MAC the learned VLAN and rx/tx packets and bytes, and the MACs \
        that were not forwarded. The config file format and examples are in docs/vlan-learning.md.
        """)

    @Option(help: "The interface carrying the 802.1Q-tagged frames of the clients.") var trunk: String?
    @Option(name: .customLong("map"), help: ArgumentHelp("Client MAC and the worker interface its frames go to (repeat).", valueName: "MAC=WORKER_IFACE"))
    var maps: [String] = []
    @Option(help: "A YAML config with trunk, netns and clients (instead of --trunk/--map).") var config: String?
    @Option(help: "The network namespace of the trunk and worker interfaces (overrides the config's).") var netns: String?
    @Option(help: "Seconds between reports.") var interval: Double = 1
    @Option(help: "Stop after this many seconds.") var seconds: Double?
    @OptionGroup var output: OutputOptions

    func run() throws {
        try reportingErrors(verbose: output.verbose) { try learn() }
    }

    func learn() throws {
        guard interval > 0, interval.isFinite else { throw ControllerError("--interval \(interval) must be a positive number of seconds") }
        if let s = seconds, !(s >= 0 && s.isFinite) { throw ControllerError("--seconds \(s) must be a number of seconds") }
        var cfg: VLANLearningConfig
        if let config {
            if trunk != nil || !maps.isEmpty { throw ControllerError("--config '\(config)' and --trunk/--map: give one or the other") }
            cfg = try VLANLearningConfig.load(path: config)
            if let netns { cfg.namespace = netns }
        } else {
            cfg = try VLANLearningConfig.fromArguments(trunk: trunk, maps: maps, namespace: netns)
        }
        let stop = StopFlag.installed()
        _ = VLANLearnCommand.hangup.load(ordering: .relaxed)
        signal(SIGHUP) { _ in VLANLearnCommand.hangup.store(true, ordering: .relaxed) }
        // A parent may have started us with these blocked (the mask survives exec): then the
        // handlers would never run and nothing would be detached.
        var unblock = sigset_t()
        sigemptyset(&unblock)
        for s in [SIGINT, SIGTERM, SIGHUP] { sigaddset(&unblock, s) }
        pthread_sigmask(SIG_UNBLOCK, &unblock, nil)
        let learner = try VLANLearner.start(cfg)
        defer { learner.stop() }
        let out = ReportWriter(json: output.json)
        if !output.json {
            let place = cfg.namespace.map { " (netns \($0))" } ?? ""
            out.write("learning on trunk \(cfg.trunk)\(place): " + cfg.clients.map { "\($0.mac) -> \($0.worker)" }.joined(separator: ", ")
                      + "; a report every \(formatSeconds(interval)) s; Ctrl-C to stop\n")
        }
        let started = Date()
        let deadline = seconds.map { started.addingTimeInterval($0) }
        var next = started.addingTimeInterval(interval)
        func stopping() -> Bool { stop.isSet || VLANLearnCommand.hangup.load(ordering: .relaxed) || out.closed }
        while !stopping() {
            let now = Date()
            if let deadline, now >= deadline { break }
            if now >= next {
                out.write(try learner.report(at: now))
                next = next.addingTimeInterval(interval)
                if next < now { next = now.addingTimeInterval(interval) }
                continue
            }
            let wake = min(next, deadline ?? next)
            usleep(UInt32(max(1_000, min(100_000, wake.timeIntervalSince(now) * 1e6))))
        }
        // The final counters, then the defer detaches everything.
        if !out.closed { out.write(try learner.report(), final: true) }
        try out.finish("vlan-learn")
    }

    /// Set by the SIGHUP handler (a lock-free atomic store is async-signal-safe).
    static let hangup = Atomic<Bool>(false)
}

private func formatSeconds(_ s: Double) -> String { s == s.rounded() ? String(Int(s)) : String(s) }
