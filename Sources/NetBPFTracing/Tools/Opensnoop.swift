import NetBPF

/// opensnoop: open()/openat()/openat2() calls with their result (libbpf-tools opensnoop columns).
public enum Opensnoop {
    /// What to trace and print; the fields are the command's flags.
    public struct Options: Sendable {
        /// -p: trace this process only.
        public var pid: UInt32?
        /// -t: trace this thread only.
        public var tid: UInt32?
        /// -u: trace this uid only.
        public var uid: UInt32?
        /// -x: only opens that failed.
        public var failedOnly = false
        /// -n: only process names containing this.
        public var name: String?
        /// -T: a TIME column of wall-clock HH:MM:SS (libbpf-tools 0.26's opensnoop -T).
        public var timestamp = false
        /// -U: a uid column.
        public var printUID = false
        /// -e: a column of the open flags (octal).
        public var extended = false
        /// --kprobe: kprobes on the open, openat and openat2 syscall functions (BCC's way)
        /// instead of the syscall tracepoints; `.automatic` uses the tracepoints where the
        /// kernel has them.
        public var probes: SyscallProbes.Request = .automatic
        /// Every open, no extra columns.
        public init() {}
    }

    /// One open(), openat() or openat2().
    public struct Event: Sendable, Encodable, Equatable {
        /// bpf_ktime_get_ns() at the call.
        public var timestampNs: UInt64
        /// The process (tgid).
        public var pid: UInt32
        /// The thread.
        public var tid: UInt32
        /// The caller's uid.
        public var uid: UInt32
        /// The fd, or -errno.
        public var ret: Int32
        /// The flags argument (O_RDONLY, O_CREAT, ...).
        public var flags: Int32
        /// The caller's command name.
        public var comm: String
        /// The path as passed (at most 255 bytes).
        public var path: String
        /// The fd opened, -1 on failure.
        public var fd: Int32 { ret >= 0 ? ret : -1 }
        /// The errno of a failed open, 0 on success.
        public var errno: Int32 { ret >= 0 ? 0 : -ret }
    }

    /// The tracepoint programs, then the kprobe ones, of Tools/opensnoop/opensnoop.bpf.c.
    static let tracepointPrograms = ["opensnoop_open", "opensnoop_openat", "opensnoop_openat2",
                                     "opensnoop_open_ret", "opensnoop_openat_ret", "opensnoop_openat2_ret"]
    static let kprobePrograms = tracepointPrograms.map { $0.replacingAll("opensnoop_", with: "opensnoop_kprobe_") }

    /// Compiles, loads and attaches opensnoop (syscalls:sys_enter/exit_open, _openat and
    /// _openat2, or kprobes and kretprobes on those syscall functions: `o.probes`).
    /// - Throws: `BPFError(.notFound)` for a `pid` that does not exist; `BPFError(.unsupported)`
    ///   when the kernel lacks the probes asked for (`SyscallProbes.choose`); what `ToolSession.start` throws.
    public static func start(_ o: Options) throws -> ToolSession {
        if let pid = o.pid { try ProcessCheck.require(Int32(bitPattern: pid)) }
        let mode = try SyscallProbes.resolve(o.probes, tool: "opensnoop", syscall: "openat").mode
        return try ToolSession.start("opensnoop") { spec in
            try SyscallProbes.select(mode, in: spec, tracepoint: tracepointPrograms, kprobe: kprobePrograms)
            if let pid = o.pid { try spec.setGlobal("target_pid", to: pid) }
            if let tid = o.tid { try spec.setGlobal("target_tid", to: tid) }
            if let uid = o.uid { try spec.setGlobal("target_uid", to: uid) }
            try spec.setGlobal("failed_only", to: o.failedOnly)
        }
    }

    /// Decodes one record of the `events` ring buffer.
    public static func decode(_ r: UnsafeRawBufferPointer) -> Event {
        Event(timestampNs: r.u64(0), pid: r.u32(8), tid: r.u32(12), uid: r.u32(16), ret: r.i32(20), flags: r.i32(24),
              comm: r.cString(32, max: 16), path: r.cString(48, max: min(256, r.count - 48)))
    }

    /// Whether `e` passes the filter applied in user space (`name`).
    public static func matches(_ e: Event, _ o: Options) -> Bool {
        if let n = o.name, !e.comm.hasSubstring(n) { return false }
        return true
    }

    /// The column header line: PID COMM FD ERR PATH, with the columns `o` adds.
    public static func header(_ o: Options) -> String {
        var h = ""
        if o.timestamp { h += pad("TIME", 8) + " " }
        if o.printUID { h += pad("UID", 7) + " " }
        h += pad("PID", 6) + " " + pad("COMM", 16) + " " + leftPad("FD", 3) + " " + leftPad("ERR", 3) + " "
        if o.extended { h += pad("FLAGS", 8) + " " }
        return h + "PATH"
    }

    /// One output line under `header(o)`, stamped with the current wall-clock time under `-T`;
    /// `startNs` is kept for callers and no longer used.
    public static func line(_ e: Event, _ o: Options, startNs: UInt64) -> String {
        var s = ""
        if o.timestamp { s += pad(Clock.wallTime(), 8) + " " }
        if o.printUID { s += pad(String(e.uid), 7) + " " }
        s += pad(String(e.pid), 6) + " " + pad(e.comm, 16) + " " + leftPad(String(e.fd), 3) + " " + leftPad(String(e.errno), 3) + " "
        if o.extended { s += octal8(e.flags) + " " }
        return s + e.path
    }
}

/// Open flags as libbpf-tools prints them ("%08o"): octal, zero-padded to 8 digits.
func octal8(_ flags: Int32) -> String {
    let digits = String(UInt32(bitPattern: flags), radix: 8)
    return String(repeating: "0", count: max(0, 8 - digits.count)) + digits
}
