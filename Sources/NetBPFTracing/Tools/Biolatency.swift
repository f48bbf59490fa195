import NetBPF

/// biolatency: block I/O latency histograms; bitesize: block I/O size histograms.
public enum Biolatency {
    /// What to measure; the fields are the command's flags.
    public struct Options: Sendable {
        /// -D: a histogram per disk.
        public var perDisk = false
        /// -F: a histogram per set of request flags (libbpf-tools' names: "Sync-Write", "Read").
        public var perFlag = false
        /// -m: milliseconds instead of microseconds.
        public var milliseconds = false
        /// -Q: from block_rq_insert, so time queued in the OS counts too.
        public var queued = false
        /// -T: a timestamp on each report.
        public var timestamp = false
        /// Only this disk ("vda").
        public var disk: String?
        /// bitesize: request sizes in KB instead of latency, one histogram per issuing command.
        public var sizes = false
        /// bitesize -c: only requests issued by this command (at most 15 bytes are compared, the
        /// kernel's comm length).
        public var comm: String?
        /// -c: only tasks under this cgroup v2 directory (libbpf-tools' -c CGROUP).
        public var cgroup: String?
        /// Latency of every disk in one histogram, in microseconds.
        public init() {}
    }

    /// One histogram of a report.
    public struct Entry: Sendable, Encodable, Equatable {
        /// The disk ("vda", or "MAJOR:MINOR" when it has no name); nil without `perDisk`.
        public var disk: String?
        /// bitesize: the command that issued the requests; nil for biolatency.
        public var comm: String?
        /// With `perFlag`: the requests' flags as libbpf-tools names them ("Sync-Write").
        public var flags: String?
        /// The counts, unit "usecs", "msecs" or "Kbytes".
        public var histogram: Log2Histogram
    }

    static let slots = 27

    /// Compiles, loads and attaches biolatency (block:block_rq_issue/complete, and
    /// block_rq_insert with `queued`).
    /// - Throws: `BPFError(.notFound)` for a `disk` not in /sys/class/block; what `ToolSession.start` throws; for `cgroup`, what `CgroupFilter.start` throws.
    public static func start(_ o: Options) throws -> ToolSession {
        var dev: UInt32 = 0
        if let disk = o.disk {
            guard let d = BlockDevices.number(of: disk) else {
                throw BPFError(.notFound, operation: "biolatency", subject: disk, message: "no such block device (not in /sys/class/block)")
            }
            dev = d
        }
        return try CgroupFilter.start(o.cgroup) { cg in try ToolSession.start("biolatency", skipAttach: o.queued ? [] : ["biolatency_insert"]) { spec in
            try spec.setGlobal("filter_cg", to: cg)
            if !o.queued { try spec.setAutoload(false, forProgram: "biolatency_insert") }
            try spec.setGlobal("per_disk", to: o.perDisk)
            try spec.setGlobal("per_flag", to: o.perFlag)
            try spec.setGlobal("in_millis", to: o.milliseconds)
            try spec.setGlobal("from_insert", to: o.queued)
            try spec.setGlobal("sizes", to: o.sizes)
            try spec.setGlobal("target_dev", to: dev)
            if let c = o.comm { try spec.setGlobal("target_comm", to: commBytes(c)) }
        } }
    }

    /// A command name as the kernel's 16-byte comm: at most 15 bytes, NUL-padded.
    static func commBytes(_ name: String) -> (UInt64, UInt64) {
        var out: (UInt64, UInt64) = (0, 0)
        withUnsafeMutableBytes(of: &out) { dst in
            for (i, b) in name.utf8.prefix(15).enumerated() { dst[i] = b }
        }
        return out
    }

    /// Reads and clears the histograms (the `hists` map; `size_hists` per command for bitesize),
    /// sorted by disk or command.
    /// - Throws: `BPFError` from the map dump or delete.
    public static func collect(_ session: ToolSession, _ o: Options) throws -> [Entry] {
        if o.sizes { return try collectSizes(session) }
        let map = try session.map("hists")
        var out: [Entry] = []
        let unit = o.sizes ? "Kbytes" : o.milliseconds ? "msecs" : "usecs"
        for entry in try map.dump() {
            let dev = entry.key.withUnsafeBytes { $0.u32(0) }
            let rwbs = entry.key.withUnsafeBytes { $0.cString(8, max: 16) }
            let slots = entry.value.withUnsafeBytes { r in (0..<Self.slots).map { UInt64(r.u32($0 * 4)) } }
            out.append(Entry(disk: o.perDisk ? BlockDevices.name(of: dev) : nil,
                             flags: o.perFlag ? RequestFlags.name(rwbs: rwbs) : nil,
                             histogram: Log2Histogram(unit: unit, slots: slots)))
            _ = try map.delete(key: entry.key)
        }
        return out.sorted { ($0.disk ?? "", $0.flags ?? "") < ($1.disk ?? "", $1.flags ?? "") }
    }

