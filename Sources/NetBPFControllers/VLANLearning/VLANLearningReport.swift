import Foundation
internal import CNetBPFProgramTypes

/// What `netbpf vlan-learn` reports each interval: per client MAC its worker, where it was
/// learned (VLAN, trunk) and its rx/tx packets and bytes; the MACs whose frames were not
/// forwarded, and why; totals per outcome. Counters are cumulative since the programs started.
public struct VLANLearningReport: Sendable, Encodable, Equatable {
    /// What happened to a frame (enum vl_outcome in programs/include/vlan_learning.h).
    public enum Outcome: String, Sendable, Encodable, CaseIterable {
        /// Client frames sent to their worker (untagged).
        case toWorker = "to-worker"
        /// Worker frames sent to their client (tagged again).
        case toTrunk = "to-trunk"
        /// Copies of worker broadcasts sent to their clients.
        case flooded
        /// Dropped: an untagged frame on the trunk.
        case untagged
        /// Dropped: a tagged frame from a MAC not mapped to a worker.
        case unknownSource = "unknown-source"
        /// Dropped: a worker frame to a MAC not mapped or not learned yet.
        case unknownDestination = "unknown-destination"
        /// Dropped: a worker frame to a client of another worker.
        case otherWorker = "other-worker"
        /// Dropped: a worker broadcast while none of its clients is learned.
        case noClient = "no-client-learned"
        /// Dropped: a tagged frame from a worker.
        case taggedByWorker = "tagged-by-worker"
        /// Dropped: a truncated frame or a VLAN helper failure.
        case error

        /// True for the outcomes that drop the frame.
        public var isDrop: Bool { ![.toWorker, .toTrunk, .flooded].contains(self) }

        /// What a drop means, for people.
        public var explanation: String {
            switch self {
            case .toWorker: return "client frames sent to their worker"
            case .toTrunk: return "worker frames sent to their client"
            case .flooded: return "copies of worker broadcasts sent to their clients"
            case .untagged: return "untagged frame on the trunk"
            case .unknownSource: return "tagged frame from a MAC that is not mapped to a worker"
            case .unknownDestination: return "worker frame to a MAC not mapped or not learned yet"
            case .otherWorker: return "worker frame to a client of another worker"
            case .noClient: return "worker broadcast while none of its clients is learned"
            case .taggedByWorker: return "tagged frame from a worker"
            case .error: return "truncated frame or VLAN helper failure"
            }
        }
    }

    /// Where a client was learned: the tag and trunk of its last frame.
    public struct Learned: Sendable, Encodable, Equatable {
        /// VLAN id (12 bits of the TCI), priority (PCP) and tag protocol ("802.1Q", "802.1ad").
        public var vlan: UInt16
        /// The tag's priority (PCP, 0-7).
        public var priority: UInt8
        /// The tag protocol: "802.1Q" or "802.1ad".
        public var proto: String
        /// The trunk interface it arrived on.
        public var trunk: String
        /// Seconds since its first tagged frame.
        public var firstSeenSecondsAgo: Double
        /// Seconds since its last tagged frame.
        public var lastSeenSecondsAgo: Double
        /// Times the client showed up on another VLAN or trunk.
        public var moves: UInt32
    }

    /// One configured client with where it was learned and its traffic.
    public struct Client: Sendable, Encodable, Equatable {
        /// The client's MAC address.
        public var mac: EthernetAddress
        /// Its worker interface.
        public var worker: String
        /// nil until the client's first tagged frame arrived on the trunk.
        public var learned: Learned?
        /// Frames from the client (trunk -> worker) and to it (worker -> trunk).
        public var rxPackets: UInt64
        /// Bytes of the frames from the client.
        public var rxBytes: UInt64
        /// Frames to the client (worker -> trunk).
        public var txPackets: UInt64
        /// Bytes of the frames to the client.
        public var txBytes: UInt64
    }

