import Foundation
import Glibc
import NetBPF
import NetBPFAttach
import NetBPFCompiler
import NetBPFNetlink
internal import CNetBPFProgramTypes

/// Per-IP and per-prefix rate limiting done in BPF (programs/ratelimit.bpf.c): a tc classifier
/// with a token bucket per configured key, kept in maps that this controller changes live.
/// Policing drops over the rate; shaping puts each limited key in its own HTB class (egress).
/// Sendable: its state is the attachment record and typed views of pinned maps, all `let`; two
/// threads changing the same limit at once both reach the kernel, and the last write wins.
///
/// Kernel: tcx links on 6.6+, clsact cls_bpf direct-action filters before (4.5); LPM tries 4.11.
public final class RateLimiter: Sendable {
    /// Which address of a packet picks its limit: the source's or the destination's.
    public enum KeyOn: String, Sendable, Codable { case source, destination }

    /// One configured limit with its counters.
    public struct Entry: Sendable, Encodable, Equatable {
        /// The address or prefix, or "default" / "neighbors".
        public var prefix: String
        /// The rate in bits per second.
        public var rateBitsPerSecond: UInt64
        /// The bucket size in bytes.
        public var burstBytes: UInt64
        /// The bucket's slot (and HTB class minor when shaping).
        public var id: UInt32
        /// Packets within the rate.
        public var passedPackets: UInt64
        /// Bytes within the rate.
        public var passedBytes: UInt64
        /// Packets dropped over the rate (policing).
        public var droppedPackets: UInt64
        /// Bytes dropped over the rate.
        public var droppedBytes: UInt64
    }

    /// The attachment: where the classifier is, and the pin directory of its maps.
    public let record: AttachmentRecord
    let limits4: LPMTrieMap<(UInt8, UInt8, UInt8, UInt8), rl_limit>
    let limits6: BPFMap
    let buckets: ArrayMap<rl_bucket>
    let special: ArrayMap<rl_limit>
    let config: ArrayMap<rl_config>

    /// The limiter netbpf attached to `interface` (found through its attachment record; its
    /// maps opened from their pins, BPF_OBJ_GET).
    /// - Throws: `ControllerError` when no limiter or more than one matches, or when it was
    ///   detached while being opened.
    public convenience init(interface: String? = nil, namespace: String? = nil, store: AttachmentStore = AttachmentStore()) throws {
        let candidates = store.all().filter { $0.programName == "ratelimit" && (interface == nil || $0.interface == interface) && (namespace == nil || $0.namespace == namespace) }
        guard let record = candidates.first else {
            throw ControllerError("no rate limiter is attached" + (interface.map { " to \($0)" } ?? ""), hint: "netbpf ratelimit attach IFACE")
        }
        guard candidates.count == 1 else {
            throw ControllerError("\(candidates.count) rate limiters are attached: " + candidates.map(\.place).joined(separator: ", "), hint: "choose one with --interface (and --netns)")
        }
        do {
            try self.init(record: record)
        } catch where !store.all().contains(record) {
            throw Self.detachedMeanwhile(record)
        }
    }

    static func detachedMeanwhile(_ record: AttachmentRecord) -> ControllerError {
        ControllerError("no rate limiter is attached to \(record.place): another command detached it meanwhile")
    }

    init(record: AttachmentRecord) throws {
        self.record = record
        let maps = record.pinDirectory + "/maps/"
        limits4 = try LPMTrieMap(BPFMap.open(pinned: maps + "limits4"))
        limits6 = try BPFMap.open(pinned: maps + "limits6")
        buckets = try ArrayMap(BPFMap.open(pinned: maps + "buckets"))
        special = try ArrayMap(BPFMap.open(pinned: maps + "special"))
        config = try ArrayMap(BPFMap.open(pinned: maps + "config"))
    }

    /// Compiles, loads and attaches the limiter to `interface` (tc, `direction`), keyed on the
    /// source or destination address. Shaping makes an HTB root qdisc 1: on the interface as
    /// part of the attach (under the hook's lock, after the duplicate check), and the record
    /// names it, so whatever undoes the attachment (detach, doctor --fix, the next attach after
    /// a SIGKILL) removes it with its classes.
    /// - Throws: `ControllerError` for shaping on ingress; compile, load and attach errors
    ///   (nothing stays attached).
    @discardableResult
    public static func attach(interface: String, namespace: String?, direction: TCDirection, keyOn: KeyOn,
                              shape: Bool = false, learnNeighbors: Bool = false, store: AttachmentStore = AttachmentStore(),
                              lifetime: AttachmentLifetime = .pinned) throws -> RateLimiter {
        if shape && direction != .egress { throw ControllerError("shaping works on egress (HTB is an egress qdisc)", hint: "use --egress with --shape") }
        let compiled = try BPFCompiler().compile(file: try BundledPrograms.path("ratelimit.bpf.c"))
        let object = try compiled.open().load()
        try ArrayMap<rl_config>(object.map(named: "config")).set(0, rl_config(key_on_destination: keyOn == .destination ? 1 : 0, shape: shape ? 1 : 0,
                                                                              learn_neighbors: learnNeighbors ? 1 : 0, pad: 0))
        var options = TCAttachOptions()
        options.direction = direction
        if shape { options.creations = [.htbRoot(on: interface)] }
        let attacher = Attacher(store: store)
        let record = try attacher.attachTC(try object.program(named: "ratelimit"), of: object, to: interface, namespace: namespace, options: options,
                                           lifetime: lifetime)
        do {
            return try RateLimiter(record: record)
        } catch {
            try? attacher.undo(record)
            throw error
        }
    }

