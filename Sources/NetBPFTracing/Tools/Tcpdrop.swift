import NetBPF

/// tcpdrop: TCP segments the kernel drops, BCC's tcpdrop columns, from skb:kfree_skb (5.17+,
/// with its drop reason) instead of a kprobe on tcp_drop() (gone since 5.19 anyway).
public enum Tcpdrop {
    /// What to trace and print; the fields are the command's flags.
    public struct Options: Sendable {
        /// -4 / -6: only IPv4 or IPv6 packets.
        public var family: UInt16?
        /// Kernel stacks under each line, as BCC prints them (off: `--no-stack`).
        public var stacks = true
        /// Every TCP drop, with stacks.
        public init() {}
    }

    /// One dropped segment.
    public struct Event: Sendable, Encodable, Equatable {
        /// bpf_ktime_get_ns() at the drop.
        public var timestampNs: UInt64
        /// The process on the CPU (often unrelated: receive drops happen in softirq).
        public var pid: UInt32
        /// AF_INET (2) or AF_INET6 (10).
        public var family: UInt16
        /// The packet's source address, as text.
        public var sourceAddress: String
        /// Its source port.
        public var sourcePort: UInt16
        /// The packet's destination address, as text.
        public var destinationAddress: String
        /// Its destination port.
        public var destinationPort: UInt16
        /// The state of the packet's socket; "-" when it had none.
        public var state: String
        /// TCP flags as BCC writes them ("SYN", "PSH|ACK").
        public var flags: String
        /// The drop reason (enum skb_drop_reason, from the kernel's BTF: "NO_SOCKET").
        public var reason: String
        /// Where the kernel freed it ("tcp_v4_rcv+0x1a2").
        public var location: String
        /// The kernel stack of the drop, innermost first (empty without stacks).
        public var stack: [String]
    }

    /// Compiles, loads and attaches tcpdrop.
    /// - Throws: `BPFError(.unsupported)` on a kernel whose skb:kfree_skb has no drop reason
    ///   (before 5.17); what `ToolSession.start` throws.
    public static func start(_ o: Options) throws -> ToolSession {
        let format = try Tracefs.format(category: "skb", event: "kfree_skb")
        if format.field(named: "reason") == nil {
            throw BPFError(.unsupported, operation: "tcpdrop", subject: "skb:kfree_skb",
                           message: "this kernel's kfree_skb tracepoint has no drop reason", hint: "Linux 5.17 or later is needed")
        }
        return try ToolSession.start("tcpdrop") { spec in
            if let f = o.family { try spec.setGlobal("target_family", to: f) }
            try spec.setGlobal("with_stacks", to: o.stacks)
        }
    }

    /// Decodes records, symbolizing locations and stacks. Not thread-safe: it caches the
    /// kernel's symbols; use it from the polling thread.
    public final class Decoder {
        let stacks: StackTraceMap?
        lazy var symbols: KernelSymbols? = try? KernelSymbols()

        /// A decoder for `session`'s records.
        public init(_ session: ToolSession) { stacks = try? StackTraceMap(session.map("stacks")) }

        /// Decodes one record of the `events` ring buffer.
        public func decode(_ r: UnsafeRawBufferPointer) -> Event {
            let family = r.u16(32), state = r.i32(20), stackID = r.i32(28)
            var frames: [String] = []
            if stackID >= 0, let addresses = try? stacks?.addresses(stackID) {
                frames = addresses.map { symbols?.describe($0) ?? String($0, radix: 16) }
            }
            let location = r.u64(8)
            return Event(timestampNs: r.u64(0), pid: r.u32(16), family: family,
                         sourceAddress: addressText(UnsafeRawBufferPointer(rebasing: r[40..<56]), family: family), sourcePort: r.u16(34),
                         destinationAddress: addressText(UnsafeRawBufferPointer(rebasing: r[56..<72]), family: family),
                         destinationPort: r.u16(36), state: state == 0 ? "-" : TCPState.name(state), flags: Tcpdrop.flags(r.u8(38)),
                         reason: DropReasons.name(r.u32(24)), location: symbols?.describe(location) ?? String(location, radix: 16),
                         stack: frames)
        }
    }

    /// TCP flags in BCC's order and spelling, joined by "|".
    public static func flags(_ f: UInt8) -> String {
        let names = ["FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"]
        return (0..<8).filter { f & (1 << $0) != 0 }.map { names[$0] }.joined(separator: "|")
    }

    /// The column header: TIME PID IP SADDR:SPORT > DADDR:DPORT STATE (FLAGS), BCC's widths.
    public static func header() -> String {
        pad("TIME", 8) + " " + pad("PID", 7) + " " + pad("IP", 2) + " " + pad("SADDR:SPORT", 20) + " > " + pad("DADDR:DPORT", 20) + " STATE (FLAGS)"
    }

    /// One event as BCC prints it: the line, then a tab-indented kernel frame per line, then
    /// an empty line (the last line of the result is empty).
    public static func text(_ e: Event) -> String {
        var out = pad(Clock.wallTime(), 8) + " " + pad(String(e.pid), 7) + " " + pad(e.family == 10 ? "6" : "4", 2) + " "
            + pad("\(e.sourceAddress):\(e.sourcePort)", 20) + " > " + pad("\(e.destinationAddress):\(e.destinationPort)", 20) + " "
            + e.state + " (" + e.flags + ")\n"
        for f in e.stack { out += "\t" + f + "\n" }
        return out + "\n"
    }
}
