import Foundation
import Glibc
internal import CNetBPFProgramTypes

/// The keys and values of programs/tunnel_monitor.bpf.c are the structs of
/// programs/include/tunnel_monitor.h, imported through CNetBPFProgramTypes. The public types
/// below each hold one of them as their only stored property (so they have its layout, and the
/// typed map views and batch dumps read them directly) and add what Swift needs: Hashable keys,
/// named counters, arithmetic.

/// Keys are equal when every byte is, the pad included (the BPF side zeroes it).
private func sameBytes<T: BitwiseCopyable>(_ a: T, _ b: T) -> Bool {
    withUnsafeBytes(of: a) { x in withUnsafeBytes(of: b) { y in memcmp(x.baseAddress!, y.baseAddress!, x.count) == 0 } }
}

/// `struct tm_key` (72 bytes): outer_a, outer_b, inner_a, inner_b (16 bytes each, network order,
/// IPv4 mapped), vni (u32), inner_proto (u16), pad.
public struct TMKey: BitwiseCopyable, Hashable, Sendable {
    var raw = tm_key()

    /// An all-zero key.
    public init() {}

    /// The key's nine 8-byte words, folded with a per-process random seed, then one Hasher round:
    /// a 100,000-entry reading builds its dictionary much faster than with nine rounds. Each fold
    /// step is a bijection of the running value, and the seed is secret, so crafted inner
    /// addresses cannot aim at collisions.
    public func hash(into hasher: inout Hasher) {
        @inline(__always) func step(_ h: UInt64, _ w: UInt64) -> UInt64 {
            var x = (h ^ w ^ TMKey.seed) &* 0xBF58_476D_1CE4_E5B9
            x ^= x >> 31
            return x
        }
        let h = withUnsafeBytes(of: raw) { b in
            var h: UInt64 = 0x9E37_79B9_7F4A_7C15
            for i in 0..<Self.words { h = step(h, b.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)) }
            return h
        }
        hasher.combine(h)
    }

    /// Equal when every byte is.
    public static func == (l: TMKey, r: TMKey) -> Bool { sameBytes(l.raw, r.raw) }

    static let words = MemoryLayout<tm_key>.size / 8
    static let seed = UInt64.random(in: 0...UInt64.max)

    /// A key from its parts (addresses as 4 or 16 bytes; IPv4 is stored mapped).
    public init(outerA: [UInt8], outerB: [UInt8], innerA: [UInt8], innerB: [UInt8], vni: UInt32, innerProto: UInt16) {
        func store<T>(_ a: [UInt8], _ field: inout T) {
            let m = TunnelAddress.mapped(a)
            withUnsafeMutableBytes(of: &field) { for j in 0..<16 { $0[j] = m[j] } }
        }
        store(outerA, &raw.outer_a); store(outerB, &raw.outer_b)
        store(innerA, &raw.inner_a); store(innerB, &raw.inner_b)
        raw.vni = vni
        raw.inner_proto = innerProto
    }

    /// Outer address of endpoint a (the lower one), 16 bytes, IPv4 mapped.
    public var outerA: [UInt8] { withUnsafeBytes(of: raw.outer_a) { Array($0) } }
    /// Outer address of endpoint b, 16 bytes.
    public var outerB: [UInt8] { withUnsafeBytes(of: raw.outer_b) { Array($0) } }
    /// Inner address on a's side, 16 bytes (zero for non-IP).
    public var innerA: [UInt8] { withUnsafeBytes(of: raw.inner_a) { Array($0) } }
    /// Inner address on b's side, 16 bytes.
    public var innerB: [UInt8] { withUnsafeBytes(of: raw.inner_b) { Array($0) } }
    /// The VXLAN network identifier.
    public var vni: UInt32 { raw.vni }
    /// The inner frame's EtherType (0x0800, 0x86dd, 0x0806, ...).
    public var innerProto: UInt16 { raw.inner_proto }
}

/// `struct tm_counters`: packets[4], bytes[4], indexed by `TMCell`.
public struct TMCounters: BitwiseCopyable, Equatable, Sendable {
    var raw = tm_counters()
    /// All zero.
    public init() {}

