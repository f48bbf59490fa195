import Foundation
import NetBPFNetlink
internal import CNetBPFProgramTypes

/// What `netbpf bridge` reports each interval: the learned table (MAC, VNI, remote VTEP, rx/tx
/// packets and bytes), per-VNI counters, VNIs received but not configured, and totals per
/// outcome. Counters are cumulative since the programs started.
public struct BridgeReport: Sendable, Encodable, Equatable {
    /// What happened to a frame (enum db_outcome in programs/include/distributed_bridge.h).
    public enum Outcome: String, Sendable, Encodable, CaseIterable {
        case delivered
        case unicast
        case flooded
        case noTunnelKey = "no-tunnel-key"
        case unknownVNI = "unknown-vni"
        case loop
        case noVNIPort = "no-vni-port"
        case noFloodDestination = "no-flood-destination"
        case error

        public var isDrop: Bool { ![.delivered, .unicast, .flooded].contains(self) }
    }

    public struct Entry: Sendable, Encodable, Equatable {
        public var mac: EthernetAddress
        public var vni: UInt32
        public var port: String
        public var remote: String
        public var rxPackets: UInt64
        public var rxBytes: UInt64
        public var txPackets: UInt64
        public var txBytes: UInt64
        public var moves: UInt32
        public var lastSeenSecondsAgo: Double
    }

    public struct VNI: Sendable, Encodable, Equatable {
        public var vni: UInt32
        public var port: String
        public var learnedMACs: Int
        public var rxPackets: UInt64
        public var rxBytes: UInt64
        public var txPackets: UInt64
        public var txBytes: UInt64
        public var floodedPackets: UInt64
        public var floodCopies: UInt64
        public var droppedPackets: UInt64
    }

    public struct UnknownVNI: Sendable, Encodable, Equatable {
        public var vni: UInt32
        public var packets: UInt64
        public var bytes: UInt64
        public var lastRemote: String
    }

    public struct Total: Sendable, Encodable, Equatable {
        public var outcome: Outcome
        public var packets: UInt64
        public var bytes: UInt64
    }

    /// Seconds since the epoch.
    public var time: Double
    public var namespace: String?
    public var underlay: String
    public var local: String
    public var vxlan: String
    /// "multicast" or "mesh".
    public var mode: String
    public var floodTo: [String]
    public var learned: [Entry]
    public var vnis: [VNI]
    public var unknownVNIs: [UnknownVNI]
    public var totals: [Total]

    public func entry(_ mac: EthernetAddress, vni: UInt32) -> Entry? { learned.first { $0.mac == mac && $0.vni == vni } }
    public func vni(_ v: UInt32) -> VNI? { vnis.first { $0.vni == v } }
    public func total(_ o: Outcome) -> Total? { totals.first { $0.outcome == o } }

    static func make(config: BridgeConfig, interfaces: DistributedBridge.Interfaces, snapshot s: BridgeSnapshot,
                     monotonicNow now: UInt64, time: Date) -> BridgeReport {
        func ago(_ ns: UInt64) -> Double { ns == 0 || ns > now ? 0 : (Double(now - ns) / 1e9 * 1000).rounded() / 1000 }
        let portName = Dictionary(config.ports.map { ($0.vni, $0.interface) }, uniquingKeysWith: { a, _ in a })
        let learned = s.macs.map { k, v in
            Entry(mac: EthernetAddress(k.addr), vni: k.vni, port: portName[k.vni] ?? "-", remote: IPAddress.fromHostOrder(v.remote_ipv4).description,
                  rxPackets: v.rx_packets, rxBytes: v.rx_bytes, txPackets: v.tx_packets, txBytes: v.tx_bytes, moves: v.moves,
                  lastSeenSecondsAgo: ago(v.last_seen_ns))
        }.sorted { ($0.vni, $0.mac) < ($1.vni, $1.mac) }
        let vnis = config.ports.map { p -> VNI in
            let st = s.vniStats[p.vni] ?? db_vni_stats()
            return VNI(vni: p.vni, port: p.interface, learnedMACs: learned.filter { $0.vni == p.vni }.count,
                       rxPackets: st.rx_packets, rxBytes: st.rx_bytes, txPackets: st.tx_packets, txBytes: st.tx_bytes,
                       floodedPackets: st.flooded_packets, floodCopies: st.flood_copies, droppedPackets: st.dropped_packets)
        }
        let unknown = s.unknownVNIs.map { k, v in
            UnknownVNI(vni: k, packets: v.packets, bytes: v.bytes, lastRemote: IPAddress.fromHostOrder(v.last_remote_ipv4).description)
        }.sorted { $0.vni < $1.vni }
        let totals = Outcome.allCases.enumerated().map { i, o in
            Total(outcome: o, packets: i < s.totals.count ? s.totals[i].packets : 0, bytes: i < s.totals.count ? s.totals[i].bytes : 0)
        }
        let mode: String, floodTo: [String]
        switch config.flood {
        case .multicast(let g): mode = "multicast"; floodTo = [g.description]
        case .mesh(let r): mode = "mesh"; floodTo = r.map(\.description)
        }
        return BridgeReport(time: time.timeIntervalSince1970, namespace: config.namespace, underlay: config.underlay,
                            local: interfaces.local.description, vxlan: config.vxlan, mode: mode, floodTo: floodTo,
                            learned: learned, vnis: vnis, unknownVNIs: unknown, totals: totals)
    }
}
