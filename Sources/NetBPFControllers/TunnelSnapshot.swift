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

    public func json(pretty: Bool = false) throws -> Data {
        if pretty {
            let e = JSONEncoder()
            e.keyEncodingStrategy = .convertToSnakeCase
            e.outputFormatting = [.sortedKeys, .prettyPrinted]
            return try e.encode(self)
        }
        return try Self.encoder.encode(self)
    }

    public static func load(path: String) throws -> TunnelSnapshot {
        guard let data = FileManager.default.contents(atPath: path) else { throw TunnelMonitorError("\(path): cannot read the file") }
        do { return try decoder.decode(TunnelSnapshot.self, from: data) } catch {
            throw TunnelMonitorError("\(path): not a tunnel monitor snapshot: \(Self.describe(error))",
                                     hint: "use snapshot.json from --json-dir (or --json output)")
        }
    }

    static func describe(_ error: Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, let c): return "missing '\(key.stringValue)' at \(path(c.codingPath))"
        case DecodingError.typeMismatch(_, let c), DecodingError.valueNotFound(_, let c): return "\(c.debugDescription) at \(path(c.codingPath))"
        case DecodingError.dataCorrupted(let c): return c.debugDescription + (c.codingPath.isEmpty ? "" : " at \(path(c.codingPath))")
        default: return "\(error)"
        }
    }

    static func path(_ p: [CodingKey]) -> String { p.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".") }
}