    var isShaping: Bool { ((try? config.get(0).shape) ?? 0) == 1 }

    /// Sets (or changes) the limit of an address or prefix, live (an LPM trie update,
    /// BPF_MAP_UPDATE_ELEM). A changed limit keeps its bucket's state, a new one starts full.
    /// - Throws: `ControllerError` when all limit slots are in use; `BPFError` from the map
    ///   updates; netlink errors from the HTB class (RTM_NEWTCLASS) when shaping.
    public func add(_ prefix: AddressPrefix, rateBitsPerSecond rate: UInt64, burstBytes: UInt64? = nil) throws {
        let existing = try limit(for: prefix)
        let id = try existing?.id ?? freeID()
        let burst = burstBytes ?? Self.defaultBurst(rateBitsPerSecond: rate)
        let limit = rl_limit(bytesPerSecond: rate / 8, burst: burst, id: id)
        // A new limit starts with a full bucket; a changed one keeps its state, so a lower rate
        // bites at once instead of after a fresh burst.
        if existing == nil { try buckets.set(id, rl_bucket()) }
        if isShaping { try shapeClass(id: id, rate: rate, burst: burst) }
        if prefix.isIPv6 {
            let key = rl_key6(prefix)
            try withUnsafeBytes(of: key) { k in try withUnsafeBytes(of: limit) { try limits6.update(key: k.baseAddress!, value: $0.baseAddress!) } }
        } else {
            try limits4.insert(rl_key4(prefix).addr, prefixLength: UInt32(prefix.length), limit)
        }
    }

    /// Removes the limit of exactly this address or prefix (and its HTB class when shaping).
    /// - Throws: `ControllerError` when no limit is set for it; `BPFError` from the delete.
    public func remove(_ prefix: AddressPrefix) throws {
        guard let existing = try limit(for: prefix) else { throw ControllerError("no limit is set for \(prefix)", hint: "netbpf ratelimit list") }
        if prefix.isIPv6 {
            var key = rl_key6(prefix)
            try limits6.delete(key: &key)
        } else {
            try limits4.remove(rl_key4(prefix).addr, prefixLength: UInt32(prefix.length))
        }
        if isShaping { try? inNamespace(record.namespace) { try netlink().deleteClass(on: .name(record.interface), classID: TCHandle(major: 1, minor: UInt16(existing.id))) } }
    }

    /// Sets the limit for addresses without one of their own (nil: unlimited), live; the bucket
    /// starts full.
    /// - Throws: `BPFError` from the map updates; netlink errors from the HTB class when shaping.
    public func setDefault(rateBitsPerSecond rate: UInt64?, burstBytes: UInt64? = nil) throws {
        try setSpecial(RLIDs.defaultLimit, rate: rate, burst: burstBytes)
    }

    /// Sets the limit for addresses the learning program saw on a neighbor port (nil:
    /// unlimited), live; the bucket starts full.
    /// - Throws: `BPFError` from the map updates; netlink errors from the HTB class when shaping.
    public func setNeighbor(rateBitsPerSecond rate: UInt64?, burstBytes: UInt64? = nil) throws {
        try setSpecial(RLIDs.neighborLimit, rate: rate, burst: burstBytes)
    }

    private func setSpecial(_ id: UInt32, rate: UInt64?, burst: UInt64?) throws {
        let r = rate ?? 0
        let b = burst ?? Self.defaultBurst(rateBitsPerSecond: r)
        try buckets.set(id, rl_bucket())
        if isShaping && r > 0 { try shapeClass(id: id, rate: r, burst: b) }
        try special.set(id, rl_limit(bytesPerSecond: r / 8, burst: b, id: id))
    }

    /// 200 ms at the rate, at least 256 KiB. A policer drops whole GSO packets (up to 64 KiB)
    /// and TCP backs off hard on such bursts of loss; measured on veth with iperf3, a 62 KB
    /// burst gave TCP 22-57% of the rate, 256 KiB 98% (docs/ratelimit.md).
    public static func defaultBurst(rateBitsPerSecond rate: UInt64) -> UInt64 { max(rate / 8 / 5, 256 * 1024) }

