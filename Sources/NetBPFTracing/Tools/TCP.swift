import Glibc
import NetBPF

/// TCP states as the kernel numbers them (include/net/tcp_states.h).
package enum TCPState {
    static let names = ["", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT", "CLOSE",
                        "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING", "NEW_SYN_RECV", "BOUND_INACTIVE"]
    /// "ESTABLISHED", "TIME_WAIT", ..., or "UNKNOWN(n)".
    package static func name(_ s: Int32) -> String { s > 0 && Int(s) < names.count ? names[Int(s)] : "UNKNOWN(\(s))" }
}

/// Address text for IPv4 (first 4 bytes) or IPv6.
func addressText(_ bytes: UnsafeRawBufferPointer, family: UInt16) -> String {
    var buf = [CChar](repeating: 0, count: 64)
    let af = family == 10 ? AF_INET6 : AF_INET
    _ = inet_ntop(af, bytes.baseAddress, &buf, socklen_t(buf.count))
    return String(cString: buf)
}

/// Parses "80,443" port lists (-L/-D).
package func parsePorts(_ text: String) throws -> [UInt16] {
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
    /// What to trace and print; the fields are the command's flags.
    public struct Options: Sendable {
        /// -4 / -6: only AF_INET (2) or AF_INET6 (10) sockets.
        public var family: UInt16?  // 2 or 10
        /// -L: only these local ports.
        public var localPorts: [UInt16] = []
        /// -D: only these remote ports.
        public var remotePorts: [UInt16] = []
        /// -T: a column of seconds since the start.
        public var timestamp = false
        /// -w: wide columns as libbpf-tools prints them (addresses 26 wide).
        public var wide = false
        /// Every TCP socket, narrow columns.
        public init() {}
    }

    /// One state change (sock:inet_sock_set_state).
    public struct Event: Sendable, Encodable, Equatable {
        /// The socket's kernel address, which ties the changes of one socket together.
        public var skaddr: UInt64
        /// The process on the CPU when the state changed (often not the socket's owner).
        public var pid: UInt32
        /// That process's command name.
        public var comm: String
        /// AF_INET (2) or AF_INET6 (10).
        public var family: UInt16
        /// The local address, as text.
        public var localAddress: String
        /// The local port.
        public var localPort: UInt16
        /// The remote address, as text.
        public var remoteAddress: String
        /// The remote port.
        public var remotePort: UInt16
        /// The state left ("SYN_SENT").
        public var oldState: String
        /// The state entered ("ESTABLISHED").
        public var newState: String
        /// Time spent in the old state.
        public var milliseconds: Double
        /// bpf_ktime_get_ns() at the change.
        public var timestampNs: UInt64
    }

    /// Compiles, loads and attaches tcpstates (sock:inet_sock_set_state) and fills its port filters.
    /// - Throws: what `ToolSession.start` throws, or a port map update's `BPFError`.
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

    /// Decodes one record of the `events` ring buffer.
    public static func decode(_ r: UnsafeRawBufferPointer) -> Event {
        let family = r.u16(36)
        return Event(skaddr: r.u64(0), pid: r.u32(24), comm: r.cString(76, max: 16), family: family,
                     localAddress: addressText(UnsafeRawBufferPointer(rebasing: r[44..<60]), family: family), localPort: r.u16(38),
                     remoteAddress: addressText(UnsafeRawBufferPointer(rebasing: r[60..<76]), family: family), remotePort: r.u16(40),
                     oldState: TCPState.name(r.i32(28)), newState: TCPState.name(r.i32(32)),
                     milliseconds: Double(r.u64(16)) / 1e6, timestampNs: r.u64(8))
    }

    /// The column header line: SKADDR PID COMM LADDR LPORT RADDR RPORT OLDSTATE -> NEWSTATE MS;
    /// -w as libbpf-tools prints it: COMM 16 wide, an IP column (4 or 6), addresses 26 wide.
    public static func header(_ o: Options) -> String {
        let w = o.wide ? 26 : 15
        return (o.timestamp ? pad("TIME(s)", 8) + " " : "") + pad("SKADDR", 16) + " " + pad("PID", 7) + " "
            + (o.wide ? pad("COMM", 16) + " IP " : pad("COMM", 10) + " ")
            + pad("LADDR", w) + " " + pad("LPORT", 5) + " " + pad("RADDR", w) + " " + pad("RPORT", 5) + " "
            + pad("OLDSTATE", 11) + " -> " + pad("NEWSTATE", 11) + " MS"
    }

    /// One output line under `header(o)`; `startNs` is the time the `timestamp` column counts from.
    public static func line(_ e: Event, _ o: Options, startNs: UInt64) -> String {
        let w = o.wide ? 26 : 15
        let comm = o.wide ? pad(e.comm, 16) + " " + pad(e.family == 10 ? "6" : "4", 2) + " " : pad(String(e.comm.prefix(10)), 10) + " "
        return (o.timestamp ? pad(formatSeconds(e.timestampNs &- startNs), 8) + " " : "") + pad(String(e.skaddr, radix: 16), 16) + " "
            + pad(String(e.pid), 7) + " " + comm + pad(e.localAddress, w) + " " + pad(String(e.localPort), 5) + " "
            + pad(e.remoteAddress, w) + " " + pad(String(e.remotePort), 5) + " " + pad(e.oldState, 11) + " -> " + pad(e.newState, 11) + " "
            + fixed(e.milliseconds, 3)
    }
}

