import ArgumentParser
import Foundation
import Glibc
import NetBPF
import NetBPFControllers
import NetBPFNetlink

/// What xdp-drop-count, xdp-macswap and xdp-redirect share: the --mode spelling, the --peer
/// options, and the loop that prints `PROTO: N pkt/s` each interval and the totals at the end.
enum XDPExample {
    /// "generic"/"skb" or "driver"/"native"/"drv"; anything else is a one-line error.
    static func mode(_ text: String) throws -> XDPMode {
        switch text {
        case "generic", "skb": return .generic
        case "driver", "native", "drv": return .native
        default:
            StandardStreams.err("netbpf: --mode '\(text)' is not an XDP mode; hint: generic or driver\n")
            throw ExitCode(1)
        }
    }

    static func name(_ mode: XDPMode) -> String { mode == .generic ? "generic" : "driver" }

    static func checkInterval(_ interval: Double) throws {
        guard interval > 0, interval.isFinite else {
            StandardStreams.err("netbpf: --interval must be a positive number of seconds\n")
            throw ExitCode(1)
        }
    }

    static func checkSeconds(_ seconds: Double?) throws {
        if let seconds, !(seconds > 0 && seconds.isFinite) {
            StandardStreams.err("netbpf: --seconds must be a positive number of seconds\n")
            throw ExitCode(1)
        }
    }

    /// In driver mode on a veth without --peer, one line on stderr saying why nothing may arrive.
    static func warnAboutVethPeer(_ interface: String, namespace: String?, mode: XDPMode, peer: XDPPeerOptions, role: String) {
        guard mode == .native, peer.peer == nil,
              let link = try? (namespace.map { try NetlinkSocket(namespace: $0) } ?? NetlinkSocket()).interface(.name(interface)),
              link.kind == "veth" else { return }
        StandardStreams.err("note: \(interface) is a veth: in driver mode the frames it \(role) reach its peer only while the peer has a driver-mode XDP program; give --peer PEER [--peer-netns NS]\n")
    }

    /// Prints the header, then each `interval` the per-second rate of every protocol whose count
    /// grew (over the time measured since the previous report, CLOCK_MONOTONIC), until SIGINT/SIGTERM/SIGHUP (`stop`, installed before attaching so a signal during
    /// start-up still ends in a detach), `seconds`, or a closed stdout; then `footer` with the
    /// totals and `extras` (other counters, e.g. "sentBack"). With `json`, stdout gets one object
    /// per interval (`{"rates":{"17":1000},"seconds":1.001}`, `{"rates":{},...}` when nothing
    /// came; `seconds` is the time the rates were measured over) and a last
    /// `{"final":true,"totals":{...}}` with the extras as further keys; the header and footer
    /// lines go to stderr.
    static func printRates(command: String, header: String, stop: StopFlag, json: Bool, interval: Double, seconds: Double?,
                           totals: () throws -> [UInt8: UInt64], extras: () throws -> [(String, UInt64)] = { [] },
                           footer: ([UInt8: UInt64], [String: UInt64]) -> String) throws {
        let out = ReportWriter(json: json)
        if json { StandardStreams.err(header + "\n") } else { out.write(header + "\n") }
        var last: [UInt8: UInt64] = [:]
        var lastTime = MonotonicClock.seconds()
        let deadline = seconds.map { lastTime + $0 }
        var next = lastTime + interval
        while !stop.isSet && !out.closed {
            let now = MonotonicClock.seconds()
            if let deadline, now >= deadline { break }
            if now >= next {
                let t = try totals()
                let readAt = MonotonicClock.seconds()
                let rates = Self.rates(from: last, to: t, seconds: readAt - lastTime)
                if json {
                    out.write("{\"rates\":{" + rates.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}"
                              + ",\"seconds\":" + String(format: "%.3f", readAt - lastTime) + "}\n")
                } else {
                    for (p, r) in rates { out.write("\(p): \(r) pkt/s\n") }
                }
                last = t
                lastTime = readAt
                next = Self.nextReport(after: next, readAt: readAt, interval: interval)
                continue
            }
            usleep(UInt32(max(1_000, min(100_000, (min(next, deadline ?? next) - now) * 1e6))))
        }
        let t = try totals()
        let more = try extras()
        let extraValues = Dictionary(more, uniquingKeysWith: { a, _ in a })
        if json {
            out.write("{\"final\":true,\"totals\":{" + t.sorted { $0.key < $1.key }.map { "\"\($0.key)\":\($0.value)" }.joined(separator: ",") + "}"
                      + more.map { ",\"\($0.0)\":\($0.1)" }.joined() + "}\n")
            StandardStreams.err(footer(t, extraValues) + "\n")
        } else {
            out.write(footer(t, extraValues) + "\n")
        }
        try out.finish(command) // a closed stdout: one line on stderr, exit 1 (the caller's defer detaches)
    }

    /// Packets per second of each protocol whose count grew, over the `seconds` measured between
    /// the two readings (not the nominal interval), rounded, by protocol number.
    static func rates(from last: [UInt8: UInt64], to now: [UInt8: UInt64], seconds: Double) -> [(UInt8, Int)] {
        now.sorted { $0.key < $1.key }.compactMap { p, n in
            let before = last[p, default: 0]
            guard n > before else { return nil }
            return (p, Int(CounterRate.perSecond(from: before, to: n, seconds: seconds).rounded()))
        }
    }

    /// When the report after the one due at `due` (and made at `readAt`) is due: one interval
    /// later, keeping the cadence, unless that has passed already (the process was stopped or
    /// starved): missed reports are not made up back to back, the next is an interval from now.
    static func nextReport(after due: Double, readAt: Double, interval: Double) -> Double {
        let next = due + interval
        return next > readAt ? next : readAt + interval
    }

    /// After the normal stop: if an attachment could not be detached, one line on stderr (what
    /// failed and the command that retries it) and exit 1.
    static func finish(_ failures: [DetachFailure]) throws {
        guard !failures.isEmpty else { return }
        StandardStreams.err("netbpf: " + failures.map(\.description).joined(separator: "; ")
                            + "; hint: " + failures.map(\.retry).joined(separator: "; ") + "\n")
        throw ExitCode(1)
    }

    /// "proto 1: 15, proto 17: 3000", or "none".
    static func list(_ totals: [UInt8: UInt64]) -> String {
        totals.isEmpty ? "none" : totals.sorted { $0.key < $1.key }.map { "proto \($0.key): \($0.value)" }.joined(separator: ", ")
    }
}

/// --peer and --peer-netns: a veth peer that gets an XDP_PASS program in driver mode while the
/// command runs (see XDPPassPeer).
struct XDPPeerOptions: ParsableArguments {
    @Option(help: "Also attach an XDP_PASS program in driver mode to this interface while running (the veth peer that receives the frames; veth needs it in driver mode).")
    var peer: String?
    @Option(help: "The network namespace of --peer (default: the interface's).")
    var peerNetns: String?

    func resolved(defaultNamespace: String?) throws -> XDPPassPeer? {
        guard let peer else {
            if peerNetns != nil {
                StandardStreams.err("netbpf: --peer-netns needs --peer\n")
                throw ExitCode(1)
            }
            return nil
        }
        return XDPPassPeer(interface: peer, namespace: peerNetns ?? defaultNamespace)
    }
}
