import Foundation
import Glibc
import NetBPF
import NetBPFAttach
import NetBPFCompiler
import NetBPFNetlink
internal import CNetBPFProgramTypes

/// The HTTP filter's BPF C: programs/NAME.bpf.c in `directory` when given, else where
/// BundledPrograms finds netbpf's programs (never the working directory); either way only if
/// it is owned by root (or the user) and not writable by others.
public enum HTTPPrograms {
    public static func locate(_ name: String, directory: String? = nil) throws -> String {
        if let directory { return try BundledPrograms.path("\(name).bpf.c", inDirectory: directory) }
        return try BundledPrograms.path("\(name).bpf.c")
    }

    /// Compiles programs/NAME.bpf.c in-process (through the compile cache) and opens it.
    public static func open(_ name: String, directory: String? = nil, compiler: BPFCompiler? = nil) throws -> BPFObjectSpec {
        let path = try locate(name, directory: directory)
        let compiled = try (compiler ?? BPFCompiler()).compile(file: path)
        return try compiled.open()
    }
}

/// Counters of the BPF side (per-CPU arrays summed).
public struct HTTPFilterStats: Sendable, Equatable, Codable {
    /// http_filter (socket filter): segments kept, by reason.
    public var requestSegments: UInt64 = 0
    public var responseSegments: UInt64 = 0
    public var continuationSegments: UInt64 = 0
    public var sessionsOpened: UInt64 = 0
    public var sessionsEnded: UInt64 = 0
    public var sessionsCapped: UInt64 = 0
    public var fragmentsSkipped: UInt64 = 0
    public var otherVLAN: UInt64 = 0
    /// http_block (tc), when attached.
    public var blockInspected: UInt64?
    public var blockDroppedPath: UInt64?
    public var blockDroppedHost: UInt64?
    public var blockNoHost: UInt64?

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
public final class HTTPFilter: @unchecked Sendable {
    public struct Options: Sendable {
        /// The interface to watch (nil: every interface of the namespace).
        public var interface: String?
        /// The network namespace (/run/netns/NAME) the interface is in; nil: the caller's.
        public var namespace: String?
        /// Keep only frames of this VLAN (tag in the frame or in skb metadata).
        public var vlan: UInt16?
        /// Attach the blocking program on the interface's ingress (implied by entries).
        public var blocking = false
        public var blockEntries: [HTTPBlockEntry] = []
        public var reassembler = HTTPReassemblerConfiguration()
        /// Where programs/ is (nil: HTTPPrograms.locate's search).
        public var programsDirectory: String?
        /// Where the attachment record of the blocking program goes (nil: Attacher's default,
        /// /run/netbpf/attach or $NETBPF_STATE_DIR/attach, where `netbpf list/detach` look).
        public var recordDirectory: String?
        /// Sessions in the BPF LRU map.
        public var maxSessions: UInt32 = 4096
        public init() {}
    }

    public let options: Options
    public let reassembler: HTTPReassembler
    let attacher: Attacher
    let filterObject: BPFObject
    let filterProgram: BPFProgram
    let sessions: BPFMap
    let stats: BPFMap
    var blockObject: BPFObject?
    /// The blocking program's attachment, while attached.
    public private(set) var blockRecord: AttachmentRecord?
    /// The block list of the attached blocking program.
    public private(set) var blockList: BPFHTTPBlockList?
    private let lock = NSLock()

    /// Compiles and loads the socket filter; with blocking, compiles, loads, fills and attaches
    /// the tc program (on failure nothing stays attached).
    public init(_ options: Options) throws {
        self.options = options
        reassembler = HTTPReassembler(configuration: options.reassembler)
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
        }
    }

    deinit { close() }

    /// Path of the pinned block list while blocking.
    public var blockListPin: String? { blockRecord.map { $0.pinDirectory + "/maps/block_list" } }

    /// Detaches the blocking program and removes its pins (idempotent).
    public func close() {
        lock.lock()
        let record = blockRecord
        blockRecord = nil
        lock.unlock()
        if let record { try? attacher.undo(record) }
    }

    /// Opens the packet socket in the namespace and processes frames until `until()` is true
    /// (checked at least every `pollMilliseconds`). `ready` runs once the socket is bound.
    /// Idle flows are expired, and the BPF sessions the reassembler gave up on deleted, once a second.
    /// With a namespace, `ready`, `shouldStop` and `handler` run on the namespace's thread (hence
    /// `@Sendable`); without one, on the caller's.
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
                    for event in self.reassembler.process(frame: frame.data, time: Self.now()) { handler(self.annotate(event)) }
                }
                let now = Self.now()
                if now - lastExpiry >= 1 {
                    lastExpiry = now
                    ticks += 1
                    self.reassembler.expire(now: now)
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
        guard let list = blockList, blockRecord != nil, case .request(var request) = event else { return event }
        request.blocked = list.match(path: request.path, host: request.host) != nil
        return .request(request)
    }

    /// Deletes the BPF sessions of lines the reassembler gave up on (too long, lost, expired).
    func closeSessions() {
        for key in reassembler.takeSessionsToClose() { _ = try? sessions.delete(key: Self.sessionKey(key)) }
    }

    /// Deletes BPF sessions idle for longer than the idle timeout that user space never heard
    /// of (their first segment was lost to a full socket buffer, or came before netbpf started);
    /// the LRU would push them out only when full. Returns how many went.
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
        sessionsSwept += removed
        return removed
    }

    /// BPF sessions removed by `sweepStaleSessions`.
    public private(set) var sessionsSwept = 0

    /// The bytes of the sessions map's key, `struct http_flow` of programs/include/http_filter.h:
    /// saddr[16], daddr[16] (an IPv4 address in the first 4 bytes), sport, dport (network order),
    /// family (4 or 6), pad[3].
    public static func sessionKey(_ flow: HTTPFlowKey) -> [UInt8] {
        var key = http_flow()
        withUnsafeMutableBytes(of: &key.saddr) { for (i, b) in flow.source.address.prefix(16).enumerated() { $0[i] = b } }
        withUnsafeMutableBytes(of: &key.daddr) { for (i, b) in flow.destination.address.prefix(16).enumerated() { $0[i] = b } }
        key.sport = flow.source.port.bigEndian
        key.dport = flow.destination.port.bigEndian
        key.family = flow.source.address.count == 16 ? 6 : 4
        return withUnsafeBytes(of: key) { Array($0) }
    }

    /// Open request lines the BPF side is passing continuations for.
    public func openSessions() throws -> Int { try sessions.keys().count }

    /// The BPF programs' counters.
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
