import NetBPF

/// tcpretrans: TCP retransmissions, BCC's tcpretrans columns and options, from
/// tcp:tcp_retransmit_skb (4.15+).
public enum Tcpretrans {
    /// What to trace and print; the fields are the command's flags.
    public struct Options: Sendable {
        /// -4 / -6: only AF_INET (2) or AF_INET6 (10) sockets.
        public var family: UInt16?
        /// -s: a SEQ column (the retransmitted segment's first sequence number).
        public var sequence = false
        /// -c: count retransmits per flow instead of printing each.
        public var count = false
        /// Every retransmit, BCC's default columns.
        public init() {}
    }

    /// One retransmitted segment.
    public struct Event: Sendable, Encodable, Equatable {
        /// bpf_ktime_get_ns() at the retransmission.
        public var timestampNs: UInt64
        /// The process on the CPU (often 0: retransmits run from timers).
        public var pid: UInt32
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
        /// The socket's state ("ESTABLISHED", "SYN_SENT").
        public var state: String
        /// The segment's first sequence number.
        public var sequence: UInt32
    }

    /// One row of -c: retransmits of one flow.
    public struct Count: Sendable, Encodable, Equatable {
        /// The local address, as text.
        public var localAddress: String
        /// The local port.
        public var localPort: UInt16
        /// The remote address, as text.
        public var remoteAddress: String
        /// The remote port.
        public var remotePort: UInt16
        /// How many retransmits.
        public var retransmits: UInt64
    }

    /// Compiles, loads and attaches tcpretrans.
    /// - Throws: what `ToolSession.start` throws.
    public static func start(_ o: Options) throws -> ToolSession {
        try ToolSession.start("tcpretrans") { spec in
            if let f = o.family { try spec.setGlobal("target_family", to: f) }
            try spec.setGlobal("do_count", to: o.count)
        }
    }

    /// Decodes one record of the `events` ring buffer.
    public static func decode(_ r: UnsafeRawBufferPointer) -> Event {
        let family = r.u16(20)
        return Event(timestampNs: r.u64(0), pid: r.u32(8), family: family,
                     localAddress: addressText(UnsafeRawBufferPointer(rebasing: r[32..<48]), family: family), localPort: r.u16(22),
                     remoteAddress: addressText(UnsafeRawBufferPointer(rebasing: r[48..<64]), family: family), remotePort: r.u16(24),
                     state: TCPState.name(r.i32(12)), sequence: r.u32(16))
    }

    /// Reads (and with `clear`, empties) the -c counts, fewest first, as BCC sorts them.
    public static func counts(_ session: ToolSession, clear: Bool = false) throws -> [Count] {
        let map = try session.map("counts")
        var rows: [Count] = []
        for entry in try map.dump() {
            rows.append(entry.key.withUnsafeBytes { k in
                entry.value.withUnsafeBytes { v in
                    Count(localAddress: addressText(UnsafeRawBufferPointer(rebasing: k[8..<24]), family: k.u16(0)), localPort: k.u16(2),
                          remoteAddress: addressText(UnsafeRawBufferPointer(rebasing: k[24..<40]), family: k.u16(0)), remotePort: k.u16(4),
                          retransmits: v.u64(0))
                }
            })
            if clear { _ = try map.delete(key: entry.key) }
        }
        return rows.sorted { ($0.retransmits, $0.localPort) < ($1.retransmits, $1.localPort) }
    }

    /// The column header: TIME PID IP LADDR:LPORT T> RADDR:RPORT STATE [SEQ], BCC's widths.
    public static func header(_ o: Options) -> String {
        pad("TIME", 8) + " " + pad("PID", 7) + " " + pad("IP", 2) + " " + pad("LADDR:LPORT", 20) + " T> " + pad("RADDR:RPORT", 20) + " "
            + (o.sequence ? pad("STATE", 12) + " SEQ" : "STATE")
    }

    /// One output line under `header(o)`; T is R (retransmit), as in BCC.
    public static func line(_ e: Event, _ o: Options) -> String {
        pad(Clock.wallTime(), 8) + " " + pad(String(e.pid), 7) + " " + pad(e.family == 10 ? "6" : "4", 2) + " "
            + pad("\(e.localAddress):\(e.localPort)", 20) + " R> " + pad("\(e.remoteAddress):\(e.remotePort)", 20) + " "
            + (o.sequence ? pad(e.state, 12) + " " + String(e.sequence) : e.state)
    }

    /// The -c report as BCC prints it at Ctrl-C: a blank line, the header, one row per flow.
    public static func format(_ rows: [Count]) -> String {
        var out = "\n" + pad("LADDR:LPORT", 25) + " " + pad("RADDR:RPORT", 25) + " RETRANSMITS\n"
        for r in rows {
            out += pad("[\(r.localAddress)]#\(r.localPort)", 20) + " <-> " + pad("[\(r.remoteAddress)]#\(r.remotePort)", 20) + " "
                + leftPad(String(r.retransmits), 10) + "\n"
        }
        return out
    }
}
