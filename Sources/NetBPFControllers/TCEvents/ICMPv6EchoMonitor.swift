import NetBPF
import NetBPFAttach
import NetBPFCompiler
import NetBPFNetlink
import Synchronization

/// BCC's tc_perf_event with a ring buffer: programs/tc_icmp6_events.bpf.c as a classifier on an
/// interface's egress (tcx on 6.6+, else a clsact direct-action filter, as Attacher chooses)
/// reports each ICMPv6 echo request leaving it; traffic is never changed (TC_ACT_UNSPEC).
/// `poll` hands over the events as they come; `stop()` detaches (idempotent) and says whether
/// that failed.
/// Kernel 5.8 (BPF ring buffer). Sendable: the ring buffer (libbpf's `ring_buffer`, one poller
/// at a time) and the events its callback collects sit behind `Mutex`es.
public final class ICMPv6EchoMonitor: Sendable {
    /// The interface whose egress is watched.
    public let interface: String
    /// Its network namespace (nil: the caller's).
    public let namespace: String?
    /// How the classifier is attached (tcx or clsact, the pin directory), for the header line.
    public let record: AttachmentRecord
    private let store: AttachmentStore
    private let object: BPFObject
    /// The ring buffer; polled under the lock, so one thread polls at a time.
    private let ring: Mutex<RingBuffer?>
    /// Events the ring buffer's callback decoded during the current poll.
    private let pending: EventInbox
    private let attached = Mutex(true)

    /// Compiles, loads and attaches the classifier to `interface`'s egress.
    /// - Throws: compile, load or attach errors (nothing stays attached).
    public init(interface: String, namespace: String?, mechanism: TCAttachOptions.Mechanism = .auto,
                store: AttachmentStore = AttachmentStore()) throws {
        self.interface = interface
        self.namespace = namespace
        self.store = store
        object = try BPFCompiler().compile(file: try BundledPrograms.path("tc_icmp6_events.bpf.c")).open().load()
        var options = TCAttachOptions()
        options.direction = .egress
        options.mechanism = mechanism
        record = try Attacher(store: store).attachTC(try object.program(named: "tc_icmp6_events"), of: object, to: interface,
                                                     namespace: namespace, options: options, lifetime: .process)
        let inbox = EventInbox()
        pending = inbox
        do {
            let buffer = try RingBuffer(map: object.map(named: "events")) { bytes in
                if let e = ICMPv6EchoEvent(bytes: bytes) { inbox.events.withLock { $0.append(e) } }
            }
            ring = Mutex(buffer)
        } catch {
            ring = Mutex(nil)
            stop()
            throw error
        }
    }

    /// Waits up to `timeoutMilliseconds` for events and returns those that came (empty on
    /// timeout or when a signal interrupted the wait).
    /// - Throws: `BPFError` from ring_buffer__poll (other than EINTR).
    public func poll(timeoutMilliseconds: Int32) throws -> [ICMPv6EchoEvent] {
        try ring.withLock { ring in
            try ring?.poll(timeoutMilliseconds: timeoutMilliseconds)
            return pending.events.withLock { events in
                defer { events.removeAll() }
                return events
            }
        }
    }

    /// Events the program could not put in the ring buffer because it was full.
    /// - Throws: `BPFError` from the per-CPU map lookups (BPF_MAP_LOOKUP_ELEM).
    public func lost() throws -> UInt64 { try ArrayMap<UInt64>(object.map(named: "lost")).get(0) }

    /// Detaches the classifier (events already in the ring buffer can still be polled). Returns
    /// the failure when it could not be detached (the record and pins stay; a second call
    /// returns nil).
    @discardableResult
    public func stop() -> DetachFailure? {
        let wasAttached = attached.withLock { attached in
            defer { attached = false }
            return attached
        }
        guard wasAttached else { return nil }
        do {
            try Attacher(store: store).undo(record)
            return nil
        } catch {
            return DetachFailure(record: record, error: error)
        }
    }

    deinit { stop() }
}

/// Where the ring buffer's callback puts the events it decodes (a class, so the callback can
/// hold it before the monitor exists).
private final class EventInbox: Sendable {
    let events = Mutex<[ICMPv6EchoEvent]>([])
}
