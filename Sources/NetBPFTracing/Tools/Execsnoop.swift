import NetBPF

/// execsnoop: exec() calls with arguments (libbpf-tools/BCC execsnoop columns and options).
public enum Execsnoop {
    /// What to trace and print; the fields are the command's flags.
    public struct Options: Sendable {
        /// -u: trace this uid only (in the kernel).
        public var uid: UInt32?
        /// --max-args: arguments copied and printed at most, 1 to 60.
        public var maxArgs: Int = 20
        /// -x: include exec() calls that failed.
        public var includeFailed = false
        /// -n: only commands whose name contains this.
        public var name: String?
        /// -l: only commands with an argument containing this.
        public var line: String?
        /// -q: put quotes around arguments.
        public var quote = false
        /// -T: a HH:MM:SS column.
        public var time = false
        /// -t: a column of seconds since the start.
        public var timestamp = false
        /// -U: a uid column.
        public var printUID = false
        /// -c: only tasks under this cgroup v2 directory (libbpf-tools' -c CGROUP).
        public var cgroup: String?
        /// --kprobe: a kprobe on the execve syscall function (BCC's way) instead of the
        /// syscalls:sys_enter/exit_execve tracepoints; `.automatic` uses the tracepoints where
        /// the kernel has them.
        public var probes: SyscallProbes.Request = .automatic
        /// No filters, 20 arguments, no extra columns.
        public init() {}
    }

    /// One exec() as the program reports it at its return.
    public struct Event: Sendable, Encodable, Equatable {
        /// bpf_ktime_get_ns() at the call (nanoseconds since boot).
        public var timestampNs: UInt64
        /// The process (tgid).
        public var pid: UInt32
        /// The thread.
        public var tid: UInt32
        /// The parent process.
        public var ppid: UInt32
        /// The real uid.
        public var uid: UInt32
        /// execve's return value: 0, or -errno for a failed exec.
        public var ret: Int32
        /// The new command name (task comm, at most 15 bytes).
        public var comm: String
        /// The arguments, argv[0] first.
        public var args: [String]
        /// More arguments than --max-args were passed.
        public var truncated: Bool
    }

    /// Compiles, loads and attaches execsnoop (syscalls:sys_enter/exit_execve tracepoints, or
    /// a kprobe and kretprobe on the execve syscall function: `options.probes`);
    /// read its `events` ring buffer with `ToolSession.runRing` and `decode`.
    /// - Throws: `BPFError(.invalidArgument)` for `maxArgs` outside 1...60; `BPFError(.unsupported)`
    ///   when the kernel lacks the probes asked for (`SyscallProbes.choose`); what `ToolSession.start` throws; for `cgroup`, what `CgroupFilter.start` throws.
    public static func start(_ options: Options) throws -> ToolSession {
        guard (1...60).contains(options.maxArgs) else {
            throw BPFError(.invalidArgument, operation: "execsnoop", subject: "--max-args", message: "must be 1 to 60")
        }
        let mode = try SyscallProbes.resolve(options.probes, tool: "execsnoop", syscall: "execve").mode
        return try CgroupFilter.start(options.cgroup) { cg in try ToolSession.start("execsnoop") { spec in
            try SyscallProbes.select(mode, in: spec, tracepoint: ["execsnoop_enter", "execsnoop_exit"],
                                     kprobe: ["execsnoop_kprobe_enter", "execsnoop_kprobe_exit"])
            try spec.setGlobal("filter_cg", to: cg)
            if let uid = options.uid { try spec.setGlobal("target_uid", to: uid) }
            try spec.setGlobal("max_args", to: UInt32(options.maxArgs))
            try spec.setGlobal("include_failed", to: options.includeFailed)
        } }
    }

