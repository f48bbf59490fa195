import NetBPF
import NetBPFAttach
import NetBPFCompiler
import Synchronization

/// A limiter set up from a config for the life of a command: attach, learning programs on
/// neighbor ports, limits; `stop()` undoes all of it (also after a partial start).
/// Sendable: the learners' records sit behind a `Mutex`.
public final class RateLimitSession: Sendable {
    /// The attached limiter (add, remove and read limits through it while the session runs).
    public let limiter: RateLimiter
    private let learners = Mutex<[AttachmentRecord]>([])
    private let store: AttachmentStore

    private init(limiter: RateLimiter, store: AttachmentStore) {
        self.limiter = limiter
        self.store = store
    }

    /// Attaches the limiter of `config` (for the life of the process), sets its default,
    /// neighbor and per-prefix limits, and attaches the neighbor-learning program to each
    /// `learnOn` port (tc ingress, sharing the limiter's pinned `neighbors` map).
    /// - Throws: `ControllerError`, compiler, loader, attach and map errors (everything done so
    ///   far is undone).
    public static func start(_ config: RateLimitConfig, store: AttachmentStore = AttachmentStore()) throws -> RateLimitSession {
        let limiter = try RateLimiter.attach(interface: config.interface, namespace: config.namespace, direction: config.direction,
                                             keyOn: config.keyOn, shape: config.shape, learnNeighbors: !config.learnOn.isEmpty, store: store,
                                             lifetime: .process)
        let session = RateLimitSession(limiter: limiter, store: store)
        do {
            try limiter.setDefault(rateBitsPerSecond: config.defaultRate)
            if let n = config.neighborRate { try limiter.setNeighbor(rateBitsPerSecond: n) }
            for l in config.limits { try limiter.add(l.prefix, rateBitsPerSecond: l.rate, burstBytes: l.burst) }
            if !config.learnOn.isEmpty {
                // The learning program shares the limiter's `neighbors` map through its pin.
                let compiled = try BPFCompiler().compile(file: try BundledPrograms.path("ratelimit.bpf.c"))
                let spec = try compiled.open()
                try spec.setPinPath(limiter.record.pinDirectory + "/maps/neighbors", forMap: "neighbors")
                let object = try spec.load()
                let program = try object.program(named: "learn_neighbor")
                for port in config.learnOn {
                    // "NAMESPACE/IFACE" names a port in another namespace (a bridge's, say).
                    let parts = port.split(separator: "/", maxSplits: 1).map(String.init)
                    let (namespace, interface) = parts.count == 2 ? (parts[0], parts[1]) : (config.namespace, port)
                    var options = TCAttachOptions()
                    options.direction = .ingress
                    let record = try Attacher(store: store).attachTC(program, of: object, to: interface, namespace: namespace, options: options,
                                                                     lifetime: .process)
                    session.learners.withLock { $0.append(record) }
                }
            }
        } catch {
            session.stop()
            throw error
        }
        return session
    }

    /// Detaches the learning programs and the limiter (pins, records and, when shaping, the
    /// HTB qdisc go with it). Errors are ignored: what stays is found by `netbpf doctor`.
    public func stop() {
        let records = learners.withLock { learners in
            defer { learners = [] }
            return learners
        }
        for r in records { try? Attacher(store: store).undo(r) }
        try? limiter.detach(store: store)
    }
}
