import NetBPF

/// runqlat: run queue latency histograms (libbpf-tools/BCC runqlat options).
public enum Runqlat {
    /// What to measure; the fields are the command's flags.
    public struct Options: Sendable {
        /// -p: trace this process only.
        public var pid: UInt32?
        /// -P: a histogram per process.
        public var byProcess = false
        /// -L: a histogram per thread.
        public var byThread = false
        /// --pidnss: a histogram per PID namespace (its inode number), as libbpf-tools.
        public var byPIDNamespace = false
        /// -m: milliseconds instead of microseconds.
        public var milliseconds = false
        /// -T: a timestamp on each report.
        public var timestamp = false
        /// -c: only tasks under this cgroup v2 directory (libbpf-tools' -c CGROUP).
        public var cgroup: String?
        /// One histogram of every task, in microseconds.
        public init() {}
    }

    /// One histogram: for everything (key nil), a process (-P), a thread (-L) or a PID namespace
    /// (--pidnss: its inode number, and the comm of the first task seen in it).
    public struct Entry: Sendable, Encodable, Equatable {
        /// The pid or tid; nil for the histogram of everything.
        public var id: UInt32?
        /// The command name of that process or thread.
        public var comm: String?
        /// The counts, unit "usecs" or "msecs".
        public var histogram: Log2Histogram
    }

    static let slots = 26

    /// Compiles, loads and attaches runqlat (raw tracepoints sched_wakeup, sched_wakeup_new,
    /// sched_switch).
    /// - Throws: `BPFError(.notFound)` for a `pid` that does not exist; what `ToolSession.start` throws; for `cgroup`, what `CgroupFilter.start` throws.
    public static func start(_ o: Options) throws -> ToolSession {
        if let pid = o.pid { try ProcessCheck.require(Int32(bitPattern: pid)) }
        return try CgroupFilter.start(o.cgroup) { cg in try ToolSession.start("runqlat") { spec in
            try spec.setGlobal("filter_cg", to: cg)
            if let pid = o.pid { try spec.setGlobal("target_pid", to: pid) }
            try spec.setGlobal("by_process", to: o.byProcess)
            try spec.setGlobal("by_thread", to: o.byThread)
            try spec.setGlobal("by_pidns", to: o.byPIDNamespace)
            try spec.setGlobal("in_millis", to: o.milliseconds)
        } }
    }

    /// Reads and clears the histograms.
    public static func collect(_ session: ToolSession, _ o: Options) throws -> [Entry] {
        let map = try session.map("hists")
        var out: [Entry] = []
        for entry in try map.dump() {
            let key = entry.key.withUnsafeBytes { $0.u32(0) }
            let (slots, comm) = entry.value.withUnsafeBytes { r in ((0..<Self.slots).map { UInt64(r.u32($0 * 4)) }, r.cString(Self.slots * 4, max: 16)) }
            let split = o.byProcess || o.byThread || o.byPIDNamespace
            out.append(Entry(id: split ? key : nil, comm: split ? comm : nil,
                             histogram: Log2Histogram(unit: o.milliseconds ? "msecs" : "usecs", slots: slots)))
            _ = try map.delete(key: entry.key)
        }
        return out.sorted { ($0.id ?? 0) < ($1.id ?? 0) }
    }

    /// The report as libbpf-tools prints it: a "pid = N COMM" (tid, pidns) line before each histogram.
    public static func format(_ entries: [Entry], _ o: Options) -> String {
        var out = ""
        for e in entries {
            if let id = e.id { out += "\n\(o.byProcess ? "pid" : o.byThread ? "tid" : "pidns") = \(id) \(e.comm ?? "")\n" }
            out += e.histogram.formatted(libbpfTools: true)
        }
        return out
    }
}
