import Foundation

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

    /// Records of a ring buffer map, each copied out as bytes.
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
        public var cpu: Int
        public var data: [UInt8]
    }

    /// Samples of a perf event array with the CPU they came from. `drops.kernelLost` follows
    /// the kernel's lost-sample reports.
    public static func perfBuffer(_ map: BPFMap, pagesPerCPU: Int = 64, wakeupEvents: UInt32 = 1,
                                  bufferLimit: Int = defaultBufferLimit,
                                  pollMilliseconds: Int32 = 100) -> BoundedEventStream<PerfSample> {
        let drops = EventDrops()
        let limit = max(1, bufferLimit)
        let stream = AsyncThrowingStream(PerfSample.self, bufferingPolicy: .bufferingOldest(limit)) { continuation in
            let state = PollState()
            continuation.onTermination = { _ in state.stop() }
            let thread = Thread {
                do {
                    let pb = try PerfBuffer(map: map, pagesPerCPU: pagesPerCPU, wakeupEvents: wakeupEvents) { cpu, data in
                        deliver(PerfSample(cpu: cpu, data: Array(data)), to: continuation, drops: drops, state: state)
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

    /// Set when the stream ends. `@unchecked Sendable`: `flag` is behind `lock`.
    private final class PollState: @unchecked Sendable {
        private let lock = NSLock()
        private var flag = false
        var stopped: Bool { lock.lock(); defer { lock.unlock() }; return flag }
        func stop() { lock.lock(); flag = true; lock.unlock() }
    }
}
