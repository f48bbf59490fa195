import NetBPF

/// Swift mirrors of programs/include/distributed_bridge.h (same sizes and field order; the typed
/// map views refuse a size mismatch when the controller opens the maps).

/// `struct db_config`.
struct DBConfig: BitwiseCopyable {
    var vxlanIfindex: UInt32
    var localIPv4: UInt32 // host byte order
    var ttl: UInt32
    var pad: UInt32 = 0
}

/// `struct db_port`.
struct DBPort: BitwiseCopyable {
    var ifindex: UInt32
    var pad: UInt32 = 0
}

/// `struct db_flood` with DB_MAX_FLOOD (16) slots.
struct DBFlood: BitwiseCopyable {
    var count: UInt32
    var remotes: (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32,
                  UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32)

    init(_ addresses: [UInt32]) {
        count = UInt32(addresses.count)
        remotes = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &remotes) { raw in
            for (i, a) in addresses.prefix(DBLimits.flood).enumerated() { raw.storeBytes(of: a, toByteOffset: i * 4, as: UInt32.self) }
        }
    }
}

/// `struct db_mac_key`.
struct DBMACKey: BitwiseCopyable {
    var addr: MACBytes
    var pad: UInt16 = 0
    var vni: UInt32
}

/// `struct db_remote`.
struct DBRemote: BitwiseCopyable {
    var remoteIPv4: UInt32
    var moves: UInt32
    var rxPackets: UInt64
    var rxBytes: UInt64
    var txPackets: UInt64
    var txBytes: UInt64
    var firstSeenNanoseconds: UInt64
    var lastSeenNanoseconds: UInt64
}

/// `struct db_vni_stats`.
struct DBVNIStats: BitwiseCopyable {
    var rxPackets: UInt64 = 0
    var rxBytes: UInt64 = 0
    var txPackets: UInt64 = 0
    var txBytes: UInt64 = 0
    var floodedPackets: UInt64 = 0
    var floodCopies: UInt64 = 0
    var droppedPackets: UInt64 = 0
    var pad: UInt64 = 0
}

/// `struct db_total`.
struct DBTotal: BitwiseCopyable {
    var packets: UInt64
    var bytes: UInt64
}

/// `struct db_unknown_vni`.
struct DBUnknownVNI: BitwiseCopyable {
    var packets: UInt64
    var bytes: UInt64
    var lastRemoteIPv4: UInt32
    var pad: UInt32
}

enum DBLimits {
    static let vnis = 256 // DB_MAX_VNIS
    static let flood = 16 // DB_MAX_FLOOD
}

/// The map and program names of programs/distributed_bridge.bpf.c.
public enum DistributedBridgeProgram {
    public static let file = "distributed_bridge.bpf.c"
    public static let tunnelProgram = "db_tunnel_ingress"
    public static let portProgram = "db_port_ingress"
}

/// The object's maps through typed views.
struct BridgeMaps {
    let config: ArrayMap<DBConfig>
    let vniPort: HashMap<UInt32, DBPort>
    let portVNI: HashMap<UInt32, UInt32>
    let flood: HashMap<UInt32, DBFlood>
    let macs: HashMap<DBMACKey, DBRemote>
    let vniStats: HashMap<UInt32, DBVNIStats>
    let totals: ArrayMap<DBTotal>
    let unknownVNIs: HashMap<UInt32, DBUnknownVNI>

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
    var macs: [(DBMACKey, DBRemote)] = []
    var vniStats: [UInt32: DBVNIStats] = [:]
    var unknownVNIs: [(UInt32, DBUnknownVNI)] = []
    var totals: [DBTotal] = []
}
