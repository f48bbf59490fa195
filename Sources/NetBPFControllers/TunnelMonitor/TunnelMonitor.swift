import Foundation
import Glibc
import NetBPF
import NetBPFAttach
import NetBPFCompiler
import Synchronization
import NetBPFNetlink
internal import CNetBPFProgramTypes

/// All counters of a tunnel monitor at one moment, summed over CPUs.
public struct TunnelReading: Sendable {
    /// CLOCK_MONOTONIC seconds when the read started.
    public var time: Double
    /// Every conversation's counters.
    public var conversations: [TMKey: TMCounters]
    /// Flooded frames per VNI and group.
    public var floods: [TMFloodKey: TMFloodCounters]
    /// What happened to the frames (seen, counted, errors).
    public var stats: TMStats
    /// Seconds the read took (the batch dumps and the per-CPU sums).
    public var readSeconds: Double = 0

    /// A reading from its parts (the in-memory source and tests make them).
    public init(time: Double, conversations: [TMKey: TMCounters] = [:], floods: [TMFloodKey: TMFloodCounters] = [:], stats: TMStats = TMStats()) {
        self.time = time
        self.conversations = conversations
        self.floods = floods
        self.stats = stats
    }
}

/// Where the controller's counters come from: the BPF maps (`TunnelMonitor`) or, in unit tests,
/// an in-memory fake (`InMemoryTunnelSource`).
public protocol TunnelCounterSource: AnyObject, Sendable {
    /// The counters now, summed over CPUs.
    func read() throws -> TunnelReading
    /// The most conversations the source can hold (the map's max_entries).
    var capacity: Int { get }
}

/// A tunnel monitor error in one line.

func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// The VXLAN tunnel monitor in the kernel (programs/tunnel_monitor.bpf.c): two tc programs on an
/// underlay interface's ingress and egress sharing per-CPU maps, and the reads of those maps.
///
/// Sendable: the records and the last read's size sit behind a `Mutex`; the rest is `let`.
/// Kernel: tcx links on 6.6+, clsact cls_bpf filters before (4.5); batch map reads 5.6.
public final class TunnelMonitor: TunnelCounterSource, Sendable {
    /// The underlay interface the programs are attached to ("-" when not attached).
    public let interface: String
    /// The network namespace of `interface` (nil: the caller's).
    public let namespace: String?
    /// The VXLAN UDP ports the programs count (network order in the BPF config map).
    public let ports: [UInt16]
    /// What is attached (ingress, egress); `detach()` undoes both and empties it.
    public var records: [AttachmentRecord] { state.withLock { $0.records } }
    /// The most conversations the table holds (the `conversations` map's max_entries).
    public let capacity: Int
    let object: BPFObject
    let conversationsMap: BPFMap
    let floodsMap: BPFMap
    let statsMap: BPFMap
    private let store: AttachmentStore
    private struct State {
        var records: [AttachmentRecord]
        /// Conversations in the previous read (to size the next one's dictionary).
        var lastCount = 0
    }
    private let state: Mutex<State>

    private init(interface: String, namespace: String?, ports: [UInt16], records: [AttachmentRecord], object: BPFObject, store: AttachmentStore) throws {
        self.interface = interface
        self.namespace = namespace
        self.ports = ports
        state = Mutex(State(records: records))
        self.object = object
        self.store = store
        conversationsMap = try object.map(named: "conversations")
        floodsMap = try object.map(named: "floods")
        statsMap = try object.map(named: "stats")
        capacity = conversationsMap.maxEntries
        try Self.checkLayouts(conversations: conversationsMap, floods: floodsMap, stats: statsMap)
    }

    /// A monitor over a loaded object that is not attached anywhere (benchmarks and tests
    /// read its maps; `detach()` has nothing to undo).
    package convenience init(loaded object: BPFObject, ports: [UInt16] = [TMLimits.defaultPort]) throws {
        try self.init(interface: "-", namespace: nil, ports: ports, records: [], object: object, store: AttachmentStore())
    }

