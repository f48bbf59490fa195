import Foundation
import Synchronization

/// Ring and perf buffer events as an AsyncSequence, bounded: at most `bufferLimit` records wait
/// for the consumer, further ones are dropped and counted (`BoundedEventStream.drops`).
///
/// Threads: polling blocks, so each stream runs a dedicated thread (named
/// `netbpf-ringbuf-MAP` / `netbpf-perfbuf-MAP`) rather than using Swift's cooperative pool; the
/// records are copied and yielded on that thread, and `drops` is updated there. The consumer
/// iterates in its own task. The stream ends when the consuming task is cancelled or the
/// sequence is dropped (the termination handler runs on whichever thread ends it), and the
/// thread then exits within one poll interval.
public enum EventStream {
    /// Records held for a slow consumer by default: 4096 records of a typical 64-256 byte event
    /// is about 1 MB.
    public static let defaultBufferLimit = 4096

    /// Records of a ring buffer map (BPF_MAP_TYPE_RINGBUF, kernel 5.8), each copied out as bytes,
    /// read by a `RingBuffer` on the stream's thread.
    /// - Parameters:
    ///   - map: a ringbuf map; another type ends the stream with `BPFError(.wrongMapType)`.
    ///   - bufferLimit: records held for the consumer before new ones are dropped (at least 1).
    ///   - pollMilliseconds: how long one epoll wait lasts, which bounds how late a cancelled
    ///     stream's thread exits.
    /// - Returns: a stream that throws what setting up the consumer (mmap, epoll) or polling threw.
    public static func ringBuffer(_ map: BPFMap, bufferLimit: Int = defaultBufferLimit,
                                  pollMilliseconds: Int32 = 100) -> BoundedEventStream<[UInt8]> {
        let drops = EventDrops()
        let limit = max(1, bufferLimit)
        let stream = AsyncThrowingStream([UInt8].self, bufferingPolicy: .bufferingOldest(limit)) { continuation in
            let state = PollState()
            continuation.onTermination = { _ in state.stop() }
            let thread = Thread {
                do {
                    let rb = try RingBuffer(map: map) { record in
                        deliver(Array(record), to: continuation, drops: drops, state: state)
                    }
                    while !state.stopped { try rb.poll(timeoutMilliseconds: pollMilliseconds) }
                    try rb.consume()
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            thread.name = "netbpf-ringbuf-\(map.name)"
            thread.start()
        }
        return BoundedEventStream(stream: stream, drops: drops, limit: limit)
    }

    /// One sample of a perf event array and the CPU it came from.
    public struct PerfSample: Sendable {
        /// The CPU whose ring the sample was written to.
        public var cpu: Int
        /// The bytes the program passed to bpf_perf_event_output(), plus any padding the kernel added.
        public var data: [UInt8]
    }

    /// Samples of a perf event array (BPF_MAP_TYPE_PERF_EVENT_ARRAY, kernel 4.4) with the CPU
    /// they came from, read by a `PerfBuffer` (libbpf perf_buffer__new) on the stream's thread.
    /// `drops.kernelLost` follows the kernel's lost-sample reports.
    /// - Parameters:
    ///   - map: a perf_event_array map; another type ends the stream with `BPFError(.wrongMapType)`.
    ///   - pagesPerCPU: ring size per CPU in pages, a power of two.
    ///   - wakeupEvents: samples the kernel collects before waking the reader.
    ///   - bufferLimit: samples held for the consumer before new ones are dropped (at least 1).
    ///   - pollMilliseconds: how long one poll lasts; rings are also read when it times out.
    /// - Returns: a stream that throws what perf_buffer__new or polling threw.
    public static func perfBuffer(_ map: BPFMap, pagesPerCPU: Int = 64, wakeupEvents: UInt32 = 1,
                                  bufferLimit: Int = defaultBufferLimit,
                                  pollMilliseconds: Int32 = 100) -> BoundedEventStream<PerfSample> {
        let drops = EventDrops()
        let limit = max(1, bufferLimit)
        // Returns once the thread has opened the per-CPU perf events: a sample the program sends
        // while no perf event sits in its CPU's slot of the map is lost (ENOENT), so a caller
        // that triggers events right after this call must not race the thread's set-up.
        let ready = DispatchSemaphore(value: 0)
        let stream = AsyncThrowingStream(PerfSample.self, bufferingPolicy: .bufferingOldest(limit)) { continuation in
            let state = PollState()
            continuation.onTermination = { _ in state.stop() }
            let thread = Thread {
                do {
                    let pb: PerfBuffer
                    do {
                        defer { ready.signal() }
                        pb = try PerfBuffer(map: map, pagesPerCPU: pagesPerCPU, wakeupEvents: wakeupEvents) { cpu, data in
                            deliver(PerfSample(cpu: cpu, data: Array(data)), to: continuation, drops: drops, state: state)
                        }
                    }
                    // With wakeupEvents > 1 a trickle never wakes the poll: read the rings on timeouts too.
                    while !state.stopped {
                        if try pb.poll(timeoutMilliseconds: pollMilliseconds) == 0 { try pb.consume() }
                        drops.setKernelLost(pb.lostCount)
                    }
                    try pb.consume()
                    drops.setKernelLost(pb.lostCount)
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            thread.name = "netbpf-perfbuf-\(map.name)"
            thread.start()
            ready.wait()
        }
        return BoundedEventStream(stream: stream, drops: drops, limit: limit)
    }

    /// Yields on the polling thread; a full buffer drops the record and counts it.
    private static func deliver<T: Sendable>(_ element: T, to continuation: AsyncThrowingStream<T, Error>.Continuation,
                                   drops: EventDrops, state: PollState) {
        switch continuation.yield(element) {
        case .enqueued: break
        case .dropped: drops.noteDropped()
        case .terminated: state.stop()
        @unknown default: break
        }
    }

    /// Set when the stream ends; read by the polling thread between polls.
    private final class PollState: Sendable {
        private let flag = Atomic<Bool>(false)
        var stopped: Bool { flag.load(ordering: .acquiring) }
        func stop() { flag.store(true, ordering: .releasing) }
    }
}
