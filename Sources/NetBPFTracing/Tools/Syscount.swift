import Glibc
import NetBPF

/// syscount: system call counts (and total time with -L) per syscall or per process.
public enum Syscount {
    /// What to count; the fields are the command's flags.
    public struct Options: Sendable {
        /// -p: trace this process only.
        public var pid: UInt32?
        /// -x: failed syscalls only.
        public var failedOnly = false
        /// -e: only syscalls failing with this errno.
        public var errno: Int32?
        /// -L: also sum the time spent in each syscall.
        public var latency = false
        /// -m: latency in milliseconds instead of microseconds.
        public var milliseconds = false
        /// -P: count per process instead of per syscall.
        public var byProcess = false
        /// -T: rows kept in a report.
        public var top = 10
        /// -c: only tasks under this cgroup v2 directory (libbpf-tools' -c CGROUP).
        public var cgroup: String?
        /// Counts of every syscall, top 10.
        public init() {}
    }

    /// One row of a report.
    public struct Row: Sendable, Encodable, Equatable {
        /// Syscall number, or PID with -P.
        public var key: UInt32
        /// The syscall's name, or the process's command name with -P.
        public var name: String
        /// Calls counted.
        public var count: UInt64
        /// Nanoseconds spent in them (with `latency`; else 0).
        public var totalNs: UInt64
    }

    /// Compiles, loads and attaches syscount (raw_syscalls:sys_enter/sys_exit).
    /// - Throws: `BPFError(.notFound)` for a `pid` that does not exist; what `ToolSession.start` throws; for `cgroup`, what `CgroupFilter.start` throws.
    public static func start(_ o: Options) throws -> ToolSession {
        if let pid = o.pid { try ProcessCheck.require(Int32(bitPattern: pid)) }
        return try CgroupFilter.start(o.cgroup) { cg in try ToolSession.start("syscount") { spec in
            try spec.setGlobal("filter_cg", to: cg)
            if let pid = o.pid { try spec.setGlobal("target_pid", to: pid) }
            try spec.setGlobal("failed_only", to: o.failedOnly)
            if let e = o.errno { try spec.setGlobal("only_errno", to: e) }
            try spec.setGlobal("with_latency", to: o.latency)
            try spec.setGlobal("by_process", to: o.byProcess)
        } }
    }

    /// The x86-64 name of syscall `n` ("openat"), or "[unknown: n]".
    public static func name(ofSyscall n: UInt32) -> String { SyscallTable.x86_64[Int(n)] ?? "[unknown: \(n)]" }

    /// `syscount -l`: one "NUM: name" line per syscall, the number right-aligned in 3 columns
    /// (libbpf-tools' "%3d: %s").
    public static var listing: [String] { syscallNames.map { leftPad(String($0.0), 3) + ": " + $0.1 } }

    /// Every syscall number and name known, by number.
    public static var syscallNames: [(Int, String)] { SyscallTable.x86_64.sorted { $0.key < $1.key }.map { ($0.key, $0.value) } }

    /// The x86-64 number of the syscall called `name`, or nil.
    public static func number(ofSyscall name: String) -> Int? { SyscallTable.x86_64.first { $0.value == name }?.key }

    /// Reads and clears the counters; rows sorted by count (or time with -L), top N.
    public static func collect(_ session: ToolSession, _ o: Options) throws -> [Row] {
        let map = try session.map("stats")
        var rows: [Row] = []
        for entry in try map.dump() {
            let key = entry.key.withUnsafeBytes { $0.u32(0) }
            let (count, total, comm) = entry.value.withUnsafeBytes { ($0.u64(0), $0.u64(8), $0.cString(16, max: 16)) }
            rows.append(Row(key: key, name: o.byProcess ? comm : name(ofSyscall: key), count: count, totalNs: total))
            _ = try map.delete(key: entry.key)
        }
        rows.sort { o.latency ? ($0.totalNs, $0.count) > ($1.totalNs, $1.count) : ($0.count, $0.totalNs) > ($1.count, $1.totalNs) }
        return Array(rows.prefix(o.top))
    }

    /// The report as BCC prints it: SYSCALL (or PID COMM) COUNT [TIME].
    public static func format(_ rows: [Row], _ o: Options) -> String {
        let unit = o.milliseconds ? "TIME (ms)" : "TIME (us)"
        var out = o.byProcess ? pad("PID", 6) + " " + pad("COMM", 15) + " " + leftPad("COUNT", 8) : pad("SYSCALL", 22) + " " + leftPad("COUNT", 8)
        if o.latency { out += " " + leftPad(unit, 16) }
        out += "\n"
        for r in rows {
            out += o.byProcess ? pad(String(r.key), 6) + " " + pad(r.name, 15) + " " + leftPad(String(r.count), 8)
                               : pad(r.name, 22) + " " + leftPad(String(r.count), 8)
            if o.latency { out += " " + leftPad(fixed(Double(r.totalNs) / (o.milliseconds ? 1e6 : 1e3), 3), 16) }
            out += "\n"
        }
        return out
    }

    /// Errno names for -e ("ENOENT" or a number).
    package static func errnoValue(_ text: String) -> Int32? {
        if let n = Int32(text), n > 0 { return n }
        for n in Int32(1)..<134 where ErrnoName.name(n) == text.uppercased() { return n }
        return nil
    }
}
