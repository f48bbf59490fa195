import Foundation
import Glibc

/// Swift mirrors of programs/include/tunnel_monitor.h (same sizes and byte order; the typed map
/// views refuse a size mismatch when the maps are opened).

/// `struct tm_key` (72 bytes) as nine words, so it is Hashable and cheap to keep in dictionaries:
/// outer_a, outer_b, inner_a, inner_b (16 bytes each, network order, IPv4 mapped), vni (u32),
/// inner_proto (u16), pad.
public struct TMKey: BitwiseCopyable, Hashable, Sendable {
    var w0: UInt64 = 0, w1: UInt64 = 0, w2: UInt64 = 0, w3: UInt64 = 0
    var w4: UInt64 = 0, w5: UInt64 = 0, w6: UInt64 = 0, w7: UInt64 = 0
    var w8: UInt64 = 0

    public init() {}

    /// The nine words folded with a per-process random seed, then one Hasher round: a
    /// 100,000-entry reading builds its dictionary much faster than with nine rounds. Each fold
    /// step is a bijection of the running value, and the seed is secret, so crafted inner
    /// addresses cannot aim at collisions.
    public func hash(into hasher: inout Hasher) {
        @inline(__always) func step(_ h: UInt64, _ w: UInt64) -> UInt64 {
            var x = (h ^ w ^ TMKey.seed) &* 0xBF58_476D_1CE4_E5B9
            x ^= x >> 31
            return x
        }
        var h = step(0x9E37_79B9_7F4A_7C15, w0)
        h = step(h, w1); h = step(h, w2); h = step(h, w3); h = step(h, w4)
        h = step(h, w5); h = step(h, w6); h = step(h, w7); h = step(h, w8)
        hasher.combine(h)
    }

    static let seed = UInt64.random(in: 0...UInt64.max)

    /// A key from its parts (addresses as 4 or 16 bytes; IPv4 is stored mapped).
    public init(outerA: [UInt8], outerB: [UInt8], innerA: [UInt8], innerB: [UInt8], vni: UInt32, innerProto: UInt16) {
        withUnsafeMutableBytes(of: &self) { raw in
            for (i, a) in [outerA, outerB, innerA, innerB].enumerated() {
                let m = TunnelAddress.mapped(a)
                for j in 0..<16 { raw[i * 16 + j] = m[j] }
            }
            raw.storeBytes(of: vni, toByteOffset: 64, as: UInt32.self)
            raw.storeBytes(of: innerProto, toByteOffset: 68, as: UInt16.self)
        }
    }

    func bytes(at offset: Int) -> [UInt8] { withUnsafeBytes(of: self) { Array($0[offset..<(offset + 16)]) } }
    public var outerA: [UInt8] { bytes(at: 0) }
    public var outerB: [UInt8] { bytes(at: 16) }
    public var innerA: [UInt8] { bytes(at: 32) }
    public var innerB: [UInt8] { bytes(at: 48) }
    public var vni: UInt32 { UInt32(truncatingIfNeeded: w8) }
    public var innerProto: UInt16 { UInt16(truncatingIfNeeded: w8 >> 32) }
}

/// `struct tm_counters`: packets[4], bytes[4], indexed by `TMCell`.
public struct TMCounters: BitwiseCopyable, Equatable, Sendable {
    public var packets: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
    public var bytes: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
    public init() {}

    public static func == (l: TMCounters, r: TMCounters) -> Bool {
        l.packets == r.packets && l.bytes == r.bytes
    }

    public subscript(packets cell: TMCell) -> UInt64 {
        get { withUnsafeBytes(of: packets) { $0.load(fromByteOffset: cell.rawValue * 8, as: UInt64.self) } }
        set { withUnsafeMutableBytes(of: &packets) { $0.storeBytes(of: newValue, toByteOffset: cell.rawValue * 8, as: UInt64.self) } }
    }

