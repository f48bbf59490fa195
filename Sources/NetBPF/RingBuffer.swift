import CLibBPF
import Glibc

/// Consumes a BPF ring buffer (BPF_MAP_TYPE_RINGBUF, kernel 5.8) through libbpf's ring_buffer.
///
/// Records are handed to `handler` as raw bytes valid only during the call. Ring buffers do not
/// count drops: a producer sees bpf_ringbuf_reserve() return NULL when the buffer is full, so the
/// documented way is to count those failures in a map next to the ring buffer (see
/// programs/ringbuf_tp.bpf.c, map `drops`), and read it with `ArrayMap`.
public final class RingBuffer: @unchecked Sendable {
    private final class Sink {
        let handler: (UnsafeRawBufferPointer) -> Void
        var records: UInt64 = 0
        init(_ handler: @escaping (UnsafeRawBufferPointer) -> Void) { self.handler = handler }
    }

    private var pointer: OpaquePointer?
    private let sink: Sink
    private let unmanaged: Unmanaged<Sink>
    /// The map stays open while the consumer lives.
    public let map: BPFMap

    public init(map: BPFMap, handler: @escaping (UnsafeRawBufferPointer) -> Void) throws {
        guard map.type == .ringbuf else {
            throw BPFError(.wrongMapType, operation: "RingBuffer", subject: map.name, message: "map is \(map.type), not ringbuf")
        }
        self.map = map
        sink = Sink(handler)
        unmanaged = Unmanaged.passRetained(sink)
        // Per record: no retain/release of the sink (the consumer holds it) and no counter
        // update here; poll/consume return how many records they delivered.
        let callback: ring_buffer_sample_fn = { ctx, data, size in
            Unmanaged<Sink>.fromOpaque(ctx!)._withUnsafeGuaranteedRef {
                $0.handler(UnsafeRawBufferPointer(start: data, count: size))
            }
            return 0
        }
        let (rb, log) = LibbpfLog.capture { ring_buffer__new(map.fd, callback, unmanaged.toOpaque(), nil) }
        guard let rb else {
            let e = errno
            unmanaged.release()
            throw BPFError.system("ring_buffer__new", subject: map.name, errno: e, hint: LibbpfOutput.lastLine(log))
        }
        pointer = rb
    }

    /// Records delivered so far.
    public var recordCount: UInt64 { sink.records }

    /// Waits up to `timeoutMilliseconds` (-1 forever) for records and consumes them. Returns the
    /// number consumed; 0 on timeout or when interrupted by a signal.
    @discardableResult
    public func poll(timeoutMilliseconds: Int32) throws -> Int {
        let n = ring_buffer__poll(pointer, timeoutMilliseconds)
        if n < 0 {
            if -n == EINTR { return 0 }
            throw BPFError.system("ring_buffer__poll", subject: map.name, errno: n)
        }
        sink.records &+= UInt64(n)
        return Int(n)
    }

    /// Consumes what is there without waiting.
    @discardableResult
    public func consume() throws -> Int {
        let n = ring_buffer__consume(pointer)
        if n < 0 { throw BPFError.system("ring_buffer__consume", subject: map.name, errno: n) }
        sink.records &+= UInt64(n)
        return Int(n)
    }

    /// An epoll fd that becomes readable when records arrive, for outside event loops.
    public var epollFD: Int32 { ring_buffer__epoll_fd(pointer) }

    deinit {
        if let p = pointer { ring_buffer__free(p) }
        unmanaged.release()
    }
}