    /// bitesize's histograms, keyed by the issuing command's comm.
    static func collectSizes(_ session: ToolSession) throws -> [Entry] {
        let map = try session.map("size_hists")
        var out: [Entry] = []
        for entry in try map.dump() {
            let comm = entry.key.withUnsafeBytes { $0.cString(0, max: 16) }
            let slots = entry.value.withUnsafeBytes { r in (0..<Self.slots).map { UInt64(r.u32($0 * 4)) } }
            out.append(Entry(comm: comm, histogram: Log2Histogram(unit: "Kbytes", slots: slots)))
            _ = try map.delete(key: entry.key)
        }
        return out.sorted { ($0.comm ?? "") < ($1.comm ?? "") }
    }

    /// The report as BCC prints it: a "disk = NAME" line before each disk's histogram, and for
    /// bitesize a "Process Name = COMM" line before each command's (libbpf-tools' layout).
    public static func format(_ entries: [Entry], _ o: Options) -> String {
        var out = ""
        for e in entries {
            if let d = e.disk { out += "\ndisk = \(d)" + (e.flags == nil ? "\n" : "\t") }
            if let f = e.flags { out += "flags = \(f)\n" }
            if let c = e.comm { out += "\nProcess Name = \(c)\n" }
            out += e.histogram.formatted(libbpfTools: true)
        }
        return out
    }
}

/// A block request's flags named as libbpf-tools' biolatency -F prints them, from the letters the
/// block tracepoints carry (`rwbs`, blk_fill_rwbs): a leading F is PreFlush; then the operation
/// (R Read, W Write, D Discard, DE SecureErase, F Flush, N anything else); then F FUA, A
/// ReadAhead, S Sync, M Metadata. libbpf-tools reads `cmd_flags` itself (BTF tracepoints); the
/// plain tracepoints give only these letters, so NoWait, Background, Integrity, Idle, NoMerge and
/// Priority cannot be shown.
enum RequestFlags {
    static func name(rwbs: String) -> String {
        var letters = Array(rwbs)
        var preflush = false
        if letters.count >= 2, letters[0] == "F", "RWDNF".contains(letters[1]) {
            preflush = true
            letters.removeFirst()
        }
        guard let op = letters.first else { return "Unknown" }
        letters.removeFirst()
        var operation: String
        switch op {
        case "R": operation = "Read"
        case "W": operation = "Write"
        case "F": operation = "Flush"
        case "D":
            operation = "Discard"
            if letters.first == "E" { operation = "SecureErase"; letters.removeFirst() }
        default: operation = "Unknown"
        }
        let present = Set(letters)
        // libbpf-tools' order: ReadAhead, PreFlush, FUA, ..., Metadata, Sync, then the operation.
        var out = ""
        if present.contains("A") { out += "ReadAhead-" }
        if preflush { out += "PreFlush-" }
        if present.contains("F") { out += "FUA-" }
        if present.contains("M") { out += "Metadata-" }
        if present.contains("S") { out += "Sync-" }
        return out + operation
    }
}

/// Block device names and the kernel's dev_t (major << 20 | minor) used in block tracepoints.
enum BlockDevices {
    static func number(of name: String) -> UInt32? {
        guard let text = readTextFile("/sys/class/block/\(name)/dev") else { return nil }
        let parts = text.trimmingCharacters(in: " \n").split(separator: ":").compactMap { UInt32($0) }
        guard parts.count == 2 else { return nil }
        return parts[0] << 20 | parts[1]
    }

    static func name(of dev: UInt32) -> String {
        let major = dev >> 20, minor = dev & 0xfffff
        if let text = readTextFile("/sys/dev/block/\(major):\(minor)/uevent") {
            for line in text.split(separator: "\n") where line.hasPrefix("DEVNAME=") { return String(line.dropFirst(8)) }
        }
        return "\(major):\(minor)"
    }
}
