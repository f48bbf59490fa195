import NetBPF

/// opensnoop: open()/openat() calls with their result (libbpf-tools opensnoop columns).
public enum Opensnoop {
    public struct Options: Sendable {
        public var pid: UInt32?
        public var tid: UInt32?
        public var uid: UInt32?
        public var failedOnly = false
        /// -n: only process names containing this.
        public var name: String?
        public var timestamp = false
        public var printUID = false
        public var extended = false
        public init() {}
    }

    public struct Event: Sendable, Encodable, Equatable {
        public var timestampNs: UInt64
        public var pid: UInt32
        public var tid: UInt32
        public var uid: UInt32
        /// The fd, or -errno.
        public var ret: Int32
        public var flags: Int32
        public var comm: String
        public var path: String
        public var fd: Int32 { ret >= 0 ? ret : -1 }
        public var errno: Int32 { ret >= 0 ? 0 : -ret }
    }

    public static func start(_ o: Options) throws -> ToolSession {
        if let pid = o.pid { try ProcessCheck.require(Int32(bitPattern: pid)) }
        return try ToolSession.start("opensnoop") { spec in
            if let pid = o.pid { try spec.setGlobal("target_pid", to: pid) }
            if let tid = o.tid { try spec.setGlobal("target_tid", to: tid) }
            if let uid = o.uid { try spec.setGlobal("target_uid", to: uid) }
            try spec.setGlobal("failed_only", to: o.failedOnly)
        }
    }

    public static func decode(_ r: UnsafeRawBufferPointer) -> Event {
        Event(timestampNs: r.u64(0), pid: r.u32(8), tid: r.u32(12), uid: r.u32(16), ret: r.i32(20), flags: r.i32(24),
              comm: r.cString(32, max: 16), path: r.cString(48, max: min(256, r.count - 48)))
    }

    public static func matches(_ e: Event, _ o: Options) -> Bool {
        if let n = o.name, !e.comm.hasSubstring(n) { return false }
        return true
    }

    public static func header(_ o: Options) -> String {
        var h = ""
        if o.timestamp { h += pad("TIME(s)", 8) + " " }
        if o.printUID { h += pad("UID", 6) + " " }
        h += pad("PID", 6) + " " + pad("COMM", 16) + " " + leftPad("FD", 3) + " " + leftPad("ERR", 3) + " "
        if o.extended { h += pad("FLAGS", 8) + " " }
        return h + "PATH"
    }

    public static func line(_ e: Event, _ o: Options, startNs: UInt64) -> String {
        var s = ""
        if o.timestamp { s += pad(formatSeconds(e.timestampNs &- startNs), 8) + " " }
        if o.printUID { s += pad(String(e.uid), 6) + " " }
        s += pad(String(e.pid), 6) + " " + pad(e.comm, 16) + " " + leftPad(String(e.fd), 3) + " " + leftPad(String(e.errno), 3) + " "
        if o.extended { s += pad("0" + String(e.flags, radix: 8), 8) + " " }
        return s + e.path
    }
}
