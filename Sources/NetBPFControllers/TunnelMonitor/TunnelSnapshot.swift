import Foundation

/// Packets and bytes.
public struct TunnelCounter: Codable, Sendable, Equatable {
    /// Frames.
    public var packets: UInt64
    /// Bytes (outer frames as the hook saw them).
    public var bytes: UInt64
    /// A counter pair.
    public init(packets: UInt64, bytes: UInt64) { self.packets = packets; self.bytes = bytes }
}

/// One conversation as reports show it. "a" is the endpoint with the lower outer address;
/// tx = sent out of the monitored interface (egress hook), rx = received on it (ingress hook).
public struct TunnelConversation: Codable, Sendable, Equatable {
    /// The four counters of a conversation: by hook (egress, ingress) and direction (a to b, b to a).
    public struct Cells: Codable, Sendable, Equatable {
        /// Sent out of the interface, a to b.
        public var egressAToB: TunnelCounter
        /// Sent out of the interface, b to a.
        public var egressBToA: TunnelCounter
        /// Received on the interface, a to b.
        public var ingressAToB: TunnelCounter
        /// Received on the interface, b to a.
        public var ingressBToA: TunnelCounter
    }
    /// The VXLAN network identifier.
    public var vni: UInt32
    /// Outer (underlay) address of endpoint a.
    public var outerA: String
    /// Outer address of endpoint b.
    public var outerB: String
    /// Inner (tenant) address on a's side ("-" for non-IP).
    public var innerA: String
    /// Inner address on b's side.
    public var innerB: String
    /// Inner EtherType: "ipv4", "ipv6", "arp" or hex.
    public var innerProto: String
    /// Frames sent out of the interface.
    public var txPackets: UInt64
    /// Bytes sent out of the interface.
    public var txBytes: UInt64
    /// Frames received on the interface.
    public var rxPackets: UInt64
    /// Bytes received on the interface.
    public var rxBytes: UInt64
    /// Frames from a to b, both hooks.
    public var aToBPackets: UInt64
    /// Bytes from a to b.
    public var aToBBytes: UInt64
    /// Frames from b to a, both hooks.
    public var bToAPackets: UInt64
    /// Bytes from b to a.
    public var bToABytes: UInt64
    /// The four underlying counters.
    public var cells: Cells
    /// Rates over the last interval (bits are bytes x 8, frames as counted).
    public var txBitsPerSecond: Double
    /// Received bits per second.
    public var rxBitsPerSecond: Double
    /// Sent frames per second.
    public var txPacketsPerSecond: Double
    /// Received frames per second.
    public var rxPacketsPerSecond: Double
    /// Bits per second from a to b.
    public var aToBBitsPerSecond: Double
    /// Bits per second from b to a.
    public var bToABitsPerSecond: Double
}

/// Totals of one VNI (or of everything).
public struct TunnelVNISummary: Codable, Sendable, Equatable {
    /// The VNI (nil in the totals over every VNI).
    public var vni: UInt32?
    /// Conversations counted.
    public var conversations: Int
    /// Frames sent out of the interface.
    public var txPackets: UInt64 = 0
    /// Bytes sent out of the interface.
    public var txBytes: UInt64 = 0
    /// Frames received on the interface.
    public var rxPackets: UInt64 = 0
    /// Bytes received on the interface.
    public var rxBytes: UInt64 = 0
    /// Sent bits per second over the last interval.
    public var txBitsPerSecond: Double = 0
    /// Received bits per second over the last interval.
    public var rxBitsPerSecond: Double = 0
    /// Sent frames per second over the last interval.
    public var txPacketsPerSecond: Double = 0
    /// Received frames per second over the last interval.
    public var rxPacketsPerSecond: Double = 0
}

/// Flooded frames of one VNI and outer destination group (never in the conversations).
public struct TunnelFlood: Codable, Sendable, Equatable {
    /// The VNI.
    public var vni: UInt32
    /// The outer destination (multicast or broadcast) address.
    public var group: String
    /// Frames sent out of the interface.
    public var txPackets: UInt64
    /// Bytes sent out of the interface.
    public var txBytes: UInt64
    /// Frames received on the interface.
    public var rxPackets: UInt64
    /// Bytes received on the interface.
    public var rxBytes: UInt64
}