    /// Frames per cell, in `TMCell` order.
    public var packets: (UInt64, UInt64, UInt64, UInt64) {
        get { raw.packets }
        set { raw.packets = newValue }
    }
    /// Bytes per cell, in `TMCell` order.
    public var bytes: (UInt64, UInt64, UInt64, UInt64) {
        get { raw.bytes }
        set { raw.bytes = newValue }
    }

    /// Equal when every counter is.
    public static func == (l: TMCounters, r: TMCounters) -> Bool {
        l.packets == r.packets && l.bytes == r.bytes
    }

    /// Frames of one cell.
    public subscript(packets cell: TMCell) -> UInt64 {
        get { withUnsafeBytes(of: raw.packets) { $0.loadUnaligned(fromByteOffset: cell.rawValue * 8, as: UInt64.self) } }
        set { withUnsafeMutableBytes(of: &raw.packets) { $0.storeBytes(of: newValue, toByteOffset: cell.rawValue * 8, as: UInt64.self) } }
    }

    /// Bytes of one cell.
    public subscript(bytes cell: TMCell) -> UInt64 {
        get { withUnsafeBytes(of: raw.bytes) { $0.loadUnaligned(fromByteOffset: cell.rawValue * 8, as: UInt64.self) } }
        set { withUnsafeMutableBytes(of: &raw.bytes) { $0.storeBytes(of: newValue, toByteOffset: cell.rawValue * 8, as: UInt64.self) } }
    }

    /// Adds another CPU's (or sample's) counters.
    mutating func add(_ o: TMCounters) {
        packets = (packets.0 &+ o.packets.0, packets.1 &+ o.packets.1, packets.2 &+ o.packets.2, packets.3 &+ o.packets.3)
        bytes = (bytes.0 &+ o.bytes.0, bytes.1 &+ o.bytes.1, bytes.2 &+ o.bytes.2, bytes.3 &+ o.bytes.3)
    }

    /// self - earlier (a counter that went backwards, i.e. an entry re-created, counts from 0).
    func minus(_ e: TMCounters) -> TMCounters {
        func d(_ a: UInt64, _ b: UInt64) -> UInt64 { a >= b ? a - b : a }
        var r = TMCounters()
        r.packets = (d(packets.0, e.packets.0), d(packets.1, e.packets.1), d(packets.2, e.packets.2), d(packets.3, e.packets.3))
        r.bytes = (d(bytes.0, e.bytes.0), d(bytes.1, e.bytes.1), d(bytes.2, e.bytes.2), d(bytes.3, e.bytes.3))
        return r
    }

    /// Frames sent out of the interface (egress hook).
    public var txPackets: UInt64 { packets.0 &+ packets.1 }
    /// Frames received on the interface (ingress hook).
    public var rxPackets: UInt64 { packets.2 &+ packets.3 }
    /// Bytes sent out of the interface.
    public var txBytes: UInt64 { bytes.0 &+ bytes.1 }
    /// Bytes received on the interface.
    public var rxBytes: UInt64 { bytes.2 &+ bytes.3 }
    /// Frames from a to b, both hooks.
    public var aToBPackets: UInt64 { packets.0 &+ packets.2 }
    /// Frames from b to a, both hooks.
    public var bToAPackets: UInt64 { packets.1 &+ packets.3 }
    /// Bytes from a to b.
    public var aToBBytes: UInt64 { bytes.0 &+ bytes.2 }
    /// Bytes from b to a.
    public var bToABytes: UInt64 { bytes.1 &+ bytes.3 }
    /// Every frame of the conversation.
    public var totalPackets: UInt64 { txPackets &+ rxPackets }
    /// Every byte of the conversation.
    public var totalBytes: UInt64 { txBytes &+ rxBytes }
    var isZero: Bool { totalPackets == 0 && totalBytes == 0 }
}

/// `enum tm_cell`: the hook that saw a frame and its direction between the key's endpoints (a
/// unit test checks the raw values against the C enum).
public enum TMCell: Int, CaseIterable, Sendable {
    /// Sent out of the interface a to b (TM_EGRESS_A_TO_B); b to a; received a to b; received b to a.
    case egressAToB = 0, egressBToA = 1, ingressAToB = 2, ingressBToA = 3
    /// True for the ingress hook's cells (received).
    public var isIngress: Bool { rawValue >= 2 }
    /// True for the a-to-b cells.
    public var isFromA: Bool { rawValue % 2 == 0 }
}