    private func shapeClass(id: UInt32, rate: UInt64, burst: UInt64) throws {
        try inNamespace(record.namespace) {
            let nl = try netlink()
            let handle = TCHandle(major: 1, minor: UInt16(id))
            try? nl.deleteClass(on: .name(record.interface), classID: handle)
            try nl.addHTBClass(on: .name(record.interface), parent: TCHandle(major: 1, minor: 0), classID: handle,
                               HTBClassOptions(rateBitsPerSecond: rate, ceilBitsPerSecond: rate, burstBytes: UInt32(min(burst, UInt64(UInt32.max)))))
        }
    }

    private func netlink() throws -> NetlinkSocket {
        try record.namespace.map { try NetlinkSocket(namespace: $0) } ?? NetlinkSocket()
    }

    private func limit(for prefix: AddressPrefix) throws -> rl_limit? {
        try allLimits().first { $0.0 == prefix }?.1
    }

    private func allLimits() throws -> [(AddressPrefix, rl_limit)] {
        var out = try limits4.entries().map { e in (AddressPrefix(address: withUnsafeBytes(of: e.address) { Array($0) }, length: Int(e.prefixLength)), e.value) }
        for e in try limits6.dump(method: .perKey) {
            let key = e.key.withUnsafeBytes { $0.loadUnaligned(as: rl_key6.self) }
            out.append((key.prefix, e.value.withUnsafeBytes { $0.loadUnaligned(as: rl_limit.self) }))
        }
        return out
    }

    private func freeID() throws -> UInt32 {
        let used = Set(try allLimits().map(\.1.id))
        guard let id = (2..<RLIDs.capacity).first(where: { !used.contains($0) }) else {
            throw ControllerError("all \(RLIDs.capacity - 2) limit slots are in use")
        }
        return id
    }

    /// Every configured limit with its counters, the default and neighbor limits included.
    /// - Throws: `BPFError` from the map reads.
    public func entries() throws -> [Entry] {
        var out: [Entry] = []
        for (prefix, limit) in try allLimits() { out.append(try entry(prefix.description, limit)) }
        for (id, name) in [(RLIDs.defaultLimit, "default"), (RLIDs.neighborLimit, "neighbors")] {
            let l = try special.get(id)
            if l.rate_bytes_per_sec > 0 { out.append(try entry(name, l)) }
        }
        return out
    }

    private func entry(_ name: String, _ l: rl_limit) throws -> Entry {
        let b = try buckets.get(l.id)
        return Entry(prefix: name, rateBitsPerSecond: l.rate_bytes_per_sec * 8, burstBytes: l.burst_bytes, id: l.id,
                     passedPackets: b.passed_packets, passedBytes: b.passed_bytes, droppedPackets: b.dropped_packets, droppedBytes: b.dropped_bytes)
    }

    /// Live rates: counters sampled `interval` seconds apart.
    public struct LiveRate: Sendable, Encodable {
        /// The entry at the second read.
        public var entry: Entry
        /// Bits per second passed between the reads.
        public var passedBitsPerSecond: Double
        /// Packets per second dropped between the reads.
        public var droppedPacketsPerSecond: Double
    }

    /// Reads the counters twice, `interval` seconds apart, and returns the rates over the time
    /// that really passed between the reads: a stopped process sleeps longer than asked, and a
    /// signal (SIGINT, to stop) ends the sleep early. Blocks the calling thread.
    /// - Throws: `BPFError` from the map reads.
    public func sample(interval: Double) throws -> [LiveRate] {
        let a = try entries()
        let t0 = MonotonicClock.seconds()
        usleep(UInt32(min(max(0, interval), 4000) * 1e6))
        let b = try entries()
        return Self.rates(before: a, after: b, seconds: MonotonicClock.seconds() - t0)
    }

    /// Rates of each entry of `after` against the same entry in `before` over `seconds`
    /// (entries new since `before` count from their first reading: rate 0).
    package static func rates(before: [Entry], after: [Entry], seconds: Double) -> [LiveRate] {
        after.map { now in
            let then = before.first { $0.id == now.id && $0.prefix == now.prefix } ?? now
            return LiveRate(entry: now,
                            passedBitsPerSecond: CounterRate.perSecond(from: then.passedBytes, to: now.passedBytes, seconds: seconds) * 8,
                            droppedPacketsPerSecond: CounterRate.perSecond(from: then.droppedPackets, to: now.droppedPackets, seconds: seconds))
        }
    }

    /// Detaches the limiter, removing pins and record (and the HTB qdisc in shaping mode: the
    /// record names it).
    /// - Throws: `ControllerError` when another command detached it meanwhile; the errors of
    ///   `Attacher.undo` (netlink, bpffs).
    public func detach(store: AttachmentStore = AttachmentStore()) throws {
        do {
            try Attacher(store: store).undo(record)
        } catch let e as AttachError where e.code == .notFound {
            throw Self.detachedMeanwhile(record)
        }
    }
}

func inNamespace<T>(_ name: String?, _ body: @Sendable () throws -> sending T) throws -> sending T {
    guard let name else { return try body() }
    return try withNamespace(name, body)
}