/// tcplife: one line per closed TCP session with bytes each way and its duration.
public enum Tcplife {
    /// What to trace and print; the fields are the command's flags.
    public struct Options: Sendable {
        /// -p: only sessions of this process.
        public var pid: UInt32?
        /// -4 / -6: only AF_INET (2) or AF_INET6 (10) sockets.
        public var family: UInt16?
        /// -L: only these local ports.
        public var localPorts: [UInt16] = []
        /// -D: only these remote ports.
        public var remotePorts: [UInt16] = []
        /// -T: a HH:MM:SS column.
        public var time = false
        /// -w: wide columns as libbpf-tools prints them (addresses 26 wide).
        public var wide = false
        /// Every TCP session, narrow columns.
        public init() {}
    }

    /// One closed TCP session.
    public struct Event: Sendable, Encodable, Equatable {
        /// The process the session is attributed to.
        public var pid: UInt32
        /// Its command name.
        public var comm: String
        /// AF_INET (2) or AF_INET6 (10).
        public var family: UInt16
        /// The local address, as text.
        public var localAddress: String
        /// The local port.
        public var localPort: UInt16
        /// The remote address, as text.
        public var remoteAddress: String
        /// The remote port.
        public var remotePort: UInt16
        /// Bytes sent.
        public var txBytes: UInt64
        /// Bytes received.
        public var rxBytes: UInt64
        /// How long the session lasted.
        public var milliseconds: Double
    }

    /// Compiles, loads and attaches tcplife (sock:inet_sock_set_state) and fills its port filters.
    /// - Throws: `BPFError(.notFound)` for a `pid` that does not exist; what `ToolSession.start` throws.
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

    /// Decodes one record of the `events` ring buffer.
    public static func decode(_ r: UnsafeRawBufferPointer) -> Event {
        let family = r.u16(28)
        return Event(pid: r.u32(24), comm: r.cString(68, max: 16), family: family,
                     localAddress: addressText(UnsafeRawBufferPointer(rebasing: r[36..<52]), family: family), localPort: r.u16(30),
                     remoteAddress: addressText(UnsafeRawBufferPointer(rebasing: r[52..<68]), family: family), remotePort: r.u16(32),
                     txBytes: r.u64(16), rxBytes: r.u64(8), milliseconds: Double(r.u64(0)) / 1e6)
    }

    /// The column header line: PID COMM LADDR LPORT RADDR RPORT TX_KB RX_KB MS.
    public static func header(_ o: Options) -> String {
        let w = o.wide ? 26 : 15  // libbpf-tools' -w width (a full IPv6 address overflows it there too)
        // libbpf-tools' tcplife heads its HH:MM:SS column "TIME(s)": the same header, for scripts.
        return (o.time ? pad("TIME(s)", 8) + " " : "") + pad("PID", 7) + " " + pad("COMM", 16) + " " + pad("LADDR", w) + " " + pad("LPORT", 5) + " "
            + pad("RADDR", w) + " " + pad("RPORT", 5) + " " + pad("TX_KB", 6) + " " + pad("RX_KB", 6) + " MS"
    }

    /// One output line under `header(o)`.
    public static func line(_ e: Event, _ o: Options) -> String {
        let w = o.wide ? 26 : 15
        return (o.time ? pad(Clock.wallTime(), 8) + " " : "") + pad(String(e.pid), 7) + " " + pad(e.comm, 16) + " " + pad(e.localAddress, w) + " "
            + pad(String(e.localPort), 5) + " " + pad(e.remoteAddress, w) + " " + pad(String(e.remotePort), 5) + " "
            + pad(fixed(Double(e.txBytes) / 1024, 2), 6) + " " + pad(fixed(Double(e.rxBytes) / 1024, 2), 6) + " " + fixed(e.milliseconds, 2)
    }
}
