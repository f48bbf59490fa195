import ArgumentParser
import Foundation
import Glibc
import NetBPF
import NetBPFControllers
import Synchronization

/// `netbpf bridge`: BCC's distributed_bridge. A VXLAN device in external mode and tc programs
/// bridge tenant ports across hosts, one VNI per port; reports the learned table each interval
/// and undoes everything on SIGINT, SIGTERM or SIGHUP (or after --seconds).
struct BridgeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bridge",
        abstract: "Bridge tenant ports across hosts over VXLAN, learning MAC -> (VNI, remote) in BPF.",
        discussion: """
        Frames from the tunnel teach netbpf behind which remote host each MAC lives (per VNI) and go \
        to the VNI's tenant port; frames from a tenant port go to the remote of their destination MAC, \
        or, when broadcast or not learned yet, to the multicast group (default 239.1.1.1) or to every \
        --mesh remote. The VXLAN device (--vxlan, default vxlan0) is created in external mode unless \
        it exists; then it must be external. Each interval prints the learned table (MAC, VNI, remote, \
        rx/tx packets) and per-VNI counters. See docs/bridge.md.
        """)

    @Option(help: "The interface that carries the tunnel; its IPv4 address is the local VTEP.") var underlay: String?
    @Option(name: .customLong("vni"), help: ArgumentHelp("A VNI and the tenant port its frames are delivered to (repeat).", valueName: "VNI=TENANT_IFACE"))
    var vnis: [String] = []
    @Option(parsing: .upToNextOption, help: ArgumentHelp("Mesh mode: flood to each of these remote underlay addresses.", valueName: "REMOTE"))
    var mesh: [String] = []
    @Option(help: "Multicast mode: the group flooded frames go to (default 239.1.1.1).") var group: String?
    @Option(help: "The VXLAN device (created in external mode if missing).") var vxlan: String?
    @Option(help: "The network namespace of the interfaces.") var netns: String?
    @Option(help: "Seconds between reports.") var interval: Double = 1
    @Option(help: "Stop after this many seconds.") var seconds: Double?
    @OptionGroup var output: OutputOptions

    func run() throws {
        try reportingErrors(verbose: output.verbose) { try bridge() }
    }

    func bridge() throws {
        guard interval > 0, interval.isFinite else { throw ControllerError("--interval \(interval) must be a positive number of seconds") }
        if let s = seconds, !(s >= 0 && s.isFinite) { throw ControllerError("--seconds \(s) must be a number of seconds") }
        let cfg = try BridgeConfig.fromArguments(underlay: underlay, vnis: vnis, mesh: mesh, group: group, vxlan: vxlan, namespace: netns)
        let stop = StopFlag.installed()
        _ = BridgeCommand.hangup.load(ordering: .relaxed)
        signal(SIGHUP) { _ in BridgeCommand.hangup.store(true, ordering: .relaxed) }
        var unblock = sigset_t()
        sigemptyset(&unblock)
        for s in [SIGINT, SIGTERM, SIGHUP] { sigaddset(&unblock, s) }
        pthread_sigmask(SIG_UNBLOCK, &unblock, nil)
        let bridge = try DistributedBridge.start(cfg)
        defer { bridge.stop() }
        let out = ReportWriter(json: output.json)
        if !output.json {
            let place = cfg.namespace.map { " (netns \($0))" } ?? ""
            let flood: String
            switch cfg.flood {
            case .multicast(let g): flood = "multicast group \(g)"
            case .mesh(let r): flood = "mesh " + r.map(\.description).joined(separator: " ")
            }
            out.write("bridging over \(cfg.vxlan) (underlay \(cfg.underlay), local \(bridge.interfaces.local))\(place): "
                      + cfg.ports.map { "VNI \($0.vni) = \($0.interface)" }.joined(separator: ", ")
                      + "; flooding to \(flood); a report every \(formatBridgeSeconds(interval)) s; Ctrl-C to stop\n")
        }
        let started = Date()
        let deadline = seconds.map { started.addingTimeInterval($0) }
        var next = started.addingTimeInterval(interval)
        func stopping() -> Bool { stop.isSet || BridgeCommand.hangup.load(ordering: .relaxed) || out.closed }
        while !stopping() {
            let now = Date()
            if let deadline, now >= deadline { break }
            if now >= next {
                write(out, try bridge.report(at: now))
                next = next.addingTimeInterval(interval)
                if next < now { next = now.addingTimeInterval(interval) }
                continue
            }
            let wake = min(next, deadline ?? next)
            usleep(UInt32(max(1_000, min(100_000, wake.timeIntervalSince(now) * 1e6))))
        }
        if !out.closed { write(out, try bridge.report(), final: true) }
        try out.finish("bridge")
    }

    func write(_ out: ReportWriter, _ r: BridgeReport, final: Bool = false) {
        if out.json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            guard let data = try? encoder.encode(r) else { return }
            var text = String(decoding: data, as: UTF8.self)
            if final { text = "{\"final\":true," + text.dropFirst() }
            out.write(text + "\n")
            return
        }
        out.write(Self.text(r, final: final))
    }

    static func text(_ r: BridgeReport, final: Bool) -> String {
        var s = "--- \(formatTime(r.time))\(final ? " (final)" : "")\n"
        if r.learned.isEmpty {
            s += "learned: none yet\n"
        } else {
            s += table(["MAC", "VNI", "PORT", "REMOTE", "RX PKTS", "TX PKTS", "RX BYTES", "TX BYTES", "LAST SEEN"], r.learned.map { e in
                [e.mac.description, "\(e.vni)", e.port, e.remote + (e.moves > 0 ? " (moved \(e.moves)x)" : ""), "\(e.rxPackets)", "\(e.txPackets)",
                 "\(e.rxBytes)", "\(e.txBytes)", String(format: "%.1fs ago", e.lastSeenSecondsAgo)]
            }) + "\n"
        }
        s += table(["VNI", "PORT", "MACS", "RX PKTS", "TX PKTS", "FLOODED", "COPIES", "DROPPED"], r.vnis.map { v in
            ["\(v.vni)", v.port, "\(v.learnedMACs)", "\(v.rxPackets)", "\(v.txPackets)", "\(v.floodedPackets)", "\(v.floodCopies)", "\(v.droppedPackets)"]
        }) + "\n"
        if !r.unknownVNIs.isEmpty {
            s += "unknown VNIs (dropped): " + r.unknownVNIs.map { "\($0.vni) from \($0.lastRemote): \($0.packets) pkts" }.joined(separator: ", ") + "\n"
        }
        let counted = r.totals.filter { $0.packets > 0 }
        s += "totals: " + (counted.isEmpty ? "no frames yet" : counted.map { "\($0.outcome.rawValue) \($0.packets)" }.joined(separator: ", ")) + "\n"
        return s
    }

    /// Set by the SIGHUP handler (a lock-free atomic store is async-signal-safe).
    static let hangup = Atomic<Bool>(false)
}

private func formatBridgeSeconds(_ s: Double) -> String { s == s.rounded() ? String(Int(s)) : String(s) }
