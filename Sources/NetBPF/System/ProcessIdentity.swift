import Foundation

/// One process for the life of the machine: its pid plus its start time (field 22 of
/// /proc/PID/stat, clock ticks since boot), as a pid alone stops naming it once it is reused.
/// Simulations use it for the processes they start, attachment records for the process that is
/// attaching.
package enum ProcessIdentity {
    /// The state letter and the start time of `pid`; nil when there is no such process.
    package static func stat(of pid: Int32) -> (state: Character, startTime: UInt64)? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")") else { return nil }
        // Fields after the command name (which may hold spaces and parentheses) start at field 3.
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 19, let state = fields[0].first, let start = UInt64(fields[19]) else { return nil }
        return (state, start)
    }

    /// The start time of `pid` (clock ticks since boot); nil when there is no such process.
    package static func startTime(of pid: Int32) -> UInt64? { stat(of: pid)?.startTime }

    /// Whether `pid` is running (not a zombie) and, when given, still the process that started
    /// at `startTime`.
    package static func isRunning(_ pid: Int32, startTime: UInt64?) -> Bool {
        guard let s = stat(of: pid), s.state != "Z", s.state != "X" else { return false }
        if let startTime, s.startTime != startTime { return false }
        return true
    }
}
