import Foundation
import Glibc
import NetBPF
import NetBPFAttach
import NetBPFCompiler
import NetBPFNetlink
import Synchronization
internal import CNetBPFProgramTypes

/// The HTTP filter's BPF C: programs/NAME.bpf.c in `directory` when given, else where
/// BundledPrograms finds netbpf's programs (never the working directory); either way only if
/// it is owned by root (or the user) and not writable by others.
package enum HTTPPrograms {
    package static func locate(_ name: String, directory: String? = nil) throws -> String {
        if let directory { return try BundledPrograms.path("\(name).bpf.c", inDirectory: directory) }
        return try BundledPrograms.path("\(name).bpf.c")
    }

    /// Compiles programs/NAME.bpf.c in-process (through the compile cache) and opens it.
    package static func open(_ name: String, directory: String? = nil, compiler: BPFCompiler? = nil) throws -> BPFObjectSpec {
        let path = try locate(name, directory: directory)
        let compiled = try (compiler ?? BPFCompiler()).compile(file: path)
        return try compiled.open()
    }
}

/// Counters of the BPF side (per-CPU arrays summed).
public struct HTTPFilterStats: Sendable, Equatable, Codable {
    /// http_filter (socket filter): segments kept, by reason.
    public var requestSegments: UInt64 = 0
    /// Segments kept because they start with a status line.
    public var responseSegments: UInt64 = 0
    /// Segments kept because they continue an open request line (a session in the BPF LRU map).
    public var continuationSegments: UInt64 = 0
    /// Sessions the socket filter opened for request lines split over segments.
    public var sessionsOpened: UInt64 = 0
    /// Sessions ended when their line was complete.
    public var sessionsEnded: UInt64 = 0
    /// Sessions ended at the line-length limit (HTTP_LINE_MAX).
    public var sessionsCapped: UInt64 = 0
    /// IP fragments skipped (no TCP header to read).
    public var fragmentsSkipped: UInt64 = 0
    /// Frames of another VLAN than the one asked for.
    public var otherVLAN: UInt64 = 0
    /// http_block (tc), when attached.
    public var blockInspected: UInt64?
    /// Requests dropped for a path prefix.
    public var blockDroppedPath: UInt64?
    /// Requests dropped for a host.
    public var blockDroppedHost: UInt64?
    /// Requests inspected that had no Host header in their first segment.
    public var blockNoHost: UInt64?

    /// All zero, the block counters nil.
    public init() {}

    enum CodingKeys: String, CodingKey {
        case requestSegments = "request_segments", responseSegments = "response_segments"
        case continuationSegments = "continuation_segments", sessionsOpened = "sessions_opened"
        case sessionsEnded = "sessions_ended", sessionsCapped = "sessions_capped"
        case fragmentsSkipped = "fragments_skipped", otherVLAN = "other_vlan"
        case blockInspected = "block_inspected", blockDroppedPath = "block_dropped_path"
        case blockDroppedHost = "block_dropped_host", blockNoHost = "block_no_host"
    }
}

/// The HTTP filter: the socket filter (programs/http_filter.bpf.c) on an AF_PACKET socket, the
/// reassembler behind it, and optionally the blocking tc program (programs/http_block.bpf.c) on
/// the interface's ingress with its block list pinned so `netbpf http-filter block` can change
/// it while this runs.
///
///     let filter = try HTTPFilter(options)
///     defer { filter.close() }
///     try filter.run(until: { stop.isSet }) { event in print(HTTPEventFormat.text(event)) }
///
/// `close()` detaches the blocking program and removes its pins; it is idempotent and also runs
/// on deinit. Kernel: socket filters (3.19), bpf_loop (5.17), tcx (6.6) or clsact (4.5).
///
/// Sendable: the reassembler (single-owner logic), the blocking program's record and the sweep
/// count sit behind a `Mutex`; the rest is `let`.
public final class HTTPFilter: Sendable {
    /// What to watch and whether to block.
    public struct Options: Sendable {
        /// The interface to watch (nil: every interface of the namespace).
        public var interface: String?
        /// The network namespace (/run/netns/NAME) the interface is in; nil: the caller's.
        public var namespace: String?
        /// Keep only frames of this VLAN (tag in the frame or in skb metadata).
        public var vlan: UInt16?
        /// Attach the blocking program on the interface's ingress (implied by entries).
        public var blocking = false
        /// Entries the block list starts with.
        public var blockEntries: [HTTPBlockEntry] = []
        /// Limits of the user-space reassembler (line length, idle timeout, flows).
        public var reassembler = HTTPReassemblerConfiguration()
        /// Where programs/ is (nil: HTTPPrograms.locate's search).
        public var programsDirectory: String?
        /// Where the attachment record of the blocking program goes (nil: Attacher's default,
        /// /run/netbpf/attach or $NETBPF_STATE_DIR/attach, where `netbpf list/detach` look).
        public var recordDirectory: String?
        /// Sessions in the BPF LRU map.
        public var maxSessions: UInt32 = 4096
        /// Every interface of the caller's namespace, no VLAN filter, no blocking.
        public init() {}
    }