/// What happened to the frames the programs saw (TMStat's non-error slots).
public struct TunnelFrames: Codable, Sendable, Equatable {
    /// Every frame the programs ran on (TM_STAT_SEEN).
    public var seen: UInt64
    /// Not IPv4/IPv6 UDP to a VXLAN port: ignored.
    public var notVxlan: UInt64
    /// Counted in a conversation.
    public var counted: UInt64
    /// Counted in floods instead.
    public var flooded: UInt64
    /// Fragments of an outer UDP datagram (not attributable).
    public var outerFragment: UInt64
    init(_ s: TMStats) {
        seen = s[.seen]; notVxlan = s[.notVXLAN]; counted = s[.counted]; flooded = s[.flooded]; outerFragment = s[.outerFragment]
    }
}

/// Frames that looked like VXLAN and were not counted, by reason (TMStat's error slots).
public struct TunnelErrors: Codable, Sendable, Equatable {
    /// Outer Ethernet, VLAN, IP or UDP header cut short (or too deep).
    public var outerTruncated: UInt64
    /// UDP to a VXLAN port with the VXLAN header cut short.
    public var vxlanTruncated: UInt64
    /// VXLAN header without the I (valid VNI) flag.
    public var vxlanFlags: UInt64
    /// Inner Ethernet, VLAN, IP or ARP header cut short.
    public var innerTruncated: UInt64
    /// Not counted because the conversations map was full.
    public var tableFull: UInt64
    init(_ s: TMStats) {
        outerTruncated = s[.outerTruncated]; vxlanTruncated = s[.vxlanTruncated]; vxlanFlags = s[.vxlanFlags]
        innerTruncated = s[.innerTruncated]; tableFull = s[.tableFull]
    }
    /// All errors together.
    public var total: UInt64 { outerTruncated + vxlanTruncated + vxlanFlags + innerTruncated + tableFull }
}

/// Rates of every VNI at one moment.
public struct TunnelHistoryPoint: Codable, Sendable, Equatable {
    /// One VNI's rates.
    public struct VNIRate: Codable, Sendable, Equatable {
        /// The VNI.
        public var vni: UInt32
        /// Sent bits per second.
        public var txBitsPerSecond: Double
        /// Received bits per second.
        public var rxBitsPerSecond: Double
        /// Frames per second, both directions.
        public var packetsPerSecond: Double
    }
    /// Unix time of the sample.
    public var time: Double
    /// Every VNI's rates, by VNI.
    public var vnis: [VNIRate]
}

/// What is written to --json-dir, served as /api/snapshot and /events, and read by
/// `netbpf tunnel-monitor report`. kind "snapshot": counters since the monitor was attached;
/// kind "delta": counters of the last interval, only conversations that changed.
public struct TunnelSnapshot: Codable, Sendable {
    /// "snapshot" (counters since attach) or "delta" (the last interval only).
    public var kind: String
    /// The format's version (1).
    public var version: Int = 1
    /// The monitored interface.
    public var interface: String
    /// Its network namespace (nil: the caller's).
    public var namespace: String?
    /// Unix time of the sample, and the same as ISO 8601 UTC.
    public var time: Double
    /// `time` in ISO 8601 UTC.
    public var isoTime: String
    /// Seconds since the previous sample (what rates and deltas cover).
    public var intervalSeconds: Double
    /// The VXLAN UDP ports counted.
    public var ports: [UInt16]
    /// max_entries of the conversations map and the conversations in it.
    public var capacity: Int
    /// Conversations in the map.
    public var conversationCount: Int
    /// Conversations below, when fewer than conversationCount (limited, or delta).
    public var includedConversations: Int
    /// Totals over every VNI.
    public var totals: TunnelVNISummary
    /// Per VNI, by VNI.
    public var vnis: [TunnelVNISummary]
    /// The conversations included, busiest first.
    public var conversations: [TunnelConversation]
    /// Flooded frames per VNI and group.
    public var floods: [TunnelFlood]
    /// Frames seen, ignored (not VXLAN), counted, flooded, outer fragments.
    public var frames: TunnelFrames
    /// VXLAN-looking frames not counted, by reason.
    public var errors: TunnelErrors
    /// Recent per-VNI rates, oldest first (empty in a delta).
    public var history: [TunnelHistoryPoint]
    /// Milliseconds the map reads took.
    public var readMilliseconds: Double

