import ArgumentParser
import Foundation
import Glibc
import NetBPF
import NetBPFControllers

/// Prints reports as tables or one JSON object per line. A closed stdout (`| head`) stops the
/// command cleanly (so it still detaches) instead of exiting on the spot.
final class ReportWriter {
    let json: Bool
    private(set) var closed = false
    /// Why the last write failed (EPIPE: the reader has gone; ENOSPC: /dev/full or a full disk).
    private(set) var failure: Int32 = 0
    init(json: Bool) { self.json = json }

    /// Call once the command has stopped: a report that could not be written makes the command
    /// fail like any other error, with one line on stderr and exit status 1, while its defers
    /// still detach what it attached (the stop itself came from `closed`).
    func finish(_ command: String) throws {
        guard closed else { return }
        StandardStreams.err("netbpf: \(command): writing to stdout failed (\(ErrnoName.describe(failure))); stopping and removing what it attached\n")
        throw ExitCode(1)
    }

    func write(_ text: String) {
        guard !closed else { return }
        do {
            try SystemCall.writeAll(1, Array(text.utf8))
        } catch {
            failure = error.errno
            closed = true
        }
    }

    func write(_ report: VLANLearningReport, final: Bool = false) {
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            guard let data = try? encoder.encode(report) else { return }
            var text = String(decoding: data, as: UTF8.self)
            if final { text = "{\"final\":true," + text.dropFirst() }
            write(text + "\n")
            return
        }
        write(Self.text(report, final: final))
    }

    static func text(_ r: VLANLearningReport, final: Bool) -> String {
        var s = "--- \(formatTime(r.time))\(final ? " (final)" : "")\n"
        s += table(["MAC", "WORKER", "VLAN", "LEARNED ON", "LAST SEEN", "RX PKTS", "RX BYTES", "TX PKTS", "TX BYTES"], r.clients.map { c in
            [c.mac.description, c.worker, c.learned.map { "\($0.vlan)" + ($0.moves > 0 ? " (moved \($0.moves)x)" : "") } ?? "-",
             c.learned?.trunk ?? "-", c.learned.map { String(format: "%.1fs ago", $0.lastSeenSecondsAgo) } ?? "-",
             "\(c.rxPackets)", "\(c.rxBytes)", "\(c.txPackets)", "\(c.txBytes)"]
        }) + "\n"
        if r.unknown.isEmpty {
            s += "not forwarded: none\n"
        } else {
            s += "not forwarded:\n"
            s += table(["MAC", "REASON", "INTERFACE", "VLAN", "PKTS", "BYTES", "LAST SEEN"], r.unknown.map { u in
                [u.mac.description, u.reason.rawValue, u.interface, u.vlan.map { "\($0)" } ?? "-", "\(u.packets)", "\(u.bytes)",
                 String(format: "%.1fs ago", u.lastSeenSecondsAgo)]
            }) + "\n"
        }
        let counted = r.totals.filter { $0.packets > 0 }
        s += "totals: " + (counted.isEmpty ? "no frames yet" : counted.map { "\($0.outcome.rawValue) \($0.packets)" }.joined(separator: ", ")) + "\n"
        return s
    }
}
