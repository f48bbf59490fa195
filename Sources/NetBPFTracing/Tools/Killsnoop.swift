import NetBPF

/// killsnoop: signals sent with kill(2), tkill(2) or tgkill(2), or every signal generated (--all, like sigsnoop).
public enum Killsnoop {
    /// What to trace and print; the fields are the command's flags.
    public struct Options: Sendable {
        /// -p: only signals sent by this process.
        public var pid: UInt32?
        /// -s: only this signal number.
        public var signal: Int32?
        /// -x: only signals that failed.
        public var failedOnly = false
        /// Every generated signal (signal:signal_generate), not only kill(2).
        public var allSignals = false
        /// -n: print signal names instead of numbers.
        public var names = false
        /// Every kill(2), tkill(2) and tgkill(2), numbers printed.
        public init() {}
    }

    /// One signal sent.
    public struct Event: Sendable, Encodable, Equatable {
        /// bpf_ktime_get_ns() at the call.
        public var timestampNs: UInt64
        /// The sending process.
        public var pid: UInt32
        /// The pid argument of kill(2) (negative for a process group, 0 for the caller's group),
        /// or the thread id of tkill(2) and tgkill(2).
        public var targetPID: Int32
        /// The signal number.
        public var signal: Int32
        /// The syscall's return value (0 or -errno), or signal_generate's errno (as sigsnoop).
        public var result: Int32
        /// The sender's command name.
        public var comm: String
    }

    /// The syscall tracepoint programs: kill(2), tkill(2) and tgkill(2), entry and exit
    /// (libbpf-tools' sigsnoop -k traces the same three).
    static let syscallPrograms: Set<String> = [
        "killsnoop_enter", "killsnoop_exit", "killsnoop_tkill_enter", "killsnoop_tkill_exit",
        "killsnoop_tgkill_enter", "killsnoop_tgkill_exit",
    ]

    /// Compiles, loads and attaches killsnoop: syscalls:sys_enter/exit_kill, _tkill and _tgkill, or
    /// signal:signal_generate with `allSignals`.
    /// - Throws: `BPFError(.notFound)` for a `pid` that does not exist; what `ToolSession.start` throws.
    public static func start(_ o: Options) throws -> ToolSession {
        if let pid = o.pid { try ProcessCheck.require(Int32(bitPattern: pid)) }
        let skip: Set<String> = o.allSignals ? syscallPrograms : ["killsnoop_generate"]
        return try ToolSession.start("killsnoop", skipAttach: skip) { spec in
            for name in skip { try spec.setAutoload(false, forProgram: name) }
            if let pid = o.pid { try spec.setGlobal("target_pid", to: pid) }
            if let s = o.signal { try spec.setGlobal("target_signal", to: s) }
            try spec.setGlobal("failed_only", to: o.failedOnly)
        }
    }

    /// Decodes one record of the `events` ring buffer.
    public static func decode(_ r: UnsafeRawBufferPointer) -> Event {
        Event(timestampNs: r.u64(0), pid: r.u32(8), targetPID: r.i32(12), signal: r.i32(16), result: r.i32(20), comm: r.cString(24, max: 16))
    }

    /// The column header line: TIME PID COMM SIG TPID RESULT.
    public static func header(_ o: Options) -> String {
        pad("TIME", 8) + " " + pad("PID", 7) + " " + pad("COMM", 16) + " " + pad("SIG", 9) + " " + pad("TPID", 7) + " RESULT"
    }

    /// One output line under `header(o)`, stamped with the current wall-clock time.
    public static func line(_ e: Event, _ o: Options) -> String {
        pad(Clock.wallTime(), 8) + " " + pad(String(e.pid), 7) + " " + pad(e.comm, 16) + " "
            + pad(o.names && e.signal > 0 ? SignalNames.name(e.signal) : String(e.signal), 9) + " " + pad(String(e.targetPID), 7) + " " + String(e.result)
    }
}
