import Glibc
import NetBPF

/// TCP states as the kernel numbers them (include/net/tcp_states.h).
public enum TCPState {
    static let names = ["", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT", "CLOSE",
                        "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING", "NEW_SYN_RECV", "BOUND_INACTIVE"]
    public static func name(_ s: Int32) -> String { s > 0 && Int(s) < names.count ? names[Int(s)] : "UNKNOWN(\(s))" }
}

/// Address text for IPv4 (first 4 bytes) or IPv6.
func addressText(_ bytes: UnsafeRawBufferPointer, family: UInt16) -> String {
    var buf = [CChar](repeating: 0, count: 64)
    let af = family == 10 ? AF_INET6 : AF_INET
    _ = inet_ntop(af, bytes.baseAddress, &buf, socklen_t(buf.count))
    return String(cString: buf)
}

/// Parses "80,443" port lists (-L/-D).
public func parsePorts(_ text: String) throws -> [UInt16] {
    let ports = text.split(separator: ",").map { UInt16(String($0).trimmingCharacters(in: " ")) }
    guard !ports.isEmpty, ports.allSatisfy({ $0 != nil }) else {
        throw BPFError(.invalidArgument, operation: "ports", subject: text, message: "give a comma-separated list of ports (1-65535)")
    }
    return ports.map { $0! }
}

func fillPorts(_ session: ToolSession, _ map: String, _ ports: [UInt16]) throws {
    let m = try session.map(map)
    for var p in ports {
        var one: UInt16 = 1
        try m.update(key: &p, value: &one)
    }
}

/// tcpstates: TCP state changes with the time spent in the old state.
public enum Tcpstates {
    public struct Options: Sendable {
        public var family: UInt16?  // 2 or 10
        public var localPorts: [UInt16] = []
        public var remotePorts: [UInt16] = []
        public var timestamp = false
        public var wide = false
        public init() {}
    }

    public struct Event: Sendable, Encodable, Equatable {
        public var skaddr: UInt64
        public var pid: UInt32
        public var comm: String
        public var family: UInt16
        public var localAddress: String
        public var localPort: UInt16
        public var remoteAddress: String
        public var remotePort: UInt16
        public var oldState: String
        public var newState: String
        public var milliseconds: Double
        public var timestampNs: UInt64
    }

    public static func start(_ o: Options) throws -> ToolSession {
        var sessionRef: ToolSession?
        let s = try ToolSession.start("tcpstates") { spec in
            if let f = o.family { try spec.setGlobal("target_family", to: f) }
            try spec.setGlobal("filter_sport", to: !o.localPorts.isEmpty)
            try spec.setGlobal("filter_dport", to: !o.remotePorts.isEmpty)
        }
        sessionRef = s
        try fillPorts(sessionRef!, "sports", o.localPorts)
        try fillPorts(sessionRef!, "dports", o.remotePorts)
        return s
    }

    public static func decode(_ r: UnsafeRawBufferPointer) -> Event {
        let family = r.u16(36)
        return Event(skaddr: r.u64(0), pid: r.u32(24), comm: r.cString(76, max: 16), family: family,
                     localAddress: addressText(UnsafeRawBufferPointer(rebasing: r[44..<60]), family: family), localPort: r.u16(38),
                     remoteAddress: addressText(UnsafeRawBufferPointer(rebasing: r[60..<76]), family: family), remotePort: r.u16(40),
                     oldState: TCPState.name(r.i32(28)), newState: TCPState.name(r.i32(32)),
                     milliseconds: Double(r.u64(16)) / 1e6, timestampNs: r.u64(8))
    }

    public static func header(_ o: Options) -> String {
        let w = o.wide ? 39 : 15
        return (o.timestamp ? pad("TIME(s)", 8) + " " : "") + pad("SKADDR", 16) + " " + pad("PID", 7) + " " + pad("COMM", 10) + " "
            + pad("LADDR", w) + " " + pad("LPORT", 5) + " " + pad("RADDR", w) + " " + pad("RPORT", 5) + " "
            + pad("OLDSTATE", 11) + " -> " + pad("NEWSTATE", 11) + " MS"
    }

