/// Swift mirrors of programs/include/vlan_learning.h (same sizes and field order; the typed map
/// views refuse a size mismatch when the controller opens the maps, and a unit test compares
/// the sizes with the compiled object's maps).
typealias MACBytes = (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8)

/// `struct vl_mac`: 6 bytes in wire order, 2 bytes of zero.
struct VLMAC: BitwiseCopyable {
    var addr: MACBytes
    var pad: UInt16 = 0
}

/// `struct vl_client`.
struct VLClient: BitwiseCopyable {
    var workerIfindex: UInt32
    var pad: UInt32 = 0
}

/// `struct vl_learned`.
struct VLLearned: BitwiseCopyable {
    var trunkIfindex: UInt32
    var vlanTCI: UInt16
    var vlanProto: UInt16 // network byte order
    var firstSeenNanoseconds: UInt64
    var lastSeenNanoseconds: UInt64
    var moves: UInt32
    var pad: UInt32
}

/// `struct vl_worker` with VL_MAX_CLIENTS_PER_WORKER (8) slots.
struct VLWorker: BitwiseCopyable {
    var count: UInt32
    var pad: UInt32 = 0
    var clients: (VLMAC, VLMAC, VLMAC, VLMAC, VLMAC, VLMAC, VLMAC, VLMAC)
}

/// `struct vl_counters` (one per CPU in vl_stats).
struct VLCounters: BitwiseCopyable {
    var rxPackets: UInt64 = 0
    var rxBytes: UInt64 = 0
    var txPackets: UInt64 = 0
    var txBytes: UInt64 = 0
}

/// `struct vl_total` (one per CPU and outcome in vl_totals).
struct VLTotal: BitwiseCopyable {
    var packets: UInt64
    var bytes: UInt64
}

/// `struct vl_unknown_key`.
struct VLUnknownKey: BitwiseCopyable {
    var addr: MACBytes
    var reason: UInt8
    var pad: UInt8
}

/// `struct vl_unknown`.
struct VLUnknown: BitwiseCopyable {
    var packets: UInt64
    var bytes: UInt64
    var lastSeenNanoseconds: UInt64
    var ifindex: UInt32
    var vlanTCI: UInt16
    var pad: UInt16
}

enum VLLimits {
    static let clientsPerWorker = 8 // VL_MAX_CLIENTS_PER_WORKER
    static let clients = 4096 // VL_MAX_CLIENTS
}

/// The map and program names of programs/vlan_learning.bpf.c.
public enum VLANLearningProgram {
    public static let file = "vlan_learning.bpf.c"
    public static let trunkProgram = "vl_trunk_ingress"
    public static let workerProgram = "vl_worker_ingress"
    public static let clientsMap = "vl_clients"
    public static let learnedMap = "vl_learned"
    public static let workersMap = "vl_workers"
    public static let statsMap = "vl_stats"
    public static let totalsMap = "vl_totals"
    public static let unknownMap = "vl_unknown"
}

extension EthernetAddress {
    var vlKey: VLMAC { VLMAC(addr: (bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5])) }
    init(_ t: MACBytes) { self.init(validBytes: [t.0, t.1, t.2, t.3, t.4, t.5]) }
}