    package static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.keyEncodingStrategy = .convertToSnakeCase
        e.outputFormatting = [.sortedKeys]
        return e
    }()

    package static let decoder: JSONDecoder = {
        let d = JSONDecoder()
        d.keyDecodingStrategy = .convertFromSnakeCase
        return d
    }()

    /// The snapshot as JSON (snake_case keys, sorted). The conversations, which are nearly all
    /// of it, are written by hand: JSONEncoder takes seconds for 100,000 of them.
    /// - Throws: `EncodingError` from JSONEncoder (not expected: every field is encodable).
    public func json(pretty: Bool = false) throws -> Data {
        if pretty {
            let e = JSONEncoder()
            e.keyEncodingStrategy = .convertToSnakeCase
            e.outputFormatting = [.sortedKeys, .prettyPrinted]
            return try e.encode(self)
        }
        var shell = self
        shell.conversations = []
        let head = try Self.encoder.encode(shell)
        let marker = Array("\"conversations\":[]".utf8)
        guard let at = head.firstRange(of: marker) else { return try Self.encoder.encode(self) }
        var out = [UInt8]()
        out.reserveCapacity(head.count + conversations.count * 720)
        out.append(contentsOf: head[head.startIndex..<at.lowerBound])
        out.append(contentsOf: Array("\"conversations\":[".utf8))
        for (i, c) in conversations.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            c.writeJSON(into: &out)
        }
        out.append(UInt8(ascii: "]"))
        out.append(contentsOf: head[at.upperBound...])
        return Data(out)
    }

    /// Reads a snapshot written by the monitor (snapshot.json, delta.json or `--json` output).
    /// - Throws: `ControllerError` naming the file when it cannot be read or is not a snapshot.
    public static func load(path: String) throws -> TunnelSnapshot {
        guard let data = FileManager.default.contents(atPath: path) else { throw ControllerError("\(path): cannot read the file") }
        do { return try decoder.decode(TunnelSnapshot.self, from: data) } catch {
            throw ControllerError("\(path): not a tunnel monitor snapshot: \(Self.describe(error))",
                                     hint: "use snapshot.json from --json-dir (or --json output)")
        }
    }

    static func describe(_ error: Error) -> String {
        func at(_ p: [CodingKey]) -> String { p.isEmpty ? "" : " at " + path(p) }
        switch error {
        case DecodingError.keyNotFound(let key, let c): return "missing '\(key.stringValue)'" + at(c.codingPath)
        case DecodingError.typeMismatch(_, let c), DecodingError.valueNotFound(_, let c):
            return (c.codingPath.isEmpty ? "" : path(c.codingPath) + ": ") + c.debugDescription.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "."))
        case DecodingError.dataCorrupted(let c): return c.debugDescription + at(c.codingPath)
        default: return "\(error)"
        }
    }

    static func path(_ p: [CodingKey]) -> String { p.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".") }
}

