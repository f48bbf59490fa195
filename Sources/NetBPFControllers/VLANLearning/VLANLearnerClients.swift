import NetBPF
internal import CNetBPFProgramTypes

/// Changing a running learner's client map live: map updates only, no re-attach. The worker
/// must be one the learner attached to when it started (a client or a spare worker of its
/// config). The fleet agent's VLAN maps use this.
extension VLANLearner {
    /// Client MAC -> worker interface name, as vl_clients holds it now.
    /// - Throws: `BPFError` from the map dump.
    public func clientMap() throws -> [EthernetAddress: String] {
        var out: [EthernetAddress: String] = [:]
        for e in try maps.clients.entries() {
            let index = Int32(bitPattern: e.value.worker_ifindex)
            out[EthernetAddress(e.key.addr)] = interfaces.workers.first { $0.value == index }?.key ?? "ifindex \(index)"
        }
        return out
    }

    /// Maps `mac` to `worker` (or moves it there): vl_clients, the worker's flood list in
    /// vl_workers (the old worker's too when it moves) and, for a new client, a zeroed vl_stats
    /// entry. BPF_MAP_UPDATE_ELEM on each; the next frame sees the change.
    /// - Throws: `ControllerError` for a group or zero MAC, a worker the learner is not attached
    ///   to, a worker with VL_MAX_CLIENTS_PER_WORKER clients, or VL_MAX_CLIENTS clients in all;
    ///   `BPFError` from the updates.
    public func setClient(_ mac: EthernetAddress, worker: String) throws {
        guard !mac.isGroup, !mac.isZero else { throw ControllerError("\(mac) is not a unicast client MAC") }
        guard let index = interfaces.workers[worker] else {
            throw ControllerError("worker '\(worker)' is not attached on this node",
                                  hint: "workers here: " + interfaces.workers.keys.sorted().joined(separator: ", "))
        }
        let current = try clientMap()
        if current[mac] == worker { return }
        let mates = current.filter { $0.value == worker }.map(\.key)
        guard mates.count < VLLimits.clientsPerWorker else {
            throw ControllerError("worker '\(worker)' has \(VLLimits.clientsPerWorker) clients already (VL_MAX_CLIENTS_PER_WORKER)")
        }
        guard current[mac] != nil || current.count < VLLimits.clients else { throw ControllerError("\(VLLimits.clients) clients already (VL_MAX_CLIENTS)") }
        let old = current[mac]
        if old == nil {
            try maps.stats.update(mac.vlKey, perCPU: Array(repeating: vl_counters(), count: maps.stats.map.possibleCPUs))
        }
        try maps.workers.update(UInt32(bitPattern: index), vl_worker((mates + [mac]).sorted().map(\.vlKey)))
        try maps.clients.update(mac.vlKey, vl_client(worker_ifindex: UInt32(bitPattern: index), pad: 0))
        if let old, let oldIndex = interfaces.workers[old] {
            try maps.workers.update(UInt32(bitPattern: oldIndex), vl_worker(current.filter { $0.value == old && $0.key != mac }.map(\.key).sorted().map(\.vlKey)))
        }
    }

    /// Unmaps `mac`: removed from vl_clients, its worker's flood list, vl_learned and vl_stats.
    /// Returns false when it was not mapped.
    /// - Throws: `BPFError` from the updates.
    @discardableResult
    public func removeClient(_ mac: EthernetAddress) throws -> Bool {
        let current = try clientMap()
        guard let worker = current[mac] else { return false }
        _ = try maps.clients.delete(mac.vlKey)
        if let index = interfaces.workers[worker] {
            try maps.workers.update(UInt32(bitPattern: index), vl_worker(current.filter { $0.value == worker && $0.key != mac }.map(\.key).sorted().map(\.vlKey)))
        }
        _ = try maps.learned.delete(mac.vlKey)
        _ = try maps.stats.delete(mac.vlKey)
        return true
    }
}