    /// What the filter was made with.
    public let options: Options
    let attacher: Attacher
    let filterObject: BPFObject
    let filterProgram: BPFProgram
    let sessions: BPFMap
    let stats: BPFMap
    let blockObject: BPFObject?
    /// The block list of the blocking program (nil without blocking).
    public let blockList: BPFHTTPBlockList?
    private struct State {
        var reassembler: HTTPReassembler
        var blockRecord: AttachmentRecord?
        var sessionsSwept = 0
    }
    private let state: Mutex<State>

    /// Compiles and loads the socket filter; with blocking, compiles, loads, fills and attaches
    /// the tc program (on failure nothing stays attached).
    /// - Throws: `ControllerError` for a bad VLAN id or blocking without an interface; compile, load
    ///   and attach errors.
    public init(_ options: Options) throws {
        self.options = options
        attacher = options.recordDirectory.map { Attacher(store: AttachmentStore(directory: $0)) } ?? Attacher()
        let compiler = try BPFCompiler()
        let spec = try HTTPPrograms.open("http_filter", directory: options.programsDirectory, compiler: compiler)
        if let vlan = options.vlan {
            guard (1...4094).contains(vlan) else { throw ControllerError("VLAN id \(vlan) is not in 1...4094") }
            try spec.setGlobal("want_vlan", to: vlan)
        }
        try spec.setMaxEntries(options.maxSessions, forMap: "sessions")
        filterObject = try spec.load()
        filterProgram = try filterObject.program(named: "http_filter")
        sessions = try filterObject.map(named: "sessions")
        stats = try filterObject.map(named: "http_stats")

        var blockRecord: AttachmentRecord?
        if options.blocking || !options.blockEntries.isEmpty {
            guard let interface = options.interface else {
                throw ControllerError("blocking needs the server-side interface", hint: "give -i IFACE (the interface the requests come in on)")
            }
            let blockSpec = try HTTPPrograms.open("http_block", directory: options.programsDirectory, compiler: compiler)
            let object = try blockSpec.load()
            let list = try BPFHTTPBlockList(map: object.map(named: "block_list"))
            for entry in options.blockEntries { try list.add(entry) }
            var tc = TCAttachOptions()
            tc.direction = .ingress
            blockRecord = try attacher.attachTC(object.program(named: "http_block"), of: object, to: interface,
                                                        namespace: options.namespace, options: tc, lifetime: .process)
            blockObject = object
            blockList = list
        } else {
            blockObject = nil
            blockList = nil
        }
        state = Mutex(State(reassembler: HTTPReassembler(configuration: options.reassembler), blockRecord: blockRecord))
    }

    deinit { close() }

    /// The blocking program's attachment, while attached (nil without blocking and after `close()`).
    public var blockRecord: AttachmentRecord? { state.withLock { $0.blockRecord } }

    /// Path of the pinned block list while blocking.
    public var blockListPin: String? { blockRecord.map { $0.pinDirectory + "/maps/block_list" } }

    /// What user space made of the frames so far: requests, responses, duplicates, lines too
    /// long, parse errors.
    public var counters: HTTPCounters { state.withLock { $0.reassembler.counters } }

    /// Detaches the blocking program and removes its pins (idempotent).
    public func close() {
        let record = state.withLock { state in
            defer { state.blockRecord = nil }
            return state.blockRecord
        }
        if let record { try? attacher.undo(record) }
    }

    /// Opens the packet socket in the namespace and processes frames until `until()` is true
    /// (checked at least every `pollMilliseconds`). `ready` runs once the socket is bound.
    /// Idle flows are expired, and the BPF sessions the reassembler gave up on deleted, once a second.
    /// With a namespace, `ready`, `shouldStop` and `handler` run on the namespace's thread (hence
    /// `@Sendable`); without one, on the caller's.
    /// - Throws: `ControllerError` for a missing namespace; netlink errors for an unknown interface;
    ///   `BPFError` from the AF_PACKET socket (`.permission` without CAP_NET_RAW).
    public func run(pollMilliseconds: Int32 = 100, ready: @Sendable () -> Void = {}, until shouldStop: @Sendable () -> Bool,
                    _ handler: @Sendable (HTTPEvent) -> Void) throws {
        @Sendable func body() throws {
            let ifindex = try self.options.interface.map { try NetlinkSocket().interfaceIndex(.name($0)) } ?? 0
            let socket = try PacketSocket(program: self.filterProgram, ifindex: ifindex)
            ready()
            var lastExpiry = Self.now()
            var ticks = 0
            while !shouldStop() {
                if let frame = try socket.receive(timeoutMilliseconds: pollMilliseconds) {
                    let events = self.state.withLock { $0.reassembler.process(frame: frame.data, time: Self.now()) }
                    for event in events { handler(self.annotate(event)) }
                }
                let now = Self.now()
                if now - lastExpiry >= 1 {
                    lastExpiry = now
                    ticks += 1
                    self.state.withLock { $0.reassembler.expire(now: now) }
                    self.closeSessions()
                    if ticks % 10 == 0 { _ = try? self.sweepStaleSessions() }
                }
            }
            self.closeSessions()
        }
        if let namespace = options.namespace {
            guard NetworkNamespace.exists(namespace) else {
                throw ControllerError("network namespace '\(namespace)' does not exist", hint: "ip netns list")
            }
            try withNamespace(namespace) { try body() }
        } else {
            try body()
        }
    }

