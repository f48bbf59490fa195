import Foundation

/// Packets and bytes.
public struct TunnelCounter: Codable, Sendable, Equatable {
    public var packets: UInt64
    public var bytes: UInt64
    public init(packets: UInt64, bytes: UInt64) { self.packets = packets; self.bytes = bytes }
}

/// One conversation as reports show it. "a" is the endpoint with the lower outer address;
/// tx = sent out of the monitored interface (egress hook), rx = received on it (ingress hook).
public struct TunnelConversation: Codable, Sendable, Equatable {
    public struct Cells: Codable, Sendable, Equatable {
        public var egressAToB: TunnelCounter
        public var egressBToA: TunnelCounter
        public var ingressAToB: TunnelCounter
        public var ingressBToA: TunnelCounter
    }
    public var vni: UInt32
    public var outerA: String
    public var outerB: String
    public var innerA: String
    public var innerB: String
    public var innerProto: String
    public var txPackets: UInt64
    public var txBytes: UInt64
    public var rxPackets: UInt64
    public var rxBytes: UInt64
    public var aToBPackets: UInt64
    public var aToBBytes: UInt64
    public var bToAPackets: UInt64
    public var bToABytes: UInt64
    public var cells: Cells
    /// Rates over the last interval (bits are bytes x 8, frames as counted).
    public var txBitsPerSecond: Double
    public var rxBitsPerSecond: Double
    public var txPacketsPerSecond: Double
    public var rxPacketsPerSecond: Double
    public var aToBBitsPerSecond: Double
    public var bToABitsPerSecond: Double
}

/// Totals of one VNI (or of everything).
public struct TunnelVNISummary: Codable, Sendable, Equatable {
    public var vni: UInt32?
    public var conversations: Int
    public var txPackets: UInt64 = 0
    public var txBytes: UInt64 = 0
    public var rxPackets: UInt64 = 0
    public var rxBytes: UInt64 = 0
    public var txBitsPerSecond: Double = 0
    public var rxBitsPerSecond: Double = 0
    public var txPacketsPerSecond: Double = 0
    public var rxPacketsPerSecond: Double = 0
}

public struct TunnelFlood: Codable, Sendable, Equatable {
    public var vni: UInt32
    public var group: String
    public var txPackets: UInt64
    public var txBytes: UInt64
    public var rxPackets: UInt64
    public var rxBytes: UInt64
}

/// What happened to the frames the programs saw (TMStat's non-error slots).
public struct TunnelFrames: Codable, Sendable, Equatable {
    public var seen: UInt64
    public var notVxlan: UInt64
    public var counted: UInt64
    public var flooded: UInt64
    public var outerFragment: UInt64
    init(_ s: TMStats) {
        seen = s[.seen]; notVxlan = s[.notVXLAN]; counted = s[.counted]; flooded = s[.flooded]; outerFragment = s[.outerFragment]
    }
}

/// Frames that looked like VXLAN and were not counted, by reason (TMStat's error slots).
public struct TunnelErrors: Codable, Sendable, Equatable {
    public var outerTruncated: UInt64
    public var vxlanTruncated: UInt64
    public var vxlanFlags: UInt64
    public var innerTruncated: UInt64
    public var tableFull: UInt64
    init(_ s: TMStats) {
        outerTruncated = s[.outerTruncated]; vxlanTruncated = s[.vxlanTruncated]; vxlanFlags = s[.vxlanFlags]
        innerTruncated = s[.innerTruncated]; tableFull = s[.tableFull]
    }
    public var total: UInt64 { outerTruncated + vxlanTruncated + vxlanFlags + innerTruncated + tableFull }
}

/// Rates of every VNI at one moment.
public struct TunnelHistoryPoint: Codable, Sendable, Equatable {
    public struct VNIRate: Codable, Sendable, Equatable {
        public var vni: UInt32
        public var txBitsPerSecond: Double
        public var rxBitsPerSecond: Double
        public var packetsPerSecond: Double
    }
    public var time: Double
    public var vnis: [VNIRate]
}

/// What is written to --json-dir, served as /api/snapshot and /events, and read by
/// `netbpf tunnel-monitor report`. kind "snapshot": counters since the monitor was attached;
/// kind "delta": counters of the last interval, only conversations that changed.
public struct TunnelSnapshot: Codable, Sendable {
    public var kind: String
    public var version: Int = 1
    public var interface: String
    public var namespace: String?
    /// Unix time of the sample, and the same as ISO 8601 UTC.
    public var time: Double
    public var isoTime: String
    /// Seconds since the previous sample (what rates and deltas cover).
    public var intervalSeconds: Double
    public var ports: [UInt16]
    /// max_entries of the conversations map and the conversations in it.
    public var capacity: Int
    public var conversationCount: Int
    /// Conversations below, when fewer than conversationCount (limited, or delta).
    public var includedConversations: Int
    public var totals: TunnelVNISummary
    public var vnis: [TunnelVNISummary]
    public var conversations: [TunnelConversation]
    public var floods: [TunnelFlood]
    /// Frames seen, ignored (not VXLAN), counted, flooded, outer fragments.
    public var frames: TunnelFrames
    /// VXLAN-looking frames not counted, by reason.
    public var errors: TunnelErrors
    public var history: [TunnelHistoryPoint]
    /// Milliseconds the map reads took.
    public var readMilliseconds: Double

    public static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.keyEncodingStrategy = .convertToSnakeCase
        e.outputFormatting = [.sortedKeys]
        return e
    }()

    public static let decoder: JSONDecoder = {
        let d = JSONDecoder()
        d.keyDecodingStrategy = .convertFromSnakeCase
        return d
    }()

    /// The snapshot as JSON (snake_case keys, sorted). The conversations, which are nearly all
    /// of it, are written by hand: JSONEncoder takes seconds for 100,000 of them.
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
