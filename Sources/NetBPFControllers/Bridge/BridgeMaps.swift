import NetBPF
internal import CNetBPFProgramTypes

/// The maps of programs/distributed_bridge.bpf.c hold the structs of
/// programs/include/distributed_bridge.h, imported through CNetBPFProgramTypes (`db_config`,
/// `db_port`, `db_flood`, `db_mac_key`, `db_remote`, `db_vni_stats`, `db_total`,
/// `db_unknown_vni`); the typed map views check their sizes when the controller opens the maps.

extension db_flood {
    /// The flood destinations of a VNI (IPv4, host byte order), at most DB_MAX_FLOOD.
    init(_ addresses: [UInt32]) {
        self.init()
        count = UInt32(addresses.count)
        withUnsafeMutableBytes(of: &remotes) { raw in
            for (i, a) in addresses.prefix(DBLimits.flood).enumerated() { raw.storeBytes(of: a, toByteOffset: i * 4, as: UInt32.self) }
        }
    }
}

enum DBLimits {
    static let vnis = Int(DB_MAX_VNIS)
    static let flood = Int(DB_MAX_FLOOD)
}

/// The map and program names of programs/distributed_bridge.bpf.c.
package enum DistributedBridgeProgram {
    package static let file = "distributed_bridge.bpf.c"
    package static let tunnelProgram = "db_tunnel_ingress"
    package static let portProgram = "db_port_ingress"
}

/// The object's maps through typed views.
struct BridgeMaps: Sendable {
    let config: ArrayMap<db_config>
    let vniPort: HashMap<UInt32, db_port>
    let portVNI: HashMap<UInt32, UInt32>
    let flood: HashMap<UInt32, db_flood>
    let macs: HashMap<db_mac_key, db_remote>
    let vniStats: HashMap<UInt32, db_vni_stats>
    let totals: ArrayMap<db_total>
    let unknownVNIs: HashMap<UInt32, db_unknown_vni>

    init(_ object: BPFObject) throws {
        config = try ArrayMap(object.map(named: "db_config"))
        vniPort = try HashMap(object.map(named: "db_vni_port"))
        portVNI = try HashMap(object.map(named: "db_port_vni"))
        flood = try HashMap(object.map(named: "db_flood"))
        macs = try HashMap(object.map(named: "db_macs"))
        vniStats = try HashMap(object.map(named: "db_vni_stats"))
        totals = try ArrayMap(object.map(named: "db_totals"))
        unknownVNIs = try HashMap(object.map(named: "db_unknown_vnis"))
    }

    func snapshot() throws -> BridgeSnapshot {
        var s = BridgeSnapshot()
        s.macs = try macs.entries().map { ($0.key, $0.value) }
        for e in try vniStats.entries() { s.vniStats[e.key] = e.value }
        s.unknownVNIs = try unknownVNIs.entries().map { ($0.key, $0.value) }
        s.totals = try totals.values()
        return s
    }
}

/// The raw contents of the maps at one moment (unit tests build it by hand).
struct BridgeSnapshot {
    var macs: [(db_mac_key, db_remote)] = []
    var vniStats: [UInt32: db_vni_stats] = [:]
    var unknownVNIs: [(UInt32, db_unknown_vni)] = []
    var totals: [db_total] = []
}