    /// Decodes one record of the `events` ring buffer.
    public static func decode(_ r: UnsafeRawBufferPointer, maxArgs: Int) -> Event {
        let count = Int(r.u32(28)), size = min(Int(r.u32(32)), r.count - 56)
        var args: [String] = []
        var start = 56
        let end = 56 + max(0, size)
        while start < end && args.count < count {
            var e = start
            while e < end && r[e] != 0 { e += 1 }
            args.append(String(decoding: r[start..<e], as: UTF8.self))
            start = e + 1
        }
        return Event(timestampNs: r.u64(0), pid: r.u32(8), tid: r.u32(12), ppid: r.u32(16), uid: r.u32(20), ret: r.i32(24),
                     comm: r.cString(40, max: 16), args: args, truncated: count > maxArgs)
    }

    /// Whether `e` passes the filters applied in user space (`name`, `line`).
    public static func matches(_ e: Event, _ o: Options) -> Bool {
        if let n = o.name, !e.comm.hasSubstring(n) { return false }
        if let l = o.line, !e.args.contains(where: { $0.hasSubstring(l) }) { return false }
        return true
    }

    /// The column header line (PCOMM PID PPID RET ARGS, with the columns `o` adds).
    public static func header(_ o: Options) -> String {
        var h = ""
        if o.time { h += pad("TIME", 9) }
        if o.timestamp { h += pad("TIME(s)", 9) }
        if o.printUID { h += pad("UID", 6) }
        return h + pad("PCOMM", 16) + " " + pad("PID", 6) + " " + pad("PPID", 6) + " " + leftPad("RET", 3) + " ARGS"
    }

    /// One output line under `header(o)`; `startNs` is the time the `timestamp` column counts from.
    public static func line(_ e: Event, _ o: Options, startNs: UInt64) -> String {
        var s = ""
        if o.time { s += pad(Clock.wallTime(), 8) + " " }
        if o.timestamp { s += pad(formatSeconds(e.timestampNs &- startNs), 8) + " " }
        if o.printUID { s += pad(String(e.uid), 6) }
        s += pad(e.comm, 16) + " " + pad(String(e.pid), 6) + " " + pad(String(e.ppid), 6) + " " + leftPad(String(e.ret), 3) + " "
        s += e.args.map { o.quote ? "\"" + $0.replacingAll("\"", with: "\\\"") + "\"" : $0 }.joined(separator: " ")
        if e.truncated { s += " ..." }
        return s
    }
}

func formatSeconds(_ ns: UInt64) -> String {
    let ms = ns / 1_000_000
    let frac = ms % 1000
    return "\(ms / 1000)." + leftPad(String(frac), 3).replacingAll(" ", with: "0")
}

extension String {
    /// Substring test on UTF-8 bytes (Foundation's `contains` goes through NSString: about
    /// 10x slower, which showed in event storms).
    func hasSubstring(_ needle: String) -> Bool {
        if needle.isEmpty { return true }
        var hay = self, pin = needle
        return hay.withUTF8 { h in
            pin.withUTF8 { n in
                guard n.count <= h.count else { return false }
                let first = n[0]
                var i = 0
                while i <= h.count - n.count {
                    if h[i] == first {
                        var j = 1
                        while j < n.count && h[i + j] == n[j] { j += 1 }
                        if j == n.count { return true }
                    }
                    i += 1
                }
                return false
            }
        }
    }

    func replacingAll(_ target: String, with replacement: String) -> String {
        guard !target.isEmpty else { return self }
        var out = ""
        var rest = Substring(self)
        while let r = rest.range(of: target) {
            out += rest[..<r.lowerBound] + replacement
            rest = rest[r.upperBound...]
        }
        return out + rest
    }
}

extension Substring {
    func range(of target: String) -> Range<Substring.Index>? {
        guard !target.isEmpty, count >= target.count else { return nil }
        var i = startIndex
        while i < endIndex {
            if self[i...].hasPrefix(target) { return i..<index(i, offsetBy: target.count) }
            i = index(after: i)
        }
        return nil
    }
}
