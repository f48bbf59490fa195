import Glibc
import NetBPF

/// exitsnoop: process exits with age and status (libbpf-tools exitsnoop columns).
public enum Exitsnoop {
    /// What to trace and print; the fields are the command's flags.
    public struct Options: Sendable {
        /// -p: trace this process only.
        public var pid: UInt32?
        /// -T: every thread's exit, not only processes' (their last thread's).
        public var threads = false
        /// -x: only exits with a non-zero status or by a signal.
        public var failedOnly = false
        /// -t: a HH:MM:SS column.
        public var timestamp = false
        /// -c: only tasks under this cgroup v2 directory (libbpf-tools' -c CGROUP).
        public var cgroup: String?
        /// Every process exit, no extra columns.
        public init() {}
    }

    /// One exit (sched:sched_process_exit).
    public struct Event: Sendable, Encodable, Equatable {
        /// The process (tgid).
        public var pid: UInt32
        /// The thread that exited.
        public var tid: UInt32
        /// The parent process.
        public var ppid: UInt32
        /// The command name.
        public var comm: String
        /// Seconds from the task's start to its exit.
        public var ageSeconds: Double
        /// The exit(2) status, when not killed by a signal.
        public var exitCode: Int32
        /// The signal that ended it, 0 if none.
        public var signal: Int32
        /// Whether the signal dumped core.
        public var coreDumped: Bool
    }

    /// Compiles, loads and attaches exitsnoop (sched:sched_process_exit).
    /// - Throws: `BPFError(.notFound)` for a `pid` that does not exist; what `ToolSession.start` throws; for `cgroup`, what `CgroupFilter.start` throws.
    public static func start(_ o: Options) throws -> ToolSession {
        if let pid = o.pid { try ProcessCheck.require(Int32(bitPattern: pid)) }
        return try CgroupFilter.start(o.cgroup) { cg in try ToolSession.start("exitsnoop") { spec in
            try spec.setGlobal("filter_cg", to: cg)
            if let pid = o.pid { try spec.setGlobal("target_pid", to: pid) }
            try spec.setGlobal("by_thread", to: o.threads)
            try spec.setGlobal("failed_only", to: o.failedOnly)
        } }
    }

    /// Decodes one record of the `events` ring buffer.
    public static func decode(_ r: UnsafeRawBufferPointer) -> Event {
        let raw = r.i32(28)
        let start = r.u64(0), end = r.u64(8)
        return Event(pid: r.u32(16), tid: r.u32(20), ppid: r.u32(24), comm: r.cString(32, max: 16),
                     ageSeconds: end > start ? Double(end - start) / 1e9 : 0,
                     exitCode: (raw >> 8) & 0xff, signal: raw & 0x7f, coreDumped: raw & 0x80 != 0)
    }

    /// The column header line: PCOMM PID PPID TID AGE(s) EXIT_CODE.
    public static func header(_ o: Options) -> String {
        (o.timestamp ? pad("TIME", 8) + " " : "") + pad("PCOMM", 16) + " " + pad("PID", 7) + " " + pad("PPID", 7) + " "
            + pad("TID", 7) + " " + pad("AGE(s)", 7) + " EXIT_CODE"
    }

    /// One output line under `header(o)`: "0", "code N", or "signal N (Name)".
    public static func line(_ e: Event, _ o: Options) -> String {
        var s = o.timestamp ? pad(Clock.wallTime(), 8) + " " : ""
        s += pad(e.comm, 16) + " " + pad(String(e.pid), 7) + " " + pad(String(e.ppid), 7) + " " + pad(String(e.tid), 7) + " "
        s += pad(fixed(e.ageSeconds, 2), 7) + " "
        if e.signal != 0 {
            s += "signal \(e.signal) (\(String(cString: strsignal(e.signal))))" + (e.coreDumped ? ", core dumped" : "")
        } else {
            s += e.exitCode == 0 ? "0" : "code \(e.exitCode)"
        }
        return s
    }
}

/// printf("%.Nf") without Foundation.
func fixed(_ v: Double, _ digits: Int) -> String {
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let n = (abs(v) * scale).rounded()
    let whole = Int64(n / scale)
    let frac = Int64(n) - whole * Int64(scale)
    var f = String(frac)
    while f.count < digits { f = "0" + f }
    return (v < 0 && n > 0 ? "-" : "") + String(whole) + (digits > 0 ? "." + f : "")
}
