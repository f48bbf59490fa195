import Foundation
import Glibc
import NetBPF
import Synchronization

/// drops: packets the kernel dropped (skb:kfree_skb, 5.17+ for the reason), counted in the kernel
/// by reason, location, namespace, interface, protocol and addresses (Tools/drops/drops.bpf.c).
/// The table lives in a BPF hash map that user space reads when it reports; nothing crosses per
/// packet, so a drop storm costs a map update per packet and no wake-ups.
public enum Drops {
    /// What to count.
    public struct Options: Sendable {
        /// Only drops in the network namespace with this inode (`--netns`).
        public var netnsInode: UInt32?
        /// A pcap expression ("udp port 53"), run in the kernel on the dropped packet.
        public var filter: String?
        /// Keep source ports in the key (one row per flow instead of per destination port).
        public var byFlow = false
        /// Every drop, one row per reason/location/place/protocol/addresses/destination port.
        public init() {}
    }

    /// One row of the kernel's table (struct drop_key in drops.bpf.c, 80 bytes).
    public struct Key: Hashable, Sendable {
        /// The kernel text address that freed the packet (the tracepoint's `location`).
        public var location: UInt64
        /// The `enum skb_drop_reason` value.
        public var reason: UInt32
        /// The network namespace's inode, 0 when neither a device nor a socket said.
        public var netns: UInt32
        /// The device's index in that namespace, 0 without a device.
        public var ifindex: Int32
        /// skb->protocol (0x0800, 0x86dd, 0x0806 ...).
        public var l3proto: UInt16
        /// IPPROTO_* for IPv4/IPv6.
        public var l4proto: UInt8
        /// 4, 6, or 0 when the packet was not IP.
        public var family: UInt8
        /// Source port (0 unless `byFlow`).
        public var sport: UInt16
        /// Destination port (TCP, UDP).
        public var dport: UInt16
        /// Source address (4 or 16 bytes).
        public var source: [UInt8]
        /// Destination address.
        public var destination: [UInt8]
        /// The device's name when the packet was dropped.
        public var ifname: String

        static let size = 80

        /// Decodes struct drop_key.
        package init(_ b: UnsafeRawBufferPointer) {
            location = b.u64(0); reason = b.u32(8); netns = b.u32(12); ifindex = b.i32(16)
            l3proto = b.u16(20); l4proto = b.u8(22); family = b.u8(23); sport = b.u16(24); dport = b.u16(26)
            let n = family == 6 ? 16 : 4
            source = Array(b[28..<(28 + n)]); destination = Array(b[44..<(44 + n)])
            ifname = b.cString(60, max: 16)
        }
    }

    /// Packets and bytes of one row, and when the last was dropped (bpf_ktime_get_ns).
    public struct Count: Sendable, Equatable {
        /// Packets dropped.
        public var packets: UInt64
        /// Their bytes (skb->len when dropped).
        public var bytes: UInt64
        /// bpf_ktime_get_ns() at the last drop.
        public var lastNs: UInt64
    }

    /// Compiles (the filter makes a distinct program, cached like the rest), loads and attaches
    /// drops on skb:kfree_skb.
    /// - Throws: `BPFError(.invalidArgument)` for a pcap expression libpcap rejects; what
    ///   compiling, loading and attaching throw (`ToolSession.start`).
    public static func start(_ o: Options) throws -> ToolSession {
        var transform: ((String) throws -> String)?
        if let expression = o.filter, !expression.trimmingCharacters(in: .whitespaces).isEmpty {
            let function = try PcapToC.function(ClassicFilter.compile(pcap: expression))
            transform = { try PcapToC.insert(function, into: $0) }
        }
        return try ToolSession.start("drops", transforming: transform) { spec in
            if let ns = o.netnsInode { try spec.setGlobal("target_netns", to: ns) }
            try spec.setGlobal("keep_sport", to: o.byFlow)
        }
    }

    /// The kernel's table now.
    /// - Throws: the `BPFError` of reading the map.
    public static func snapshot(_ session: ToolSession) throws -> [Key: Count] {
        var out: [Key: Count] = [:]
        for e in try session.map("drops").dump() where e.key.count == Key.size && e.value.count >= 24 {
            let key = e.key.withUnsafeBytes { Key($0) }
            let value = e.value.withUnsafeBytes { Count(packets: $0.u64(0), bytes: $0.u64(8), lastNs: $0.u64(16)) }
            out[key] = value
        }
        return out
    }

    /// Drops that matched but found the table full (not in any row), and every drop the
    /// program ran on (matched or not).
    public static func counters(_ session: ToolSession) -> (tableFull: UInt64, seen: UInt64) {
        guard let m = try? session.map("counters"), let a = try? ArrayMap<UInt64>(m) else { return (0, 0) }
        return ((try? a.get(0)) ?? 0, (try? a.get(1)) ?? 0)
    }
}

/// Names of `enum skb_drop_reason`, read from the running kernel's BTF ("NO_SOCKET" for
/// SKB_DROP_REASON_NO_SOCKET), so renamed and added reasons are right on any kernel.
public enum DropReasons {
    private static let cache = Mutex<[Int64: String]?>(nil)

    /// Value -> name without the SKB_DROP_REASON_ prefix; empty when the kernel has no BTF.
    public static func all() -> [Int64: String] {
        cache.withLock { cached in
            if let cached { return cached }
            var names: [Int64: String] = [:]
            for (v, n) in (try? BTFEnums.values(of: "skb_drop_reason")) ?? [:] {
                names[v] = n.hasPrefix("SKB_DROP_REASON_") ? String(n.dropFirst("SKB_DROP_REASON_".count)) : n
            }
            cached = names
            return names
        }
    }

    /// The reason's name; a subsystem reason (high 16 bits set, e.g. mac80211's) or an unknown
    /// value is shown as "SUBSYS<n>:<code>" / "REASON<n>".
    public static func name(_ reason: UInt32) -> String {
        if let n = all()[Int64(reason)] { return n }
        if reason >> 16 != 0 { return "SUBSYS\(reason >> 16):\(reason & 0xffff)" }
        return "REASON\(reason)"
    }

    /// The value of a name ("NO_SOCKET" or "SKB_DROP_REASON_NO_SOCKET"), nil when unknown.
    public static func value(_ name: String) -> UInt32? {
        let n = name.uppercased().hasPrefix("SKB_DROP_REASON_") ? String(name.uppercased().dropFirst(16)) : name.uppercased()
        return all().first { $0.value == n }.map { UInt32(truncatingIfNeeded: $0.key) }
    }
}