    static func checkLayouts(conversations: BPFMap, floods: BPFMap, stats: BPFMap) throws {
        _ = try PerCPUHashMap<TMKey, TMCounters>(conversations)
        _ = try PerCPUHashMap<TMFloodKey, TMFloodCounters>(floods)
        _ = try PerCPUArrayMap<TMStats>(stats)
    }

    /// Compiles and loads programs/tunnel_monitor.bpf.c with room for `maxConversations`
    /// conversations and the VXLAN `ports` (at most 4; default 4789), without attaching it.
    /// - Throws: `ControllerError` for bad ports or table size; compile and load errors
    ///   (bpf_object__load).
    public static func load(ports: [UInt16] = [TMLimits.defaultPort], maxConversations: Int = TMLimits.defaultMaxConversations) throws -> BPFObject {
        guard !ports.isEmpty, ports.count <= TMLimits.maxPorts, !ports.contains(0) else {
            throw ControllerError("give 1 to \(TMLimits.maxPorts) VXLAN UDP ports (not 0)", hint: "e.g. --port 4789 --port 8472")
        }
        // The table is preallocated (no allocation on the packet path): about 280 bytes per
        // entry with 2 CPUs (bpftool's memlock for 100,000 entries: 27.7 MB), 64 more per extra
        // CPU; 4M entries is over a gigabyte.
        guard maxConversations >= 1, maxConversations <= 1 << 22 else {
            throw ControllerError("--max-conversations \(maxConversations) is out of range", hint: "1 to 4194304 (the table is preallocated)")
        }
        let compiled = try BPFCompiler().compile(file: try BundledPrograms.path("tunnel_monitor.bpf.c"))
        let spec = try compiled.open()
        try spec.setMaxEntries(UInt32(maxConversations), forMap: "conversations")
        let object = try spec.load()
        try ArrayMap<tm_config>(object.map(named: "config")).set(0, tm_config(ports: ports))
        return object
    }

    /// Compiles, loads and attaches the monitor to `interface` (tc ingress and egress; tcx where
    /// the kernel has it). Either both hooks are attached or nothing is.
    public static func attach(interface: String, namespace: String? = nil, ports: [UInt16] = [TMLimits.defaultPort],
                              maxConversations: Int = TMLimits.defaultMaxConversations,
                              store: AttachmentStore = AttachmentStore()) throws -> TunnelMonitor {
        let object = try load(ports: ports, maxConversations: maxConversations)
        let attacher = Attacher(store: store)
        var records: [AttachmentRecord] = []
        do {
            for (name, direction) in [("tunnel_ingress", TCDirection.ingress), ("tunnel_egress", .egress)] {
                var options = TCAttachOptions()
                options.direction = direction
                records.append(try attacher.attachTC(try object.program(named: name), of: object, to: interface, namespace: namespace, options: options,
                                                     lifetime: .process))
            }
            return try TunnelMonitor(interface: interface, namespace: namespace, ports: ports, records: records, object: object, store: store)
        } catch {
            for r in records.reversed() { try? attacher.undo(r) }
            throw error
        }
    }

    /// Detaches both programs and removes their pins and records (idempotent).
    /// - Throws: the first error of `Attacher.undo` (both undos are tried; the records are forgotten
    ///   either way).
    public func detach() throws {
        let attacher = Attacher(store: store)
        let records = state.withLock { state in
            defer { state.records = [] }
            return state.records
        }
        var firstError: Error?
        for r in records.reversed() {
            do { try attacher.undo(r) } catch { firstError = firstError ?? error }
        }
        if let firstError { throw firstError }
    }

