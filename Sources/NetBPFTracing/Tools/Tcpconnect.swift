import NetBPF

/// tcpconnect: active TCP connects, BCC's tcpconnect columns and options, on tracepoints
/// (sock:inet_sock_set_state, syscalls:sys_exit_connect, tcp:tcp_retransmit_skb).
public enum Tcpconnect {
    /// What to trace and print; the fields are the command's flags.
    public struct Options: Sendable {
        /// -p: only connects made by this process.
        public var pid: UInt32?
        /// -u: only connects made by this user.
        public var uid: UInt32?
        /// -4 / -6: only AF_INET (2) or AF_INET6 (10) sockets.
        public var family: UInt16?
        /// -P: only these destination ports.
        public var ports: [UInt16] = []
        /// -t: a TIME(s) column, seconds since the first event.
        public var timestamp = false
        /// -U: a UID column.
        public var printUID = false
        /// -L: an LPORT column.
        public var localPort = false
        /// -c: count connects per source, destination and port instead of printing each.
        public var count = false
        /// Every connect, BCC's default columns.
        public init() {}
    }

    /// One connect.
    public struct Event: Sendable, Encodable, Equatable {
        /// bpf_ktime_get_ns() when the socket entered SYN_SENT.
        public var timestampNs: UInt64
        /// The connecting process.
        public var pid: UInt32
        /// Its user.
        public var uid: UInt32
        /// Its command name.
        public var comm: String
        /// AF_INET (2) or AF_INET6 (10).
        public var family: UInt16
        /// The source address, as text.
        public var sourceAddress: String
        /// The source (local) port.
        public var sourcePort: UInt16
        /// The destination address, as text.
        public var destinationAddress: String
        /// The destination port.
        public var destinationPort: UInt16
    }

    /// One row of -c: connects from a source to a destination and port.
    public struct Count: Sendable, Encodable, Equatable {
        /// The source address, as text.
        public var sourceAddress: String
        /// The destination address, as text.
        public var destinationAddress: String
        /// The destination port.
        public var destinationPort: UInt16
        /// How many connects.
        public var connects: UInt64
    }

    /// Compiles, loads and attaches tcpconnect and fills its port filter.
    /// - Throws: `BPFError(.notFound)` for a `pid` that does not exist; what `ToolSession.start`
    ///   throws, or a port map update's `BPFError`.
    public static func start(_ o: Options) throws -> ToolSession {
        if let pid = o.pid { try ProcessCheck.require(Int32(bitPattern: pid)) }
        let s = try ToolSession.start("tcpconnect") { spec in
            if let pid = o.pid { try spec.setGlobal("target_pid", to: pid) }
            if let uid = o.uid { try spec.setGlobal("filter_uid", to: true); try spec.setGlobal("target_uid", to: uid) }
            if let f = o.family { try spec.setGlobal("target_family", to: f) }
            try spec.setGlobal("filter_dport", to: !o.ports.isEmpty)
            try spec.setGlobal("do_count", to: o.count)
        }
        try fillPorts(s, "dports", o.ports)
        return s
    }

    /// Decodes one record of the `events` ring buffer.
    public static func decode(_ r: UnsafeRawBufferPointer) -> Event {
        let family = r.u16(16)
        return Event(timestampNs: r.u64(0), pid: r.u32(8), uid: r.u32(12), comm: r.cString(56, max: 16), family: family,
                     sourceAddress: addressText(UnsafeRawBufferPointer(rebasing: r[24..<40]), family: family), sourcePort: r.u16(18),
                     destinationAddress: addressText(UnsafeRawBufferPointer(rebasing: r[40..<56]), family: family),
                     destinationPort: r.u16(20))
    }

    /// Reads (and with `clear`, empties) the -c counts, most connects first, as BCC sorts them.
    public static func counts(_ session: ToolSession, clear: Bool = false) throws -> [Count] {
        let map = try session.map("counts")
        var rows: [Count] = []
        for entry in try map.dump() {
            let row = entry.key.withUnsafeBytes { k in
                entry.value.withUnsafeBytes { v in
                    Count(sourceAddress: addressText(UnsafeRawBufferPointer(rebasing: k[8..<24]), family: k.u16(0)),
                          destinationAddress: addressText(UnsafeRawBufferPointer(rebasing: k[24..<40]), family: k.u16(0)),
                          destinationPort: k.u16(2), connects: v.u64(0))
                }
            }
            rows.append(row)
            if clear { _ = try map.delete(key: entry.key) }
        }
        return rows.sorted { ($0.connects, $1.sourceAddress, $1.destinationPort) > ($1.connects, $0.sourceAddress, $0.destinationPort) }
    }

    /// The column header: [TIME(s)] [UID] PID COMM IP SADDR [LPORT] DADDR DPORT, BCC's widths.
    public static func header(_ o: Options) -> String {
        (o.timestamp ? pad("TIME(s)", 9) : "") + (o.printUID ? pad("UID", 6) : "") + pad("PID", 7) + " " + pad("COMM", 12) + " "
            + pad("IP", 2) + " " + pad("SADDR", 16) + " " + (o.localPort ? pad("LPORT", 6) + " " : "") + pad("DADDR", 16) + " " + "DPORT"
    }

    /// One output line under `header(o)`; `startNs` is the first event's time (the TIME(s) origin).
    public static func line(_ e: Event, _ o: Options, startNs: UInt64) -> String {
        let seconds = Double(Int64(bitPattern: e.timestampNs &- startNs)) / 1e9
        return (o.timestamp ? pad(fixed(seconds, 3), 9) : "") + (o.printUID ? pad(String(e.uid), 6) : "") + pad(String(e.pid), 7) + " "
            + pad(String(e.comm.prefix(12)), 12) + " " + pad(e.family == 10 ? "6" : "4", 2) + " " + pad(e.sourceAddress, 16) + " "
            + (o.localPort ? pad(String(e.sourcePort), 6) + " " : "") + pad(e.destinationAddress, 16) + " " + String(e.destinationPort)
    }

    /// The -c report as BCC prints it at Ctrl-C: a blank line, the LADDR RADDR RPORT CONNECTS
    /// header, one row per flow.
    public static func format(_ rows: [Count]) -> String {
        var out = "\n" + pad("LADDR", 25) + " " + pad("RADDR", 25) + " " + pad("RPORT", 20) + " CONNECTS\n"
        for r in rows {
            out += pad(r.sourceAddress, 25) + " " + pad(r.destinationAddress, 25) + " " + pad(String(r.destinationPort), 20) + " " + String(r.connects) + "\n"
        }
        return out
    }
}
