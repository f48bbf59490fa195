import NetBPF

/// tcpaccept: TCP connections accepted by processes, BCC's tcpaccept columns and options, on
/// syscalls:sys_exit_accept/accept4 (the new socket found through the returned fd).
public enum Tcpaccept {
    /// What to trace and print; the fields are the command's flags.
    public struct Options: Sendable {
        /// -p: only accepts by this process.
        public var pid: UInt32?
        /// -4 / -6: only AF_INET (2) or AF_INET6 (10) sockets.
        public var family: UInt16?
        /// -P: only these local ports.
        public var ports: [UInt16] = []
        /// -T: a TIME column (HH:MM:SS).
        public var time = false
        /// -t: a TIME(s) column, seconds since the first event.
        public var timestamp = false
        /// Every accept, BCC's default columns.
        public init() {}
    }

    /// One accepted connection.
    public struct Event: Sendable, Encodable, Equatable {
        /// bpf_ktime_get_ns() when accept returned.
        public var timestampNs: UInt64
        /// The accepting process.
        public var pid: UInt32
        /// Its command name.
        public var comm: String
        /// AF_INET (2) or AF_INET6 (10).
        public var family: UInt16
        /// The remote address, as text.
        public var remoteAddress: String
        /// The remote port.
        public var remotePort: UInt16
        /// The local address, as text.
        public var localAddress: String
        /// The local (listening) port.
        public var localPort: UInt16
    }

    /// Compiles, loads and attaches tcpaccept and fills its port filter.
    /// - Throws: `BPFError(.notFound)` for a `pid` that does not exist; what `ToolSession.start`
    ///   throws, or a port map update's `BPFError`.
    public static func start(_ o: Options) throws -> ToolSession {
        if let pid = o.pid { try ProcessCheck.require(Int32(bitPattern: pid)) }
        let s = try ToolSession.start("tcpaccept") { spec in
            if let pid = o.pid { try spec.setGlobal("target_pid", to: pid) }
            if let f = o.family { try spec.setGlobal("target_family", to: f) }
            try spec.setGlobal("filter_lport", to: !o.ports.isEmpty)
        }
        try fillPorts(s, "lports", o.ports)
        return s
    }

    /// Decodes one record of the `events` ring buffer.
    public static func decode(_ r: UnsafeRawBufferPointer) -> Event {
        let family = r.u16(12)
        return Event(timestampNs: r.u64(0), pid: r.u32(8), comm: r.cString(56, max: 16), family: family,
                     remoteAddress: addressText(UnsafeRawBufferPointer(rebasing: r[40..<56]), family: family), remotePort: r.u16(16),
                     localAddress: addressText(UnsafeRawBufferPointer(rebasing: r[24..<40]), family: family), localPort: r.u16(14))
    }

    /// The column header: [TIME] [TIME(s)] PID COMM IP RADDR RPORT LADDR LPORT, BCC's widths.
    public static func header(_ o: Options) -> String {
        (o.time ? pad("TIME", 9) : "") + (o.timestamp ? pad("TIME(s)", 9) : "") + pad("PID", 7) + " " + pad("COMM", 12) + " "
            + pad("IP", 2) + " " + pad("RADDR", 16) + " " + pad("RPORT", 5) + " " + pad("LADDR", 16) + " LPORT"
    }

    /// One output line under `header(o)`; `startNs` is the first event's time (the TIME(s) origin).
    public static func line(_ e: Event, _ o: Options, startNs: UInt64) -> String {
        let seconds = Double(Int64(bitPattern: e.timestampNs &- startNs)) / 1e9
        return (o.time ? pad(Clock.wallTime(), 9) : "") + (o.timestamp ? pad(fixed(seconds, 3), 9) : "") + pad(String(e.pid), 7) + " "
            + pad(String(e.comm.prefix(12)), 12) + " " + pad(e.family == 10 ? "6" : "4", 2) + " " + pad(e.remoteAddress, 16) + " "
            + pad(String(e.remotePort), 5) + " " + pad(e.localAddress, 16) + " " + String(e.localPort)
    }
}