    /// Frames not forwarded, per MAC and reason (the source MAC of trunk frames, the
    /// destination MAC of worker frames).
    public struct Unknown: Sendable, Encodable, Equatable {
        /// The MAC the frames were from (trunk) or to (worker).
        public var mac: EthernetAddress
        /// Why they were not forwarded.
        public var reason: Outcome
        /// The interface they arrived on.
        public var interface: String
        /// The VLAN id of the last such frame (nil: untagged).
        public var vlan: UInt16?
        /// Frames.
        public var packets: UInt64
        /// Bytes.
        public var bytes: UInt64
        /// Seconds since the last such frame.
        public var lastSeenSecondsAgo: Double
    }

    /// Frames and bytes of one outcome (the `vl_totals` per-CPU array, summed).
    public struct Total: Sendable, Encodable, Equatable {
        /// What happened to the frames.
        public var outcome: Outcome
        /// Frames.
        public var packets: UInt64
        /// Bytes.
        public var bytes: UInt64
    }

    /// Seconds since the epoch.
    public var time: Double
    /// The learner's network namespace (nil: the caller's).
    public var namespace: String?
    /// The trunk interface.
    public var trunk: String
    /// Every configured client, by MAC.
    public var clients: [Client]
    /// Frames not forwarded, per MAC and reason.
    public var unknown: [Unknown]
    /// One per outcome, in `Outcome.allCases` order.
    public var totals: [Total]

    /// The client with `mac`, if configured.
    public func client(_ mac: EthernetAddress) -> Client? { clients.first { $0.mac == mac } }
    /// The total of `outcome`.
    public func total(_ outcome: Outcome) -> Total? { totals.first { $0.outcome == outcome } }

    static func make(config: VLANLearningConfig, interfaces: VLANLearner.Interfaces, snapshot s: VLANLearningSnapshot,
                     monotonicNow now: UInt64, time: Date) -> VLANLearningReport {
        func ago(_ ns: UInt64) -> Double { ns == 0 || ns > now ? 0 : (Double(now - ns) / 1e9 * 1000).rounded() / 1000 }
        func name(_ index: UInt32) -> String { interfaces.names[Int32(bitPattern: index)] ?? "ifindex \(index)" }
        let clients = config.clients.map { c -> Client in
            let counters = s.stats[c.mac] ?? vl_counters()
            let learned = s.learned[c.mac].map { l in
                Learned(vlan: l.vlan_tci & 0x0fff, priority: UInt8(l.vlan_tci >> 13),
                        proto: { switch UInt16(bigEndian: l.vlan_proto) { case 0x8100: return "802.1Q"; case 0x88a8: return "802.1ad"
                                 case let p: return String(format: "0x%04x", p) } }(),
                        trunk: name(l.trunk_ifindex), firstSeenSecondsAgo: ago(l.first_seen_ns), lastSeenSecondsAgo: ago(l.last_seen_ns),
                        moves: l.moves)
            }
            return Client(mac: c.mac, worker: c.worker, learned: learned, rxPackets: counters.rx_packets, rxBytes: counters.rx_bytes,
                          txPackets: counters.tx_packets, txBytes: counters.tx_bytes)
        }
        let unknown = s.unknown.compactMap { key, value -> Unknown? in
            guard let reason = Outcome.allCases.indices.contains(Int(key.reason)) ? Outcome.allCases[Int(key.reason)] : nil else { return nil }
            return Unknown(mac: EthernetAddress(key.addr), reason: reason, interface: name(value.ifindex),
                           vlan: reason == .untagged || reason == .unknownDestination || reason == .noClient ? nil : value.vlan_tci & 0x0fff,
                           packets: value.packets, bytes: value.bytes, lastSeenSecondsAgo: ago(value.last_seen_ns))
        }.sorted { ($0.mac, $0.reason.rawValue) < ($1.mac, $1.reason.rawValue) }
        let totals = Outcome.allCases.enumerated().map { i, o in
            Total(outcome: o, packets: i < s.totals.count ? s.totals[i].packets : 0, bytes: i < s.totals.count ? s.totals[i].bytes : 0)
        }
        return VLANLearningReport(time: time.timeIntervalSince1970, namespace: config.namespace, trunk: config.trunk,
                                  clients: clients, unknown: unknown, totals: totals)
    }
}
