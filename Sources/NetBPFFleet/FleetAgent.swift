import Foundation
import NetBPFControllers
import Synchronization

/// The node agent: registers the node under a lease, watches its desired state (all nodes and
/// its own), applies it to the maps of the node's controllers (rate limiter, HTTP blocking,
/// VLAN learning), writes back what it applied.
///
/// Resilience: the maps keep the last applied state whatever happens to etcd; a lost connection
/// is retried with back-off (0.2 s doubling to 2 s) and each watch resumes at the revision after
/// the last event it processed, so a change made meanwhile arrives once and none is missed. A
/// compacted revision falls back to a full read. An expired lease (etcd away longer than the
/// TTL) is replaced and the node key written again.
public actor FleetAgent {
    /// What the agent is: its node, where the keys are, its lease and its metrics address.
    public struct Options: Sendable {
        /// The node's name, a key segment (`KeyLayout.checkNodeName`).
        public var node: String
        /// Where the fleet's keys are in etcd.
        public var layout: KeyLayout
        /// The registration lease's TTL, seconds; renewed every third of it (at most once a second).
        public var leaseTTL: Int = 10
        /// What the node key says where the metrics are ("http://ADDR:PORT/metrics").
        public var metricsURL: String?
        /// The controllers the agent's command line runs (`--interface`, `--http-block-interface`,
        /// `--vlan-trunk`):
        /// a placement of the same kind elsewhere is refused, and they are never detached by
        /// the reconcile.
        public var fixed: [Placement] = []
        /// Options for `node`: a 10 s lease, no metrics address.
        public init(node: String, layout: KeyLayout) { self.node = node; self.layout = layout }
    }

    let etcd: EtcdClient
    let options: Options
    /// The controllers from the command line; placed ones are added to them.
    let base: NodeTargets
    /// Starts and stops the controllers of placements; nil: placements are refused.
    let host: PlacementHost?
    /// The controllers running for placements, by placement name.
    var placed: [String: PlacedController] = [:]
    /// Whether the earlier agents' placed controllers without a placement were detached.
    var swept = false
    /// The controllers whose maps the agent fills now (command line and placements); read by
    /// the /metrics handler on its own thread.
    nonisolated let current: Mutex<NodeTargets>
    /// Read by the /metrics handler on its own thread.
    public nonisolated let health: Mutex<AgentHealth>

    var allKVs: [String: EtcdClient.KeyValue] = [:]
    var ownKVs: [String: EtcdClient.KeyValue] = [:]
    /// Last revision each watch has processed; the next watch starts after it.
    var seenAll: Int64 = 0
    var seenOwn: Int64 = 0
    var synced = false
    var lease: Int64?
    var statusDirty = true
    var writingStatus = false

    /// An agent that makes `target`'s maps hold the node's rate limits (the node runs no other
    /// controller); nothing happens until `run()`.
    /// - Throws: `FleetError` when `options.node` is not a node name.
    public init(etcd: EtcdClient, options: Options, target: RateLimitTarget) throws {
        try self.init(etcd: etcd, options: options, targets: NodeTargets(rateLimit: target))
    }

    /// An agent that makes the maps of the node's controllers hold its desired state; keys of a
    /// controller the node does not run are refused with that reason. Nothing happens until `run()`.
    /// - Throws: `FleetError` when `options.node` is not a node name.
    /// With `placements`, the agent also starts and stops controllers as the desired state's
    /// `placement/` keys say (`KernelPlacementHost`); without, those keys are refused.
    public init(etcd: EtcdClient, options: Options, targets: NodeTargets, placements: PlacementHost? = nil) throws {
        try KeyLayout.checkNodeName(options.node)
        self.etcd = etcd
        self.options = options
        self.base = targets
        self.host = placements
        current = Mutex(targets)
        var h = AgentHealth()
        h.node = options.node
        health = Mutex(h)
    }

    /// Runs until the task is cancelled.
    public func run() async {
        var delay = 0.2
        var first = true
        while !Task.isCancelled {
            do {
                try await connect()
                delay = 0.2
                try await follow()
            } catch is CancellationError {
                break
            } catch {
                if Task.isCancelled { break }
                health.withLock {
                    if $0.etcdConnected || first { $0.reconnects += first ? 0 : 1 }
                    $0.etcdConnected = false
                }
                log("etcd: \(error); retrying in \(String(format: "%.1f", delay)) s")
            }
            first = false
            try? await Task.sleep(for: .seconds(delay))
            delay = min(delay * 2, 2)
        }
        if let lease { try? await etcd.revoke(lease: lease, timeout: 1) }
    }

    /// Registers (a lease unless the current one is alive), reads the state in full the first
    /// time (or after compaction), and writes a pending status.
    func connect() async throws {
        if let l = lease, try await etcd.keepAlive(lease: l) > 0 {
        } else {
            let l = try await etcd.grantLease(ttl: options.leaseTTL)
            try await etcd.put(options.layout.node(options.node), registration(), lease: l)
            lease = l
            log("registered \(options.layout.node(options.node)) (lease \(String(l, radix: 16)), ttl \(options.leaseTTL) s)")
        }
        if !synced { try await fullSync() }
        health.withLock { $0.etcdConnected = true }
        if statusDirty { try await writeStatus() }
    }

    func registration() -> Data {
        var o: [String: Any] = ["node": options.node, "pid": Int(getpid()), "started": ISO8601DateFormatter().string(from: Date())]
        if let m = options.metricsURL { o["metrics"] = m }
        return (try? JSONSerialization.data(withJSONObject: o, options: [.sortedKeys])) ?? Data()
    }

    /// Reads desired/all/ and desired/node/NODE/ at one revision and applies them.
    func fullSync() async throws {
        let started = ContinuousClock.now
        let (rev, all) = try await etcd.range(options.layout.desiredAll, prefix: true)
        let (_, own) = try await etcd.range(options.layout.desiredNode(options.node), prefix: true, revision: rev)
        allKVs = Dictionary(all.map { ($0.key, $0) }, uniquingKeysWith: { $1 })
        ownKVs = Dictionary(own.map { ($0.key, $0) }, uniquingKeysWith: { $1 })
        seenAll = rev
        seenOwn = rev
        synced = true
        let newest = (all + own).map(\.modRevision).max() ?? 0
        try apply(revision: newest, since: started, force: true)
    }

    /// Keeps the lease alive and follows both watches until one fails.
    func follow() async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.keepAliveLoop() }
            group.addTask { try await self.watchLoop(own: false) }
            group.addTask { try await self.watchLoop(own: true) }
            try await group.next()
            group.cancelAll()
        }
    }

    func keepAliveLoop() async throws {
        let period = max(1.0, Double(options.leaseTTL) / 3)
        while true {
            try await Task.sleep(for: .seconds(period))
            guard let l = lease else { return }
            if try await etcd.keepAlive(lease: l) == 0 {
                lease = nil
                throw FleetError("lease \(String(l, radix: 16)) expired")
            }
        }
    }

    func watchLoop(own: Bool) async throws {
        let key = own ? options.layout.desiredNode(options.node) : options.layout.desiredAll
        let start = (own ? seenOwn : seenAll) + 1
        do {
            for try await batch in etcd.watch(key, prefix: true, startRevision: start) {
                try handle(batch.events, own: own, received: ContinuousClock.now)
            }
        } catch let e as FleetError where e.message.contains("compacted") {
            synced = false
            throw e
        }
    }

    /// One watch response: folds the events not seen yet into the state and applies it.
    func handle(_ events: [EtcdClient.Event], own: Bool, received: ContinuousClock.Instant) throws {
        let seen = own ? seenOwn : seenAll
        let fresh = events.filter { $0.kv.modRevision > seen }
        guard let newest = fresh.map(\.kv.modRevision).max() else { return }
        for e in fresh {
            if own {
                if e.kind == .put { ownKVs[e.kv.key] = e.kv } else { ownKVs[e.kv.key] = nil }
            } else {
                if e.kind == .put { allKVs[e.kv.key] = e.kv } else { allKVs[e.kv.key] = nil }
            }
        }
        if own { seenOwn = newest } else { seenAll = newest }
        try apply(revision: newest, since: received, force: false)
        Task { try? await self.writeStatus() }
    }

    /// The controllers whose maps the agent fills now: the command line's and the placed ones.
    public nonisolated var targets: NodeTargets { current.withLock { $0 } }

    /// Parses every key, starts and stops placed controllers, folds the node's effective state
    /// and changes the maps where they differ.
    func apply(revision: Int64, since: ContinuousClock.Instant, force: Bool) throws {
        var errors: [String: String] = [:]
        func items(_ kvs: [String: EtcdClient.KeyValue], under base: String, label: String) -> [DesiredState.Item] {
            kvs.values.sorted { $0.key < $1.key }.compactMap { kv in
                let rel = String(kv.key.dropFirst(base.count))
                do { return try DesiredState.parse(relativeKey: rel, value: kv.value) } catch {
                    errors[label + rel] = "\(error)"
                    return nil
                }
            }
        }
        // A controller this node does not run: its keys are refused (on the nodes they select).
        func runs(_ item: DesiredState.Item, label: String) -> Bool {
            let targets = self.targets
            let missing: String? = switch item.controller {
            case "http": targets.httpBlock == nil ? "this node runs no HTTP blocking (netbpf fleet place http-block IFACE, or netbpf agent --http-block-interface IFACE)" : nil
            case "vlan": targets.vlan == nil ? "this node runs no VLAN learning (netbpf fleet place vlan-learning TRUNK --worker IFACE, or netbpf agent --vlan-trunk IFACE --vlan-worker IFACE)" : nil
            default: targets.rateLimit == nil ? "this node runs no rate limiter (netbpf fleet place ratelimit IFACE, or netbpf agent --interface IFACE)" : nil
            }
            guard let missing else { return true }
            if DesiredState.matches(item.nodes, node: options.node) || label.hasPrefix("node/") { errors[label + item.key] = missing }
            return false
        }
        let allLabel = "all/", ownLabel = "node/\(options.node)/"
        let allItems = items(allKVs, under: options.layout.desiredAll, label: allLabel)
        let ownItems = items(ownKVs, under: options.layout.desiredNode(options.node), label: ownLabel)
        // Placements first: a controller placed in this revision gets its limits in this apply.
        let (wanted, placementErrors) = DesiredState.placements(node: options.node, all: allItems, own: ownItems)
        errors.merge(placementErrors) { a, _ in a }
        reconcile(wanted, errors: &errors)
        let all = allItems.filter { $0.placement == nil && runs($0, label: allLabel) }
        let own = ownItems.filter { $0.placement == nil && runs($0, label: ownLabel) }
        let (state, conflicts) = DesiredState.effective(node: options.node, all: all, own: own)
        errors.merge(conflicts) { a, _ in a }
        // A map update the kernel refused is reported under the key that asked for it.
        func refused(_ id: String, _ reason: String) { errors[state.origin[id] ?? "map:" + id] = reason }
        let targets = self.targets
        var outcome = LimitApplier.Outcome()
        if let rl = targets.rateLimit {
            outcome = try LimitApplier.apply(state, to: rl)
            for (k, v) in outcome.errors { refused("ratelimit " + k, v) }
        }
        var other = ControllerApplier.Outcome()
        if let http = targets.httpBlock {
            let o = try ControllerApplier.apply(blocks: state.blocks, to: http)
            other.added += o.added; other.removed += o.removed
            for (k, v) in o.errors { refused(k, v) }
        }
        if let vlan = targets.vlan {
            let o = try ControllerApplier.apply(vlanClients: state.vlanClients, to: vlan)
            other.added += o.added; other.removed += o.removed; other.moved += o.moved
            for (k, v) in o.errors { refused(k, v) }
        }
        let running = options.fixed.map { AgentHealth.Controller(placement: nil, $0, programID: nil, adopted: nil) }
            + placed.sorted { $0.key < $1.key }.map { AgentHealth.Controller(placement: $0.key, $0.value.placement, programID: $0.value.programID, adopted: $0.value.adopted) }
        let seconds = Double((ContinuousClock.now - since).components.attoseconds) / 1e18 + Double((ContinuousClock.now - since).components.seconds)
        health.withLock { h in
            if revision > h.revision || force {
                if revision > h.revision || h.history.last != revision { h.history.append(revision) }
                h.history = Array(h.history.suffix(64))
                h.revision = max(h.revision, revision)
                h.applies += 1
                h.appliedAt = Date()
                h.applySeconds = seconds
            }
            h.errors = errors
            h.limits = state.limits.count + (state.defaultRate == nil ? 0 : 1)
            h.blocks = targets.httpBlock == nil ? nil : state.blocks.count
            h.vlanClients = targets.vlan == nil ? nil : state.vlanClients.count
            h.controllers = running
        }
        statusDirty = true
        if outcome.changedAnything || other.changedAnything || !errors.isEmpty {
            log("applied revision \(revision): limits +\(outcome.added) ~\(outcome.changed) -\(outcome.removed)\(outcome.defaultChanged ? " default" : "")"
                + (other.changedAnything ? ", blocks/clients +\(other.added) ~\(other.moved) -\(other.removed)" : "")
                + (errors.isEmpty ? "" : ", \(errors.count) refused: " + errors.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: "; ")))
        }
    }

    /// Writes the status; one write at a time (the actor is reentrant at the await), and a
    /// change made during a write is written after it, so the last write is the newest state.
    func writeStatus() async throws {
        statusDirty = true
        guard !writingStatus else { return }
        writingStatus = true
        defer { writingStatus = false }
        while statusDirty {
            statusDirty = false
            let snapshot = health.withLock { $0 }
            do {
                try await etcd.put(options.layout.status(options.node), try AgentHealth.encoder().encode(snapshot))
            } catch {
                statusDirty = true
                throw error
            }
        }
    }

    nonisolated func log(_ s: String) {
        FileHandle.standardError.write(Data("netbpf agent \(options.node): \(s)\n".utf8))
    }
}
