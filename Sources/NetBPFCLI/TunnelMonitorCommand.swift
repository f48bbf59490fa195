import ArgumentParser
import Foundation
import Glibc
import NetBPF
import NetBPFControllers

/// `netbpf tunnel-monitor IFACE ...`: VXLAN conversations on an underlay interface, live in the
/// terminal, as JSON files, on a web page and as Prometheus metrics; `report` turns a snapshot
/// into a self-contained HTML page.
struct TunnelMonitorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tunnel-monitor", abstract: "Monitor VXLAN conversations on an underlay interface.",
        subcommands: [Run.self, Report.self], defaultSubcommand: Run.self)

    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "run",
            abstract: "Attach to IFACE's tc ingress and egress and report conversations each interval (the default subcommand).",
            discussion: """
            A conversation is (outer source/destination, VNI, inner source/destination); both directions share one. \
            tx = sent out of IFACE, rx = received on it. Frames to a multicast or broadcast outer destination \
            (flooding) are counted apart, per VNI and group. SIGINT or SIGTERM stop the web server and detach. \
            See docs/tunnel-monitor.md.
            """)
        @Argument(help: "The underlay interface (the one carrying the VXLAN UDP packets).") var interface: String
        @Option(help: "The network namespace (/run/netns/NAME) of the interface.") var netns: String?
        @Option(help: "Seconds between samples.") var interval: Double = 1
        @Option(help: "Serve the live page, /api/snapshot, /events and /metrics on ADDR:PORT (e.g. 127.0.0.1:8080).") var web: String?
        @Option(name: .customLong("json-dir"), help: "Write snapshot.json and delta.json there each interval (atomically).") var jsonDir: String?
        @Option(help: "Stop after this many seconds.") var seconds: Double?
        @Option(name: .customLong("port"), help: "VXLAN UDP destination port (repeat for up to 4; default 4789).") var ports: [UInt16] = []
        @Option(name: .customLong("max-conversations"), help: "Size of the conversation table (preallocated, about 280 bytes an entry with 2 CPUs, 64 more per CPU; at most 4194304).") var maxConversations: Int = 65536
        @Option(help: "Conversations in the terminal view.") var top: Int = 10
        @Option(name: .customLong("metrics-conversations"), help: "Most conversations exported one by one on /metrics (the rest are in the per-VNI totals).")
        var metricsConversations: Int = 10_000
        @OptionGroup var output: OutputOptions

        func run() throws {
            try reportingErrors(verbose: output.verbose) {
                var options = TunnelMonitorOptions(interface: interface)
                options.namespace = netns
                options.interval = interval
                options.web = web
                options.jsonDirectory = jsonDir
                if !ports.isEmpty { options.ports = ports }
                options.maxConversations = maxConversations
                options.metricsConversations = metricsConversations
                let stop = StopFlag.installed()
                let session = try TunnelMonitorSession.start(options)
                defer { session.stop() }
                let place = interface + (netns.map { " (netns \($0))" } ?? "")
                if !output.json {
                    var lines = ["tunnel monitor attached to \(place) ingress+egress, UDP \(options.ports.map(String.init).joined(separator: ","))"]
                    if let s = session.server { lines.append("web: \(s.url)/  metrics: \(s.url)/metrics") }
                    if let d = jsonDir { lines.append("json: \(d)/snapshot.json, \(d)/delta.json") }
                    StandardStreams.err(lines.joined(separator: "\n") + "\nCtrl-C to stop\n")
                }
                let started = Date()
                let out = ReportWriter(json: output.json)
                let tty = isatty(STDOUT_FILENO) == 1 && !output.json
                var next = Date().addingTimeInterval(interval)
                while !stop.isSet {
                    // Sleep in short steps so a signal stops the command within 100 ms.
                    while !stop.isSet, Date() < next, seconds.map({ Date().timeIntervalSince(started) < $0 }) ?? true {
                        usleep(UInt32(min(0.1, max(next.timeIntervalSinceNow, 0.001)) * 1e6))
                    }
                    let last = seconds.map { Date().timeIntervalSince(started) >= $0 } ?? false
                    if stop.isSet { break }
                    let sample = try session.tick()
                    next = next.addingTimeInterval(interval)
                    if next < Date() { next = Date().addingTimeInterval(interval) }
                    let text: String
                    if output.json {
                        text = String(decoding: try sample.snapshot(limit: top).json(), as: UTF8.self) + "\n"
                    } else {
                        text = (tty ? "\u{1B}[H\u{1B}[2J" : "--- \(formatTime(sample.wallTime))\n") + TunnelTerminalView.render(sample, top: top) + "\n"
                    }
                    out.write(text)
                    if out.closed { break } // the reader has gone: stop, detach, fail
                    if last { break }
                }
                try out.finish("tunnel-monitor")
                if !output.json { StandardStreams.err("detaching from \(place)\n") }
            }
        }
    }

    struct Report: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "report", abstract: "Write a self-contained HTML report of a snapshot (snapshot.json from --json-dir).")
        @Argument(help: "The snapshot JSON file.") var snapshot: String
        @Option(help: "Where to write the HTML.") var html: String
        @OptionGroup var output: OutputOptions
        func run() throws {
            try reportingErrors(verbose: output.verbose) {
                let snap = try TunnelSnapshot.load(path: snapshot)
                let page = TunnelWebPage.report(snapshot: snap, source: (snapshot as NSString).lastPathComponent)
                do { try OutputFile.write(Array(page.utf8), to: html) } catch {
                    throw ControllerError("cannot write \(html): \(error)")
                }
                if output.json {
                    try printJSON(["html": html, "conversations": "\(snap.conversations.count)", "vnis": "\(snap.vnis.count)"])
                } else {
                    StandardStreams.out("wrote \(html): \(snap.conversations.count) conversations on \(snap.vnis.count) VNIs, snapshot of \(snap.isoTime)\n")
                }
            }
        }
    }
}

