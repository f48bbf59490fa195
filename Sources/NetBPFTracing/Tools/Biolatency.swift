import NetBPF

/// biolatency: block I/O latency histograms; bitesize: block I/O size histograms.
public enum Biolatency {
    public struct Options: Sendable {
        public var perDisk = false
        public var milliseconds = false
        public var queued = false
        public var timestamp = false
        /// Only this disk ("vda").
        public var disk: String?
        /// bitesize: request sizes in KB instead of latency.
        public var sizes = false
        public init() {}
    }

    public struct Entry: Sendable, Encodable, Equatable {
        public var disk: String?
        public var histogram: Log2Histogram
    }

    static let slots = 27

    public static func start(_ o: Options) throws -> ToolSession {
        var dev: UInt32 = 0
        if let disk = o.disk {
            guard let d = BlockDevices.number(of: disk) else {
                throw BPFError(.notFound, operation: "biolatency", subject: disk, message: "no such block device (not in /sys/class/block)")
            }
            dev = d
        }
        return try ToolSession.start("biolatency", skipAttach: o.queued ? [] : ["biolatency_insert"]) { spec in
            if !o.queued { try spec.setAutoload(false, forProgram: "biolatency_insert") }
            try spec.setGlobal("per_disk", to: o.perDisk)
            try spec.setGlobal("in_millis", to: o.milliseconds)
            try spec.setGlobal("from_insert", to: o.queued)
            try spec.setGlobal("sizes", to: o.sizes)
            try spec.setGlobal("target_dev", to: dev)
        }
    }

    public static func collect(_ session: ToolSession, _ o: Options) throws -> [Entry] {
        let map = try session.map("hists")
        var out: [Entry] = []
        let unit = o.sizes ? "Kbytes" : o.milliseconds ? "msecs" : "usecs"
        for entry in try map.dump() {
            let key = entry.key.withUnsafeBytes { $0.u32(0) }
            let slots = entry.value.withUnsafeBytes { r in (0..<Self.slots).map { UInt64(r.u32($0 * 4)) } }
            out.append(Entry(disk: o.perDisk ? BlockDevices.name(of: key) : nil, histogram: Log2Histogram(unit: unit, slots: slots)))
            _ = try map.delete(key: entry.key)
        }
        return out.sorted { ($0.disk ?? "") < ($1.disk ?? "") }
    }

    public static func format(_ entries: [Entry], _ o: Options) -> String {
        var out = ""
        for e in entries {
            if let d = e.disk { out += "\ndisk = \(d)\n" }
            out += e.histogram.formatted()
        }
        return out
    }
}

/// Block device names and the kernel's dev_t (major << 20 | minor) used in block tracepoints.
public enum BlockDevices {
    public static func number(of name: String) -> UInt32? {
        guard let text = readTextFile("/sys/class/block/\(name)/dev") else { return nil }
        let parts = text.trimmingCharacters(in: " \n").split(separator: ":").compactMap { UInt32($0) }
        guard parts.count == 2 else { return nil }
        return parts[0] << 20 | parts[1]
    }

    public static func name(of dev: UInt32) -> String {
        let major = dev >> 20, minor = dev & 0xfffff
        if let text = readTextFile("/sys/dev/block/\(major):\(minor)/uevent") {
            for line in text.split(separator: "\n") where line.hasPrefix("DEVNAME=") { return String(line.dropFirst(8)) }
        }
        return "\(major):\(minor)"
    }
}
