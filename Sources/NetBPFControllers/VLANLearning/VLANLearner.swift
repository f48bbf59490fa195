import Foundation
import Glibc
import NetBPF
import NetBPFAttach
import NetBPFCompiler
import NetBPFNetlink
import Synchronization
internal import CNetBPFProgramTypes

/// VLAN learning (BCC's vlan_learning, done right): programs/vlan_learning.bpf.c on the ingress
/// of a trunk and of each worker interface, client MAC -> worker interface set here, and a
/// report of what the programs counted and learned.
///
/// `start` checks everything (namespace, interfaces) before it changes anything, compiles and
/// loads the object, fills the maps, attaches the worker programs and then the trunk program;
/// a failure part-way undoes what was done. `stop()` detaches everything (idempotent).
///
/// Kernel: 5.7 (bpf_skb_vlan_push/pop and bpf_redirect 4.3, bounded loops 5.3, `__sk_buff`
/// gso_segs 5.1 and gso_size 5.7); tcx links on 6.6+, clsact cls_bpf filters before
/// (`Attacher.attachTC`, BPF_LINK_CREATE or RTM_NEWTFILTER). See docs/vlan-learning.md.
///
/// Sendable: the attachment records sit behind a `Mutex`; the rest is `let`.
public final class VLANLearner: Sendable {
    /// The interfaces of a config, resolved in its namespace.
    public struct Interfaces: Sendable, Equatable {
        /// The trunk's interface index.
        public var trunk: Int32
        /// Worker name -> interface index.
        public var workers: [String: Int32]
        /// Every interface of the namespace by index (names for the report).
        public var names: [Int32: String]
    }

    /// What the learner was started with.
    public let config: VLANLearningConfig
    /// What `resolve` found when it started.
    public let interfaces: Interfaces
    /// What is attached now (workers first, the trunk last); empty after `stop()`.
    public var records: [AttachmentRecord] { attached.withLock { $0 } }
    private let attached = Mutex<[AttachmentRecord]>([])
    private let object: BPFObject
    private let store: AttachmentStore
    let maps: VLANLearningMaps

    private init(config: VLANLearningConfig, interfaces: Interfaces, object: BPFObject, store: AttachmentStore) throws {
        self.config = config
        self.interfaces = interfaces
        self.object = object
        self.store = store
        maps = try VLANLearningMaps(object)
    }

    /// Looks the config's interfaces up in its namespace (nothing is changed).
    /// - Throws: `ControllerError` naming the namespace or interface that does not exist.
    public static func resolve(_ config: VLANLearningConfig) throws -> Interfaces {
        if let ns = config.namespace, !NetworkNamespace.exists(ns) {
            throw ControllerError("network namespace '\(ns)' does not exist", hint: "ip netns list")
        }
        let links: [InterfaceInfo]
        do {
            links = try (config.namespace.map { try NetlinkSocket(namespace: $0) } ?? NetlinkSocket()).interfaces()
        } catch {
            throw ControllerError("cannot list the interfaces\(config.namespace.map { " of network namespace '\($0)'" } ?? ""): \(error)")
        }
        let byName = Dictionary(links.map { ($0.name, $0.index) }, uniquingKeysWith: { a, _ in a })
        let place = config.namespace.map { " in network namespace '\($0)'" } ?? ""
        func index(_ name: String, _ role: String) throws -> Int32 {
            guard let i = byName[name] else {
                throw ControllerError("\(role) interface '\(name)' does not exist\(place)",
                                        hint: "interfaces there: " + links.map(\.name).filter { $0 != "lo" }.joined(separator: ", "))
            }
            return i
        }
        let trunk = try index(config.trunk, "trunk")
        var workers: [String: Int32] = [:]
        for w in config.workers { workers[w] = try index(w, "worker") }
        return Interfaces(trunk: trunk, workers: workers, names: Dictionary(links.map { ($0.index, $0.name) }, uniquingKeysWith: { a, _ in a }))
    }