    public subscript(bytes cell: TMCell) -> UInt64 {
        get { withUnsafeBytes(of: bytes) { $0.load(fromByteOffset: cell.rawValue * 8, as: UInt64.self) } }
        set { withUnsafeMutableBytes(of: &bytes) { $0.storeBytes(of: newValue, toByteOffset: cell.rawValue * 8, as: UInt64.self) } }
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

    public var txPackets: UInt64 { packets.0 &+ packets.1 }
    public var rxPackets: UInt64 { packets.2 &+ packets.3 }
    public var txBytes: UInt64 { bytes.0 &+ bytes.1 }
    public var rxBytes: UInt64 { bytes.2 &+ bytes.3 }
    public var aToBPackets: UInt64 { packets.0 &+ packets.2 }
    public var bToAPackets: UInt64 { packets.1 &+ packets.3 }
    public var aToBBytes: UInt64 { bytes.0 &+ bytes.2 }
    public var bToABytes: UInt64 { bytes.1 &+ bytes.3 }
    public var totalPackets: UInt64 { txPackets &+ rxPackets }
    public var totalBytes: UInt64 { txBytes &+ rxBytes }
    var isZero: Bool { totalPackets == 0 && totalBytes == 0 }
}

/// `enum tm_cell`: the hook that saw a frame and its direction between the key's endpoints.
public enum TMCell: Int, CaseIterable, Sendable {
    case egressAToB = 0, egressBToA = 1, ingressAToB = 2, ingressBToA = 3
    public var isIngress: Bool { rawValue >= 2 }
    public var fromA: Bool { rawValue % 2 == 0 }
}

/// `struct tm_flood_key` (24 bytes).
public struct TMFloodKey: BitwiseCopyable, Hashable, Sendable {
    var w0: UInt64 = 0, w1: UInt64 = 0, w2: UInt64 = 0
    public init() {}
    public init(group: [UInt8], vni: UInt32) {
        withUnsafeMutableBytes(of: &self) { raw in
            let m = TunnelAddress.mapped(group)
            for j in 0..<16 { raw[j] = m[j] }
            raw.storeBytes(of: vni, toByteOffset: 16, as: UInt32.self)
        }
    }
    public var group: [UInt8] { withUnsafeBytes(of: self) { Array($0[0..<16]) } }
    public var vni: UInt32 { UInt32(truncatingIfNeeded: w2) }
}

/// `struct tm_flood_counters`: [0] egress, [1] ingress.
public struct TMFloodCounters: BitwiseCopyable, Equatable, Sendable {
    public var txPackets: UInt64 = 0, rxPackets: UInt64 = 0, txBytes: UInt64 = 0, rxBytes: UInt64 = 0
    public init() {}
    public init(txPackets: UInt64, rxPackets: UInt64, txBytes: UInt64, rxBytes: UInt64) {
        self.txPackets = txPackets; self.rxPackets = rxPackets; self.txBytes = txBytes; self.rxBytes = rxBytes
    }
    mutating func add(_ o: TMFloodCounters) {
        txPackets &+= o.txPackets; rxPackets &+= o.rxPackets; txBytes &+= o.txBytes; rxBytes &+= o.rxBytes
    }
}

/// `enum tm_stat`: the slots of `struct tm_stats`, with the names used in JSON and /metrics.
public enum TMStat: Int, CaseIterable, Sendable {
    case seen = 0, notVXLAN, counted, flooded, outerFragment
    case outerTruncated, vxlanTruncated, vxlanFlags, innerTruncated, tableFull

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

/// `struct tm_stats` (10 x u64).
public struct TMStats: BitwiseCopyable, Equatable, Sendable {
    public var v: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    public init() {}
    public static func == (l: TMStats, r: TMStats) -> Bool { TMStat.allCases.allSatisfy { l[$0] == r[$0] } }
    public subscript(_ s: TMStat) -> UInt64 {
        get { withUnsafeBytes(of: v) { $0.load(fromByteOffset: s.rawValue * 8, as: UInt64.self) } }
        set { withUnsafeMutableBytes(of: &v) { $0.storeBytes(of: newValue, toByteOffset: s.rawValue * 8, as: UInt64.self) } }
    }
    mutating func add(_ o: TMStats) { for s in TMStat.allCases { self[s] &+= o[s] } }
}

/// `struct tm_config`: up to four VXLAN UDP ports, network byte order.
struct TMConfig: BitwiseCopyable {
    var ports: (UInt16, UInt16, UInt16, UInt16) = (0, 0, 0, 0)
    init(ports: [UInt16]) {
        let p = ports.map { $0.bigEndian } + [0, 0, 0, 0]
        self.ports = (p[0], p[1], p[2], p[3])
    }
}

/// Limits and defaults of programs/include/tunnel_monitor.h.
public enum TMLimits {
    public static let maxPorts = 4
    public static let defaultPort: UInt16 = 4789
    public static let defaultMaxConversations = 65536
}

/// Address formatting and parsing for the monitor's 16-byte addresses.
public enum TunnelAddress {
    /// 16 bytes: IPv4 (4 bytes) mapped to ::ffff:a.b.c.d; 16 bytes as they are.
    public static func mapped(_ a: [UInt8]) -> [UInt8] {
        if a.count == 16 { return a }
        if a.count == 4 { return [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff] + a }
        return [UInt8](repeating: 0, count: 16)
    }

    /// "a.b.c.d" for IPv4-mapped (and all-zero: "0.0.0.0" is not used; zero prints "-"),
    /// RFC 5952 text for IPv6.
    public static func text(_ a: [UInt8]) -> String {
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
    public static func parse(_ text: String) -> [UInt8]? {
        var bytes = [UInt8](repeating: 0, count: 16)
        if inet_pton(AF_INET, text, &bytes) == 1 { return Array(bytes.prefix(4)) }
        if inet_pton(AF_INET6, text, &bytes) == 1 { return bytes }
        return nil
    }

    /// Name of an inner EtherType.
    public static func protoName(_ p: UInt16) -> String {
        switch p {
        case 0x0800: "ipv4"
        case 0x86dd: "ipv6"
        case 0x0806: "arp"
        default: String(format: "0x%04x", p)
        }
    }
}