/// `struct tm_flood_key` (24 bytes): group[16], vni, pad.
public struct TMFloodKey: BitwiseCopyable, Hashable, Sendable {
    var raw = tm_flood_key()
    /// An all-zero key.
    public init() {}
    /// A key from a group address (4 or 16 bytes; IPv4 is stored mapped) and a VNI.
    public init(group: [UInt8], vni: UInt32) {
        let m = TunnelAddress.mapped(group)
        withUnsafeMutableBytes(of: &raw.group) { for j in 0..<16 { $0[j] = m[j] } }
        raw.vni = vni
    }
    /// The outer destination group, 16 bytes, IPv4 mapped.
    public var group: [UInt8] { withUnsafeBytes(of: raw.group) { Array($0) } }
    /// The VXLAN network identifier.
    public var vni: UInt32 { raw.vni }

    /// Equal when every byte is.
    public static func == (l: TMFloodKey, r: TMFloodKey) -> Bool { sameBytes(l.raw, r.raw) }
    /// Hashes every byte of the key.
    public func hash(into hasher: inout Hasher) { withUnsafeBytes(of: raw) { hasher.combine(bytes: $0) } }
}

/// `struct tm_flood_counters`: packets[2], bytes[2]; [0] egress (tx), [1] ingress (rx).
public struct TMFloodCounters: BitwiseCopyable, Equatable, Sendable {
    var raw = tm_flood_counters()
    /// All zero.
    public init() {}
    /// Counters from their values.
    public init(txPackets: UInt64, rxPackets: UInt64, txBytes: UInt64, rxBytes: UInt64) {
        raw = tm_flood_counters(packets: (txPackets, rxPackets), bytes: (txBytes, rxBytes))
    }
    /// Flooded frames sent out of the interface.
    public var txPackets: UInt64 { get { raw.packets.0 } set { raw.packets.0 = newValue } }
    /// Flooded frames received on it.
    public var rxPackets: UInt64 { get { raw.packets.1 } set { raw.packets.1 = newValue } }
    /// Bytes of the frames sent.
    public var txBytes: UInt64 { get { raw.bytes.0 } set { raw.bytes.0 = newValue } }
    /// Bytes of the frames received.
    public var rxBytes: UInt64 { get { raw.bytes.1 } set { raw.bytes.1 = newValue } }

    /// Equal when every counter is.
    public static func == (l: TMFloodCounters, r: TMFloodCounters) -> Bool { l.raw.packets == r.raw.packets && l.raw.bytes == r.raw.bytes }

    mutating func add(_ o: TMFloodCounters) {
        txPackets &+= o.txPackets; rxPackets &+= o.rxPackets; txBytes &+= o.txBytes; rxBytes &+= o.rxBytes
    }
}

/// `enum tm_stat`: the slots of `struct tm_stats`, with the names used in JSON and /metrics (a
/// unit test checks the raw values against the C enum).
public enum TMStat: Int, CaseIterable, Sendable {
    /// Frames seen, ignored (not VXLAN), counted, flooded, outer fragments (TM_STAT_*).
    case seen = 0, notVXLAN, counted, flooded, outerFragment
    /// Error slots: why a VXLAN-looking frame was not counted (TM_ERR_*).
    case outerTruncated, vxlanTruncated, vxlanFlags, innerTruncated, tableFull

    /// The slot's name in JSON and /metrics ("not_vxlan", "table_full", ...).
    public var name: String {
        switch self {
        case .seen: "seen"
        case .notVXLAN: "not_vxlan"
        case .counted: "counted"
        case .flooded: "flooded"
        case .outerFragment: "outer_fragment"
        case .outerTruncated: "outer_truncated"
        case .vxlanTruncated: "vxlan_truncated"
        case .vxlanFlags: "vxlan_flags"
        case .innerTruncated: "inner_truncated"
        case .tableFull: "table_full"
        }
    }