    /// Marks requests the blocking program's list matches (it drops them after the packet
    /// socket saw them).
    func annotate(_ event: HTTPEvent) -> HTTPEvent {
        guard let list = blockList, state.withLock({ $0.blockRecord != nil }), case .request(var request) = event else { return event }
        request.isBlocked = list.match(path: request.path, host: request.host) != nil
        return .request(request)
    }

    /// Deletes the BPF sessions of lines the reassembler gave up on (too long, lost, expired).
    func closeSessions() {
        for key in state.withLock({ $0.reassembler.takeSessionsToClose() }) { _ = try? sessions.delete(key: Self.sessionKey(key)) }
    }

    /// Deletes BPF sessions idle for longer than the idle timeout that user space never heard
    /// of (their first segment was lost to a full socket buffer, or came before netbpf started);
    /// the LRU would push them out only when full. Returns how many went.
    /// - Throws: `BPFError` from the map walk.
    @discardableResult
    public func sweepStaleSessions() throws -> Int {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        let now = UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
        let limit = UInt64(max(options.reassembler.idleTimeout, 0) * 1e9)
        var removed = 0
        for key in try sessions.keys() {
            guard let value = try sessions.lookup(key: key), value.count >= MemoryLayout<http_session>.size else { continue }
            let last = value.withUnsafeBytes { $0.loadUnaligned(as: http_session.self).last_ns }
            if last < now, now - last > limit, try sessions.delete(key: key) { removed += 1 }
        }
        state.withLock { $0.sessionsSwept += removed }
        return removed
    }

    /// BPF sessions removed by `sweepStaleSessions`.
    public var sessionsSwept: Int { state.withLock { $0.sessionsSwept } }

    /// The bytes of the sessions map's key, `struct http_flow` of programs/include/http_filter.h:
    /// saddr[16], daddr[16] (an IPv4 address in the first 4 bytes), sport, dport (network order),
    /// family (4 or 6), pad[3].
    package static func sessionKey(_ flow: HTTPFlowKey) -> [UInt8] {
        var key = http_flow()
        withUnsafeMutableBytes(of: &key.saddr) { for (i, b) in flow.source.address.prefix(16).enumerated() { $0[i] = b } }
        withUnsafeMutableBytes(of: &key.daddr) { for (i, b) in flow.destination.address.prefix(16).enumerated() { $0[i] = b } }
        key.sport = flow.source.port.bigEndian
        key.dport = flow.destination.port.bigEndian
        key.family = flow.source.address.count == 16 ? 6 : 4
        return withUnsafeBytes(of: key) { Array($0) }
    }

    /// Open request lines the BPF side is passing continuations for.
    /// - Throws: `BPFError` from the map walk.
    public func openSessions() throws -> Int { try sessions.keys().count }

    /// The BPF programs' counters.
    /// - Throws: `BPFError` from the per-CPU array lookups.
    public func kernelStats() throws -> HTTPFilterStats {
        let s = try PerCPUArrayMap<UInt64>(stats)
        var out = HTTPFilterStats()
        out.requestSegments = try s.sum(HTTP_STAT_REQUEST.rawValue)
        out.responseSegments = try s.sum(HTTP_STAT_RESPONSE.rawValue)
        out.continuationSegments = try s.sum(HTTP_STAT_CONTINUATION.rawValue)
        out.sessionsOpened = try s.sum(HTTP_STAT_SESSION_OPEN.rawValue)
        out.sessionsEnded = try s.sum(HTTP_STAT_SESSION_END.rawValue)
        out.sessionsCapped = try s.sum(HTTP_STAT_SESSION_CAP.rawValue)
        out.fragmentsSkipped = try s.sum(HTTP_STAT_FRAGMENT.rawValue)
        out.otherVLAN = try s.sum(HTTP_STAT_VLAN_OTHER.rawValue)
        if let blockObject {
            let b = try PerCPUArrayMap<UInt64>(blockObject.map(named: "block_stats"))
            out.blockInspected = try b.sum(BLOCK_STAT_REQUESTS.rawValue)
            out.blockDroppedPath = try b.sum(BLOCK_STAT_DROP_PATH.rawValue)
            out.blockDroppedHost = try b.sum(BLOCK_STAT_DROP_HOST.rawValue)
            out.blockNoHost = try b.sum(BLOCK_STAT_NO_HOST.rawValue)
        }
        return out
    }

    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}