/// Hand-written JSON for the bulk of a snapshot: the same keys, order and values as
/// JSONEncoder with .convertToSnakeCase and .sortedKeys (a unit test compares the two).
enum FastJSON {
    static func string(_ s: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for u in s.utf8 {
            switch u {
            case UInt8(ascii: "\""): out.append(contentsOf: [92, 34])
            case UInt8(ascii: "\\"): out.append(contentsOf: [92, 92])
            case 0x0a: out.append(contentsOf: [92, UInt8(ascii: "n")])
            case 0x0d: out.append(contentsOf: [92, UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [92, UInt8(ascii: "t")])
            case 0..<0x20: out.append(contentsOf: Array(String(format: "\\u%04x", u).utf8))
            default: out.append(u)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    static func number(_ v: UInt64, into out: inout [UInt8]) {
        if v == 0 { out.append(UInt8(ascii: "0")); return }
        var digits = [UInt8](repeating: 0, count: 20)
        var n = v, i = 20
        while n > 0 { i -= 1; digits[i] = UInt8(ascii: "0") + UInt8(n % 10); n /= 10 }
        out.append(contentsOf: digits[i...])
    }

    static func number(_ v: Double, into out: inout [UInt8]) {
        if v.isFinite, v == v.rounded(), abs(v) < 1e15 {
            if v < 0 { out.append(UInt8(ascii: "-")) }
            number(UInt64(abs(v)), into: &out)
        } else if v.isFinite {
            out.append(contentsOf: Array(v.description.utf8))
        } else {
            out.append(contentsOf: Array("0".utf8))
        }
    }

    static func key(_ k: StaticString, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        k.withUTF8Buffer { out.append(contentsOf: $0) }
        out.append(contentsOf: [34, 58])
    }
}

extension TunnelCounter {
    func writeJSON(into out: inout [UInt8]) {
        out.append(UInt8(ascii: "{"))
        FastJSON.key("bytes", into: &out); FastJSON.number(bytes, into: &out)
        out.append(UInt8(ascii: ","))
        FastJSON.key("packets", into: &out); FastJSON.number(packets, into: &out)
        out.append(UInt8(ascii: "}"))
    }
}

extension TunnelConversation {
    func writeJSON(into out: inout [UInt8]) {
        typealias J = FastJSON
        func comma() { out.append(UInt8(ascii: ",")) }
        out.append(UInt8(ascii: "{"))
        J.key("a_to_b_bits_per_second", into: &out); J.number(aToBBitsPerSecond, into: &out); comma()
        J.key("a_to_b_bytes", into: &out); J.number(aToBBytes, into: &out); comma()
        J.key("a_to_b_packets", into: &out); J.number(aToBPackets, into: &out); comma()
        J.key("b_to_a_bits_per_second", into: &out); J.number(bToABitsPerSecond, into: &out); comma()
        J.key("b_to_a_bytes", into: &out); J.number(bToABytes, into: &out); comma()
        J.key("b_to_a_packets", into: &out); J.number(bToAPackets, into: &out); comma()
        J.key("cells", into: &out); out.append(UInt8(ascii: "{"))
        J.key("egress_a_to_b", into: &out); cells.egressAToB.writeJSON(into: &out); comma()
        J.key("egress_b_to_a", into: &out); cells.egressBToA.writeJSON(into: &out); comma()
        J.key("ingress_a_to_b", into: &out); cells.ingressAToB.writeJSON(into: &out); comma()
        J.key("ingress_b_to_a", into: &out); cells.ingressBToA.writeJSON(into: &out)
        out.append(UInt8(ascii: "}")); comma()
        J.key("inner_a", into: &out); J.string(innerA, into: &out); comma()
        J.key("inner_b", into: &out); J.string(innerB, into: &out); comma()
        J.key("inner_proto", into: &out); J.string(innerProto, into: &out); comma()
        J.key("outer_a", into: &out); J.string(outerA, into: &out); comma()
        J.key("outer_b", into: &out); J.string(outerB, into: &out); comma()
        J.key("rx_bits_per_second", into: &out); J.number(rxBitsPerSecond, into: &out); comma()
        J.key("rx_bytes", into: &out); J.number(rxBytes, into: &out); comma()
        J.key("rx_packets", into: &out); J.number(rxPackets, into: &out); comma()
        J.key("rx_packets_per_second", into: &out); J.number(rxPacketsPerSecond, into: &out); comma()
        J.key("tx_bits_per_second", into: &out); J.number(txBitsPerSecond, into: &out); comma()
        J.key("tx_bytes", into: &out); J.number(txBytes, into: &out); comma()
        J.key("tx_packets", into: &out); J.number(txPackets, into: &out); comma()
        J.key("tx_packets_per_second", into: &out); J.number(txPacketsPerSecond, into: &out); comma()
        J.key("vni", into: &out); J.number(UInt64(vni), into: &out)
        out.append(UInt8(ascii: "}"))
    }
}