    /// Error slots: a frame that looked like VXLAN but was not counted.
    public var isError: Bool { rawValue >= TMStat.outerTruncated.rawValue }
}

/// `struct tm_stats`: one u64 per `TMStat` (TM_STAT_COUNT slots).
public struct TMStats: BitwiseCopyable, Equatable, Sendable {
    var raw = tm_stats()
    /// All zero.
    public init() {}
    /// Equal when every slot is.
    public static func == (l: TMStats, r: TMStats) -> Bool { TMStat.allCases.allSatisfy { l[$0] == r[$0] } }
    /// The counter of slot `s`.
    public subscript(_ s: TMStat) -> UInt64 {
        get { withUnsafeBytes(of: raw.v) { $0.loadUnaligned(fromByteOffset: s.rawValue * 8, as: UInt64.self) } }
        set { withUnsafeMutableBytes(of: &raw.v) { $0.storeBytes(of: newValue, toByteOffset: s.rawValue * 8, as: UInt64.self) } }
    }
    mutating func add(_ o: TMStats) { for s in TMStat.allCases { self[s] &+= o[s] } }
}

extension tm_config {
    /// Up to TM_MAX_PORTS VXLAN UDP ports, stored in network byte order.
    init(ports: [UInt16]) {
        self.init()
        withUnsafeMutableBytes(of: &self.ports) { raw in
            for (i, p) in ports.prefix(Int(TM_MAX_PORTS)).enumerated() { raw.storeBytes(of: p.bigEndian, toByteOffset: i * 2, as: UInt16.self) }
        }
    }
}

/// Limits and defaults of programs/include/tunnel_monitor.h.
public enum TMLimits {
    /// VXLAN UDP ports one monitor counts at most (TM_MAX_PORTS).
    public static let maxPorts = Int(TM_MAX_PORTS)
    /// 4789, IANA's VXLAN port (TM_DEFAULT_PORT).
    public static let defaultPort = UInt16(TM_DEFAULT_PORT)
    /// Conversations the table holds unless asked otherwise (TM_DEFAULT_MAX_CONVERSATIONS).
    public static let defaultMaxConversations = Int(TM_DEFAULT_MAX_CONVERSATIONS)
}

/// Address formatting and parsing for the monitor's 16-byte addresses.
package enum TunnelAddress {
    /// 16 bytes: IPv4 (4 bytes) mapped to ::ffff:a.b.c.d; 16 bytes as they are.
    package static func mapped(_ a: [UInt8]) -> [UInt8] {
        if a.count == 16 { return a }
        if a.count == 4 { return [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff] + a }
        return [UInt8](repeating: 0, count: 16)
    }

    /// "a.b.c.d" for IPv4-mapped (and all-zero: "0.0.0.0" is not used; zero prints "-"),
    /// RFC 5952 text for IPv6.
    package static func text(_ a: [UInt8]) -> String {
        precondition(a.count == 16)
        if a.allSatisfy({ $0 == 0 }) { return "-" }
        if a[0..<10].allSatisfy({ $0 == 0 }) && a[10] == 0xff && a[11] == 0xff {
            return "\(a[12]).\(a[13]).\(a[14]).\(a[15])"
        }
        var buf = [CChar](repeating: 0, count: 64)
        _ = a.withUnsafeBytes { inet_ntop(AF_INET6, $0.baseAddress, &buf, socklen_t(buf.count)) }
        return String(cString: buf)
    }

    /// 4 or 16 bytes from text, nil if it is not an address.
    package static func parse(_ text: String) -> [UInt8]? {
        var bytes = [UInt8](repeating: 0, count: 16)
        if inet_pton(AF_INET, text, &bytes) == 1 { return Array(bytes.prefix(4)) }
        if inet_pton(AF_INET6, text, &bytes) == 1 { return bytes }
        return nil
    }

    /// Name of an inner EtherType.
    package static func protoName(_ p: UInt16) -> String {
        switch p {
        case 0x0800: "ipv4"
        case 0x86dd: "ipv6"
        case 0x0806: "arp"
        default: String(format: "0x%04x", p)
        }
    }
}