    /// Reads every map with batch lookups and sums the per-CPU values.
    /// - Throws: `BPFError` from the map reads (BPF_MAP_LOOKUP_BATCH, kernel 5.6; key by key before).
    public func read() throws -> TunnelReading {
        let t0 = monotonicSeconds()
        var reading = TunnelReading(time: t0)
        let expected = state.withLock { $0.lastCount }
        reading.conversations = try Self.sumPerCPU(conversationsMap, key: TMKey.self, value: TMCounters.self, expected: expected) { $0.add($1) }
        let count = reading.conversations.count
        state.withLock { $0.lastCount = count }
        reading.floods = try Self.sumPerCPU(floodsMap, key: TMFloodKey.self, value: TMFloodCounters.self) { $0.add($1) }
        let perCPU = try PerCPUArrayMap<TMStats>(statsMap).get(0)
        for s in perCPU { reading.stats.add(s) }
        reading.readSeconds = monotonicSeconds() - t0
        return reading
    }

    /// A per-CPU hash dumped in batches, each key's values added over the possible CPUs.
    static func sumPerCPU<K: BitwiseCopyable & Hashable, V: BitwiseCopyable>(_ map: BPFMap, key: K.Type, value: V.Type, expected: Int = 0,
                                                                            add: (inout V, V) -> Void) throws -> [K: V] {
        var out: [K: V] = [:]
        out.reserveCapacity(max(64, expected + expected / 8))
        let ks = map.keySize, vs = map.valueBufferSize, cpus = map.possibleCPUs
        let slot = (MemoryLayout<V>.size + 7) / 8 * 8
        try map.forEachChunk { keys, values, count in
            for i in 0..<count {
                let k = keys.loadUnaligned(fromByteOffset: i * ks, as: K.self)
                var v = values.loadUnaligned(fromByteOffset: i * vs, as: V.self)
                for c in 1..<max(cpus, 1) { add(&v, values.loadUnaligned(fromByteOffset: i * vs + c * slot, as: V.self)) }
                out[k] = v
            }
        }
        return out
    }

    /// The two programs (for BPF_PROG_TEST_RUN).
    package var programs: (ingress: BPFProgram, egress: BPFProgram) {
        get throws { (try object.program(named: "tunnel_ingress"), try object.program(named: "tunnel_egress")) }
    }
}

/// Counters held in memory: the controller's logic (rates, deltas, reports, /metrics) is tested
/// with it without root or BPF.
package final class InMemoryTunnelSource: TunnelCounterSource, Sendable {
    private struct State {
        var conversations: [TMKey: TMCounters] = [:]
        var floods: [TMFloodKey: TMFloodCounters] = [:]
        var stats = TMStats()
        var now: Double = 1000
    }
    private let state = Mutex(State())
    /// The conversations' counters.
    package var conversations: [TMKey: TMCounters] {
        get { state.withLock { $0.conversations } }
        set { state.withLock { $0.conversations = newValue } }
    }
    /// The flood counters.
    package var floods: [TMFloodKey: TMFloodCounters] {
        get { state.withLock { $0.floods } }
        set { state.withLock { $0.floods = newValue } }
    }
    /// The frame counters.
    package var stats: TMStats {
        get { state.withLock { $0.stats } }
        set { state.withLock { $0.stats = newValue } }
    }
    /// The time a read reports (monotonic seconds; tests move it on).
    package var now: Double {
        get { state.withLock { $0.now } }
        set { state.withLock { $0.now = newValue } }
    }
    /// The table size the source claims.
    package let capacity: Int

    /// An empty source claiming room for `capacity` conversations.
    package init(capacity: Int = TMLimits.defaultMaxConversations) { self.capacity = capacity }

    /// Adds frames to a conversation cell as the BPF program would.
    package func add(_ key: TMKey, _ cell: TMCell, packets: UInt64, bytes: UInt64) {
        state.withLock { state in
            var c = state.conversations[key] ?? TMCounters()
            c[packets: cell] += packets
            c[bytes: cell] += bytes
            state.conversations[key] = c
            state.stats[.counted] += packets
            state.stats[.seen] += packets
        }
    }

    /// The counters as they are now, at `now`.
    package func read() throws -> TunnelReading {
        state.withLock { TunnelReading(time: $0.now, conversations: $0.conversations, floods: $0.floods, stats: $0.stats) }
    }
}
