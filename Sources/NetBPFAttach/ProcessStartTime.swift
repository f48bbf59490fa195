import Foundation

/// A process's start time (field 22 of /proc/PID/stat, clock ticks since boot): with the pid it
/// names one process for the life of the machine, as a pid alone does not once it is reused.
public enum ProcessStartTime {
    public static func of(_ pid: Int32) -> UInt64? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")") else { return nil }
        // Fields after the command name (which may hold spaces and parentheses) start at field 3.
        let fields = text[text.index(after: close)...].split(separator: " ")
        return fields.count > 19 ? UInt64(fields[19]) : nil
    }

    public static var ofThisProcess: UInt64? { of(getpid()) }
}