    public static func line(_ e: Event, _ o: Options, startNs: UInt64) -> String {
        let w = o.wide ? 39 : 15
        return (o.timestamp ? pad(formatSeconds(e.timestampNs &- startNs), 8) + " " : "") + pad(String(e.skaddr, radix: 16), 16) + " "
            + pad(String(e.pid), 7) + " " + pad(String(e.comm.prefix(10)), 10) + " " + pad(e.localAddress, w) + " " + pad(String(e.localPort), 5) + " "
            + pad(e.remoteAddress, w) + " " + pad(String(e.remotePort), 5) + " " + pad(e.oldState, 11) + " -> " + pad(e.newState, 11) + " "
            + fixed(e.milliseconds, 3)
    }
}

/// tcplife: one line per closed TCP session with bytes each way and its duration.
public enum Tcplife {
    public struct Options: Sendable {
        public var pid: UInt32?
        public var family: UInt16?
        public var localPorts: [UInt16] = []
        public var remotePorts: [UInt16] = []
        public var time = false
        public var wide = false
        public init() {}
    }

    public struct Event: Sendable, Encodable, Equatable {
        public var pid: UInt32
        public var comm: String
        public var family: UInt16
        public var localAddress: String
        public var localPort: UInt16
        public var remoteAddress: String
        public var remotePort: UInt16
        public var txBytes: UInt64
        public var rxBytes: UInt64
        public var milliseconds: Double
    }

    public static func start(_ o: Options) throws -> ToolSession {
        if let pid = o.pid { try ProcessCheck.require(Int32(bitPattern: pid)) }
        let s = try ToolSession.start("tcplife") { spec in
            if let pid = o.pid { try spec.setGlobal("target_pid", to: pid) }
            if let f = o.family { try spec.setGlobal("target_family", to: f) }
            try spec.setGlobal("filter_sport", to: !o.localPorts.isEmpty)
            try spec.setGlobal("filter_dport", to: !o.remotePorts.isEmpty)
        }
        try fillPorts(s, "sports", o.localPorts)
        try fillPorts(s, "dports", o.remotePorts)
        return s
    }

    public static func decode(_ r: UnsafeRawBufferPointer) -> Event {
        let family = r.u16(28)
        return Event(pid: r.u32(24), comm: r.cString(68, max: 16), family: family,
                     localAddress: addressText(UnsafeRawBufferPointer(rebasing: r[36..<52]), family: family), localPort: r.u16(30),
                     remoteAddress: addressText(UnsafeRawBufferPointer(rebasing: r[52..<68]), family: family), remotePort: r.u16(32),
                     txBytes: r.u64(16), rxBytes: r.u64(8), milliseconds: Double(r.u64(0)) / 1e6)
    }

    public static func header(_ o: Options) -> String {
        let w = o.wide ? 39 : 15
        return (o.time ? pad("TIME", 8) + " " : "") + pad("PID", 7) + " " + pad("COMM", 16) + " " + pad("LADDR", w) + " " + pad("LPORT", 5) + " "
            + pad("RADDR", w) + " " + pad("RPORT", 5) + " " + pad("TX_KB", 6) + " " + pad("RX_KB", 6) + " MS"
    }

    public static func line(_ e: Event, _ o: Options) -> String {
        let w = o.wide ? 39 : 15
        return (o.time ? pad(Clock.wallTime(), 8) + " " : "") + pad(String(e.pid), 7) + " " + pad(e.comm, 16) + " " + pad(e.localAddress, w) + " "
            + pad(String(e.localPort), 5) + " " + pad(e.remoteAddress, w) + " " + pad(String(e.remotePort), 5) + " "
            + pad(fixed(Double(e.txBytes) / 1024, 2), 6) + " " + pad(fixed(Double(e.rxBytes) / 1024, 2), 6) + " " + fixed(e.milliseconds, 2)
    }
}