/// The live terminal view: totals, per-VNI rates, the busiest conversations, floods and errors.
enum TunnelTerminalView {
    static func bits(_ v: Double) -> String {
        v >= 1e9 ? String(format: "%.2f Gbit/s", v / 1e9) : v >= 1e6 ? String(format: "%.2f Mbit/s", v / 1e6)
            : v >= 1e3 ? String(format: "%.1f kbit/s", v / 1e3) : String(format: "%.0f bit/s", v)
    }

    static func endpoint(_ inner: String, _ outer: String) -> String { inner == "-" ? "@\(outer)" : "\(inner)@\(outer)" }

    static func render(_ s: TunnelSample, top: Int) -> String {
        let snap = s.snapshot(limit: top)
        var out = "tunnel monitor  \(snap.interface)\(snap.namespace.map { " (netns \($0))" } ?? "")  \(formatTime(s.wallTime))  "
        out += "conversations \(snap.conversationCount)/\(snap.capacity)  interval \(String(format: "%.2f", s.elapsed)) s  read \(String(format: "%.2f", snap.readMilliseconds)) ms\n\n"
        out += table(["VNI", "convs", "tx now", "rx now", "tx pkt/s", "rx pkt/s", "tx total", "rx total"],
                     snap.vnis.map { v in
                         ["\(v.vni ?? 0)", "\(v.conversations)", bits(v.txBitsPerSecond), bits(v.rxBitsPerSecond),
                          String(format: "%.1f", v.txPacketsPerSecond), String(format: "%.1f", v.rxPacketsPerSecond),
                          "\(v.txPackets) pkts \(v.txBytes) B", "\(v.rxPackets) pkts \(v.rxBytes) B"]
                     } + [["all", "\(snap.totals.conversations)", bits(snap.totals.txBitsPerSecond), bits(snap.totals.rxBitsPerSecond),
                           String(format: "%.1f", snap.totals.txPacketsPerSecond), String(format: "%.1f", snap.totals.rxPacketsPerSecond),
                           "\(snap.totals.txPackets) pkts \(snap.totals.txBytes) B", "\(snap.totals.rxPackets) pkts \(snap.totals.rxBytes) B"]])
        out += "\n\ntop \(snap.conversations.count) conversations (by rate, then bytes)\n"
        out += table(["VNI", "a (inner@VTEP)", "b (inner@VTEP)", "proto", "a->b now", "b->a now", "tx pkts", "rx pkts", "bytes", "B/pkt"],
                     snap.conversations.map { c in
                         let p = c.txPackets + c.rxPackets, b = c.txBytes + c.rxBytes
                         return ["\(c.vni)", endpoint(c.innerA, c.outerA), endpoint(c.innerB, c.outerB), c.innerProto,
                                 bits(c.aToBBitsPerSecond), bits(c.bToABitsPerSecond), "\(c.txPackets)", "\(c.rxPackets)", "\(b)",
                                 p > 0 ? String(format: "%.1f", Double(b) / Double(p)) : "-"]
                     })
        if !snap.floods.isEmpty {
            out += "\n\nflooded (multicast/broadcast outer destination, not conversations)\n"
            out += table(["VNI", "group", "tx pkts", "rx pkts", "tx bytes", "rx bytes"],
                         snap.floods.map { ["\($0.vni)", $0.group, "\($0.txPackets)", "\($0.rxPackets)", "\($0.txBytes)", "\($0.rxBytes)"] })
        }
        let e = snap.errors, f = snap.frames
        out += "\n\nframes: seen \(f.seen), counted \(f.counted), flooded \(f.flooded), not vxlan \(f.notVxlan), outer fragments \(f.outerFragment)"
        out += "; errors: outer truncated \(e.outerTruncated), vxlan truncated \(e.vxlanTruncated), vxlan flags \(e.vxlanFlags), inner truncated \(e.innerTruncated), table full \(e.tableFull)"
        return out
    }
}
