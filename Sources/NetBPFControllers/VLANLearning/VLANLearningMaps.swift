internal import CNetBPFProgramTypes

/// The maps of programs/vlan_learning.bpf.c hold the structs of programs/include/vlan_learning.h,
/// imported through CNetBPFProgramTypes (`vl_mac`, `vl_client`, `vl_learned`, `vl_worker`,
/// `vl_counters`, `vl_total`, `vl_unknown_key`, `vl_unknown`); the typed map views check their
/// sizes when the controller opens the maps, and a unit test against the compiled object's maps.

/// A MAC address as the headers hold it: 6 bytes in wire order.
typealias MACBytes = (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8)

extension vl_worker {
    /// The clients of one worker (at most VL_MAX_CLIENTS_PER_WORKER).
    init(_ macs: [vl_mac]) {
        self.init()
        count = UInt32(macs.count)
        withUnsafeMutableBytes(of: &clients) { raw in
            for (i, m) in macs.prefix(VLLimits.clientsPerWorker).enumerated() {
                raw.storeBytes(of: m, toByteOffset: i * MemoryLayout<vl_mac>.stride, as: vl_mac.self)
            }
        }
    }
}

extension vl_counters {
    /// Adds another CPU's counters.
    mutating func add(_ o: vl_counters) {
        rx_packets &+= o.rx_packets; rx_bytes &+= o.rx_bytes
        tx_packets &+= o.tx_packets; tx_bytes &+= o.tx_bytes
    }
}

enum VLLimits {
    static let clientsPerWorker = Int(VL_MAX_CLIENTS_PER_WORKER)
    static let clients = Int(VL_MAX_CLIENTS)
}

/// The map and program names of programs/vlan_learning.bpf.c.
package enum VLANLearningProgram {
    package static let file = "vlan_learning.bpf.c"
    package static let trunkProgram = "vl_trunk_ingress"
    package static let workerProgram = "vl_worker_ingress"
    package static let clientsMap = "vl_clients"
    package static let learnedMap = "vl_learned"
    package static let workersMap = "vl_workers"
    package static let statsMap = "vl_stats"
    package static let totalsMap = "vl_totals"
    package static let unknownMap = "vl_unknown"
}

extension EthernetAddress {
    var vlKey: vl_mac { vl_mac(addr: (bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5]), pad: 0) }
    init(_ t: MACBytes) { self.init(validBytes: [t.0, t.1, t.2, t.3, t.4, t.5]) }
}
