import ArgumentParser
import Foundation
import Glibc
import NetBPF
import NetBPFControllers

/// `netbpf tc-events IFACE`: BCC's tc_perf_event.py with a ring buffer. A classifier on IFACE's
/// egress reports each ICMPv6 echo request leaving it; one line (or one JSON object) per event
/// as it comes, until SIGINT/SIGTERM/SIGHUP or --seconds, then it detaches and prints the count
/// (exit 1 with one line on stderr if the detach failed).
struct TCEventsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tc-events",
        abstract: "Print the ICMPv6 echo requests leaving an interface, sent by a tc egress classifier through a BPF ring buffer.")

    @Argument(help: "The interface.") var interface: String
    @Option(help: "The network namespace of the interface.") var netns: String?
    @Flag(help: "Attach as a clsact direct-action filter instead of tcx.") var clsact = false
    @Option(help: "Stop after this many seconds.") var seconds: Double?
    @OptionGroup var output: OutputOptions

    func run() throws {
        try reportingErrors(verbose: output.verbose) {
            try XDPExample.checkSeconds(seconds)
            let stop = StopFlag.installed()
            let monitor = try ICMPv6EchoMonitor(interface: interface, namespace: netns, mechanism: clsact ? .clsact : .auto)
            defer { monitor.stop() } // on errors; a no-op after the stop below
            let out = ReportWriter(json: output.json)
            let how = monitor.record.kind == .tcx ? "tcx" : "clsact"
            let header = "Printing ICMPv6 echo requests leaving \(interface) (\(how) egress), hit CTRL+C to stop\n"
            if output.json {
                StandardStreams.err(header) // stdout holds only the JSON objects
            } else {
                out.write(header + "TIME          IFINDEX  SOURCE > DESTINATION  ID  SEQ  HLIM  LEN\n")
            }
            var seen = 0
            func show(_ events: [ICMPv6EchoEvent]) {
                for e in events {
                    seen += 1
                    out.write(output.json ? Self.json(e) : Self.line(e))
                }
            }
            let deadline = seconds.map { Date().addingTimeInterval($0) }
            while !stop.isSet && !out.closed {
                var wait: Int32 = 100
                if let deadline {
                    let left = deadline.timeIntervalSinceNow
                    if left <= 0 { break }
                    wait = Int32(max(1, min(100, left * 1000)))
                }
                show(try monitor.poll(timeoutMilliseconds: wait))
            }
            let failure = monitor.stop()
            show(try monitor.poll(timeoutMilliseconds: 0))
            let lost = try monitor.lost()
            let summary = (failure == nil ? "Detached from \(interface) egress" : "Stopped") + "; \(seen) echo request\(seen == 1 ? "" : "s")" + (lost > 0 ? ", \(lost) lost (ring buffer full)" : "") + "\n"
            if output.json { StandardStreams.err(summary) } else { out.write(summary) }
            try XDPExample.finish(failure.map { [$0] } ?? [])
            try out.finish("tc-events")
        }
    }

    /// `02:31:07.412  3  fd00:9::1 > fd00:9::2  4321  1  64  118`
    static func line(_ e: ICMPv6EchoEvent) -> String {
        "\(clock())  \(String(e.ifindex).padded(7))  \(e.source) > \(e.destination)  \(e.id)  \(e.sequence)  \(e.hopLimit)  \(e.length)\n"
    }

    static func json(_ e: ICMPv6EchoEvent) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return ((try? encoder.encode(e)).map { String(decoding: $0, as: UTF8.self) } ?? "{}") + "\n"
    }

    /// Local wall-clock time of day with milliseconds.
    static func clock() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var parts = tm()
        var seconds = now.tv_sec
        localtime_r(&seconds, &parts)
        return String(format: "%02d:%02d:%02d.%03d", parts.tm_hour, parts.tm_min, parts.tm_sec, Int(now.tv_nsec / 1_000_000))
    }
}
