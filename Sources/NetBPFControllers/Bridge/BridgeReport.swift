import Foundation
import NetBPFNetlink
internal import CNetBPFProgramTypes

/// What `netbpf bridge` reports each interval: the learned table (MAC, VNI, remote VTEP, rx/tx
/// packets and bytes), per-VNI counters, VNIs received but not configured, and totals per
/// outcome. Counters are cumulative since the programs started.
public struct BridgeReport: Sendable, Encodable, Equatable {
    /// What happened to a frame (enum db_outcome in programs/include/distributed_bridge.h).
    public enum Outcome: String, Sendable, Encodable, CaseIterable {
        /// A tunnel frame delivered to its VNI's tenant port (DB_RX_DELIVERED).
        case delivered
        /// A tenant frame to a learned MAC, sent to its remote VTEP (DB_TX_UNICAST).
        case unicast
        /// A broadcast, multicast or unknown-unicast frame sent to every flood destination
        /// (DB_TX_FLOODED).
        case flooded
        /// Dropped: a frame on the tunnel side without tunnel metadata (DB_DROP_NO_TUNNEL_KEY).
        case noTunnelKey = "no-tunnel-key"
        /// Dropped: a tunnel frame of a VNI not configured here (DB_DROP_UNKNOWN_VNI).
        case unknownVNI = "unknown-vni"
        /// Dropped: a tunnel frame from this host's own underlay address (DB_DROP_LOOP).
        case loop
        /// Dropped: a frame on a port no VNI is mapped to (DB_DROP_NO_VNI_PORT).
        case noVNIPort = "no-vni-port"
        /// Dropped: a flood frame of a VNI without flood destinations (DB_DROP_NO_FLOOD).
        case noFloodDestination = "no-flood-destination"
        /// Dropped: a truncated frame or a helper failure (DB_DROP_ERROR).
        case error

        /// True for the outcomes that drop the frame.
        public var isDrop: Bool { ![.delivered, .unicast, .flooded].contains(self) }
    }

    /// One learned MAC: the remote VTEP it was last seen behind, and its traffic.
    public struct Entry: Sendable, Encodable, Equatable {
        /// The tenant MAC address.
        public var mac: EthernetAddress
        /// The VNI it was learned in.
        public var vni: UInt32
        /// The tenant port of that VNI ("-" when the VNI has none).
        public var port: String
        /// The remote VTEP's IPv4 address.
        public var remote: String
        /// Frames from this MAC delivered to the tenant port.
        public var rxPackets: UInt64
        /// Bytes of those frames.
        public var rxBytes: UInt64
        /// Frames to this MAC sent to its remote (unicast).
        public var txPackets: UInt64
        /// Bytes of those frames.
        public var txBytes: UInt64
        /// Times the MAC showed up behind another remote.
        public var moves: UInt32
        /// Seconds since a frame from it was last seen (millisecond precision).
        public var lastSeenSecondsAgo: Double
    }

    /// One configured VNI's counters (the `db_vni_stats` map).
    public struct VNI: Sendable, Encodable, Equatable {
        /// The VNI.
        public var vni: UInt32
        /// Its tenant port.
        public var port: String
        /// MACs learned in it.
        public var learnedMACs: Int
        /// Frames delivered from the tunnel to the port.
        public var rxPackets: UInt64
        /// Bytes of those frames.
        public var rxBytes: UInt64
        /// Unicast frames sent into the tunnel.
        public var txPackets: UInt64
        /// Bytes of those frames.
        public var txBytes: UInt64
        /// Frames flooded, each counted once.
        public var floodedPackets: UInt64
        /// Copies sent for them, one per flood destination.
        public var floodCopies: UInt64
        /// Frames of this VNI dropped (`totals` says why).
        public var droppedPackets: UInt64
    }

    /// A VNI that arrived from the tunnel but is not configured (the `db_unknown_vnis` map).
    public struct UnknownVNI: Sendable, Encodable, Equatable {
        /// The VNI.
        public var vni: UInt32
        /// Frames dropped for it.
        public var packets: UInt64
        /// Bytes of those frames.
        public var bytes: UInt64
        /// The last remote VTEP that sent one.
        public var lastRemote: String
    }

    /// Frames and bytes of one outcome, over all VNIs (the `db_totals` per-CPU array, summed).
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
    /// The bridge's network namespace (nil: the caller's).
    public var namespace: String?
    /// The underlay interface.
    public var underlay: String
    /// The local VTEP address (the underlay's IPv4 address).
    public var local: String
    /// The VXLAN device's name.
    public var vxlan: String
    /// "multicast" or "mesh".
    public var mode: String
    /// The flood destinations: the group, or each mesh remote.
    public var floodTo: [String]
    /// The learned table, by VNI then MAC.
    public var learned: [Entry]
    /// Per configured VNI, in config order.
    public var vnis: [VNI]
    /// VNIs received but not configured, by VNI.
    public var unknownVNIs: [UnknownVNI]
    /// One per outcome, in `Outcome.allCases` order.
    public var totals: [Total]

    /// The learned entry of `mac` in `vni`, if any.
    public func entry(_ mac: EthernetAddress, vni: UInt32) -> Entry? { learned.first { $0.mac == mac && $0.vni == vni } }
    /// The counters of VNI `v`, if it is configured.
    public func vni(_ v: UInt32) -> VNI? { vnis.first { $0.vni == v } }
    /// The total of outcome `o`.
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
