import CLibBPF
import CNetBPFShims
import Glibc

/// Consumes a perf event array (BPF_MAP_TYPE_PERF_EVENT_ARRAY, kernel 4.4): one ring per CPU,
/// written with bpf_perf_event_output(). Unlike ring buffers, the kernel counts what it had to
/// drop and reports it per CPU; `lostCount` sums those reports.
///
/// `wakeupEvents` sets how many samples the kernel collects before waking the reader. libbpf's
/// default is 1; on this project's VMs 500 was measured ~30x faster (docs/benchmarks.md).
///
/// Not Sendable, as `RingBuffer`: `handler` runs on the thread that polls.
public final class PerfBuffer {
    private final class Sink {
        let handler: (Int, UnsafeRawBufferPointer) -> Void
        var records: UInt64 = 0
        var lost: UInt64 = 0
        init(_ handler: @escaping (Int, UnsafeRawBufferPointer) -> Void) { self.handler = handler }
    }

    private var pointer: OpaquePointer?
    private var callbacks: UnsafeMutableRawPointer?
    private let sink: Sink
    private let unmanaged: Unmanaged<Sink>
    /// The perf event array; it stays open while the consumer lives.
    public let map: BPFMap

    /// Opens a consumer on every CPU's ring (libbpf perf_buffer__new).
    /// - Parameters:
    ///   - pagesPerCPU: ring size per CPU in pages (a power of two).
    ///   - handler: called with the CPU and the sample's bytes (valid only during the call), on
    ///     the thread that called `poll` or `consume`.
    ///   - wakeupEvents: samples the kernel collects before waking the reader.
    /// - Throws: `BPFError(.wrongMapType)` for a map that is not a perf_event_array,
    ///   `.invalidArgument` when `pagesPerCPU` is not a power of two, the errno of perf_buffer__new.
    public init(map: BPFMap, pagesPerCPU: Int = 64, wakeupEvents: UInt32 = 1,
                handler: @escaping (_ cpu: Int, _ data: UnsafeRawBufferPointer) -> Void) throws {
        guard map.type == .perfEventArray else {
            throw BPFError(.wrongMapType, operation: "PerfBuffer", subject: map.name, message: "map is \(map.type), not perf_event_array")
        }
        guard pagesPerCPU > 0, pagesPerCPU & (pagesPerCPU - 1) == 0 else {
            throw BPFError(.invalidArgument, operation: "PerfBuffer", subject: map.name, message: "pagesPerCPU must be a power of two, got \(pagesPerCPU)")
        }
        self.map = map
        sink = Sink(handler)
        unmanaged = Unmanaged.passRetained(sink)
        let onSample: nb_perf_sample_fn = { ctx, cpu, data, size in
            Unmanaged<Sink>.fromOpaque(ctx!)._withUnsafeGuaranteedRef {
                $0.records &+= 1
                $0.handler(Int(cpu), UnsafeRawBufferPointer(start: data, count: Int(size)))
            }
        }
        let onLost: nb_perf_lost_fn = { ctx, _, lost in
            Unmanaged<Sink>.fromOpaque(ctx!).takeUnretainedValue().lost &+= lost
        }
        var owned: UnsafeMutableRawPointer?
        let ((pb, e), log) = LibbpfLog.capture {
            (nb_perf_buffer_new(map.fd, pagesPerCPU, wakeupEvents, onSample, onLost, unmanaged.toOpaque(), &owned), errno)
        }
        guard let pb else {
            unmanaged.release()
            throw BPFError.system("perf_buffer__new", subject: map.name, errno: e, hint: LibbpfOutput.lastLine(log))
        }
        pointer = pb
        callbacks = owned
    }

    /// Samples delivered to the handler so far.
    public var recordCount: UInt64 { sink.records }
    /// Samples the kernel dropped because a CPU's ring was full.
    public var lostCount: UInt64 { sink.lost }

    /// Waits up to `timeoutMilliseconds` for samples and consumes them; returns the number of rings read.
    @discardableResult
    public func poll(timeoutMilliseconds: Int32) throws -> Int {
        let n = perf_buffer__poll(pointer, timeoutMilliseconds)
        if n < 0 {
            if -n == EINTR { return 0 }
            throw BPFError.system("perf_buffer__poll", subject: map.name, errno: n)
        }
        return Int(n)
    }

    /// Reads every CPU's ring without waiting (useful with wakeupEvents > 1, before stopping).
    public func consume() throws {
        let n = perf_buffer__consume(pointer)
        if n < 0 { throw BPFError.system("perf_buffer__consume", subject: map.name, errno: n) }
    }

    /// An epoll fd that becomes readable when samples arrive, for outside event loops
    /// (perf_buffer__epoll_fd); owned by this buffer.
    public var epollFD: Int32 { perf_buffer__epoll_fd(pointer) }

    deinit {
        if let p = pointer { nb_perf_buffer_free(p, callbacks) }
        unmanaged.release()
    }
}
