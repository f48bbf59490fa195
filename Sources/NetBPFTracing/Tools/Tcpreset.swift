import NetBPF
import Synchronization

/// tcpreset: TCP resets sent and received (tcp:tcp_send_reset, tcp:tcp_receive_reset), with
/// the socket's state and, for sent ones, the kernel's reason. BCC has no such tool; the
/// columns follow tcpretrans/tcpdrop (TIME PID IP LADDR:LPORT ... RADDR:RPORT STATE).
public enum Tcpreset {
    /// What to trace and print; the fields are the command's flags.
    public struct Options: Sendable {
        /// -4 / -6: only AF_INET (2) or AF_INET6 (10) sockets.
        public var family: UInt16?
        /// -L: only these local ports.
        public var localPorts: [UInt16] = []
        /// -D: only these remote ports.
        public var remotePorts: [UInt16] = []
        /// Resets this host sends (`--sent` alone turns received ones off).
        public var sent = true
        /// Resets this host receives (`--received` alone turns sent ones off).
        public var received = true
        /// Both directions, every port.
        public init() {}
    }

    /// One reset.
    public struct Event: Sendable, Encodable, Equatable {
        /// bpf_ktime_get_ns() at the reset.
        public var timestampNs: UInt64
        /// The process on the CPU (often 0 or unrelated: resets go out from softirq).
        public var pid: UInt32
        /// That process's command name.
        public var comm: String
        /// "sent" or "received".
        public var direction: String
        /// AF_INET (2) or AF_INET6 (10).
        public var family: UInt16
        /// This host's address, as text.
        public var localAddress: String
        /// This host's port.
        public var localPort: UInt16
        /// The peer's address, as text.
        public var remoteAddress: String
        /// The peer's port.
        public var remotePort: UInt16
        /// The socket's state ("SYN_SENT"), "-" when no socket (a segment to a closed port).
        public var state: String
        /// Why the kernel sent it (enum sk_rst_reason without the prefix: "NO_SOCKET",
        /// "TCP_ABORT_ON_CLOSE", ...); "-" for received resets and before 6.10.
        public var reason: String
    }

    /// Compiles, loads and attaches tcpreset and fills its port filters. The record layout of
    /// tcp:tcp_send_reset is read from tracefs (it changed in 6.10).
    /// - Throws: `BPFError(.invalidArgument)` when both directions are off; what
    ///   `ToolSession.start` throws, or a port map update's `BPFError`.
    public static func start(_ o: Options) throws -> ToolSession {
        guard o.sent || o.received else {
            throw BPFError(.invalidArgument, operation: "tcpreset", message: "nothing to trace", hint: "give --sent or --received, not both off")
        }
        let format = try Tracefs.format(category: "tcp", event: "tcp_send_reset")
        let old = format.field(named: "reason") == nil
        if old && format.field(named: "family") == nil {
            throw BPFError(.unsupported, operation: "tcpreset", subject: "tcp:tcp_send_reset",
                           message: "this kernel's tcp_send_reset record has no address family field", hint: "Linux 5.6 or later is needed")
        }
        let s = try ToolSession.start("tcpreset") { spec in
            if let f = o.family { try spec.setGlobal("target_family", to: f) }
            try spec.setGlobal("old_send_layout", to: old)
            try spec.setGlobal("trace_sent", to: o.sent)
            try spec.setGlobal("trace_received", to: o.received)
            try spec.setGlobal("filter_lport", to: !o.localPorts.isEmpty)
            try spec.setGlobal("filter_rport", to: !o.remotePorts.isEmpty)
        }
        try fillPorts(s, "lports", o.localPorts)
        try fillPorts(s, "rports", o.remotePorts)
        return s
    }

    /// Decodes one record of the `events` ring buffer.
    public static func decode(_ r: UnsafeRawBufferPointer) -> Event {
        let family = r.u16(22), received = r.u8(20) != 0, state = r.i32(12)
        return Event(timestampNs: r.u64(0), pid: r.u32(8), comm: r.cString(64, max: 16), direction: received ? "received" : "sent",
                     family: family,
                     localAddress: addressText(UnsafeRawBufferPointer(rebasing: r[32..<48]), family: family), localPort: r.u16(24),
                     remoteAddress: addressText(UnsafeRawBufferPointer(rebasing: r[48..<64]), family: family), remotePort: r.u16(26),
                     state: state == 0 ? "-" : TCPState.name(state), reason: received ? "-" : ResetReasons.name(r.u32(16)))
    }

    /// The column header: TIME PID IP LADDR:LPORT DIR RADDR:RPORT STATE REASON.
    public static func header() -> String {
        pad("TIME", 8) + " " + pad("PID", 7) + " " + pad("IP", 2) + " " + pad("LADDR:LPORT", 20) + " " + pad("DIR", 3) + " "
            + pad("RADDR:RPORT", 20) + " " + pad("STATE", 12) + " REASON"
    }

    /// One output line under `header()`: DIR is "out" for a reset sent, "in" for one received.
    public static func line(_ e: Event) -> String {
        pad(Clock.wallTime(), 8) + " " + pad(String(e.pid), 7) + " " + pad(e.family == 10 ? "6" : "4", 2) + " "
            + pad("\(e.localAddress):\(e.localPort)", 20) + " " + pad(e.direction == "sent" ? "out" : "in", 3) + " "
            + pad("\(e.remoteAddress):\(e.remotePort)", 20) + " " + pad(e.state, 12) + " " + e.reason
    }
}

/// Names of `enum sk_rst_reason` (6.10+), read from the running kernel's BTF ("NO_SOCKET" for
/// SK_RST_REASON_NO_SOCKET).
enum ResetReasons {
    private static let cache = Mutex<[Int64: String]?>(nil)

    static func all() -> [Int64: String] {
        cache.withLock { cached in
            if let cached { return cached }
            var names: [Int64: String] = [:]
            for (v, n) in (try? BTFEnums.values(of: "sk_rst_reason")) ?? [:] {
                names[v] = n.hasPrefix("SK_RST_REASON_") ? String(n.dropFirst("SK_RST_REASON_".count)) : n
            }
            cached = names
            return names
        }
    }

    /// The reason's name; "-" on a kernel without the enum, "REASONn" for an unknown value.
    static func name(_ value: UInt32) -> String {
        let names = all()
        return names[Int64(value)] ?? (names.isEmpty ? "-" : "REASON\(value)")
    }
}