    /// Compiles programs/vlan_learning.bpf.c, loads it (bpf_object__load), fills vl_clients,
    /// vl_workers and vl_stats, attaches vl_worker_ingress to each worker interface and then
    /// vl_trunk_ingress to the trunk (tc ingress), and returns the running learner.
    /// - Throws: `ControllerError` for a missing namespace or interface (nothing created);
    ///   compiler, loader and attach errors (everything attached so far is detached again).
    public static func start(_ config: VLANLearningConfig, store: AttachmentStore = AttachmentStore()) throws -> VLANLearner {
        let interfaces = try resolve(config)
        let compiled = try BPFCompiler().compile(file: try BundledPrograms.path(VLANLearningProgram.file))
        let object = try compiled.open().load()
        let learner = try VLANLearner(config: config, interfaces: interfaces, object: object, store: store)
        do {
            try learner.configure()
            let attacher = Attacher(store: store)
            var options = TCAttachOptions()
            options.direction = .ingress
            // Workers first: by the time a client's frame is forwarded, its worker's replies
            // have a way back.
            let workerProgram = try object.program(named: VLANLearningProgram.workerProgram)
            for w in config.workers {
                let record = try attacher.attachTC(workerProgram, of: object, to: w, namespace: config.namespace, options: options,
                                                   lifetime: .process)
                learner.attached.withLock { $0.append(record) }
            }
            let trunk = try attacher.attachTC(try object.program(named: VLANLearningProgram.trunkProgram), of: object,
                                              to: config.trunk, namespace: config.namespace, options: options, lifetime: .process)
            learner.attached.withLock { $0.append(trunk) }
        } catch {
            learner.stop()
            throw error
        }
        return learner
    }

    /// Fills vl_clients, vl_workers and a zeroed vl_stats entry per client.
    private func configure() throws {
        var perWorker: [Int32: [vl_mac]] = [:]
        for c in config.clients {
            let worker = interfaces.workers[c.worker]!
            try maps.clients.update(c.mac.vlKey, vl_client(worker_ifindex: UInt32(bitPattern: worker), pad: 0))
            try maps.stats.update(c.mac.vlKey, perCPU: Array(repeating: vl_counters(), count: maps.stats.map.possibleCPUs))
            perWorker[worker, default: []].append(c.mac.vlKey)
        }
        for (worker, macs) in perWorker {
            try maps.workers.update(UInt32(bitPattern: worker), vl_worker(macs))
        }
    }

    /// Detaches every program this learner attached (trunk first), removing pins and records.
    public func stop() {
        let records = attached.withLock { records in
            defer { records = [] }
            return records
        }
        for r in records.reversed() { try? Attacher(store: store).undo(r) }
    }

    deinit { stop() }

    /// What the programs counted and learned so far (map dumps with batch operations; the
    /// per-CPU counters summed over possible CPUs).
    /// - Throws: `BPFError` from the map dumps.
    public func report(at time: Date = Date()) throws -> VLANLearningReport {
        try VLANLearningReport.make(config: config, interfaces: interfaces, snapshot: maps.snapshot(),
                                    monotonicNow: Self.monotonicNanoseconds(), time: time)
    }

    static func monotonicNanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}

/// The object's maps through typed views (sizes checked against the imported C structs).
struct VLANLearningMaps: Sendable {
    let clients: HashMap<vl_mac, vl_client>
    let learned: HashMap<vl_mac, vl_learned>
    let workers: HashMap<UInt32, vl_worker>
    let stats: PerCPUHashMap<vl_mac, vl_counters>
    let totals: PerCPUArrayMap<vl_total>
    let unknown: LRUHashMap<vl_unknown_key, vl_unknown>

    init(_ object: BPFObject) throws {
        clients = try HashMap(object.map(named: VLANLearningProgram.clientsMap))
        learned = try HashMap(object.map(named: VLANLearningProgram.learnedMap))
        workers = try HashMap(object.map(named: VLANLearningProgram.workersMap))
        stats = try PerCPUHashMap(object.map(named: VLANLearningProgram.statsMap))
        totals = try PerCPUArrayMap(object.map(named: VLANLearningProgram.totalsMap))
        unknown = try LRUHashMap(object.map(named: VLANLearningProgram.unknownMap))
    }

    func snapshot() throws -> VLANLearningSnapshot {
        var s = VLANLearningSnapshot()
        for e in try learned.entries() { s.learned[EthernetAddress(e.key.addr)] = e.value }
        for e in try stats.entries() {
            var sum = vl_counters()
            for v in e.values { sum.add(v) }
            s.stats[EthernetAddress(e.key.addr)] = sum
        }
        for e in try unknown.entries() { s.unknown.append((e.key, e.value)) }
        for i in 0..<UInt32(VLANLearningReport.Outcome.allCases.count) {
            s.totals.append(try totals.get(i).reduce(vl_total()) { vl_total(packets: $0.packets &+ $1.packets, bytes: $0.bytes &+ $1.bytes) })
        }
        return s
    }
}

/// The raw contents of the maps at one moment (what the report is made of; unit tests build
/// it by hand).
struct VLANLearningSnapshot {
    var learned: [EthernetAddress: vl_learned] = [:]
    var stats: [EthernetAddress: vl_counters] = [:]
    var unknown: [(vl_unknown_key, vl_unknown)] = []
    var totals: [vl_total] = []
}
