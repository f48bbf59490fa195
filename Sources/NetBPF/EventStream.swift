import Foundation

/// Ring and perf buffer events as an AsyncSequence. Polling blocks, so it runs on a dedicated
/// thread rather than on Swift's cooperative pool; the stream ends when the consuming task is
/// cancelled or the sequence is dropped, and the thread then exits within one poll interval.
public enum EventStream {
    /// Records of a ring buffer map, each copied out as bytes.
    public static func ringBuffer(_ map: BPFMap, pollMilliseconds: Int32 = 100) -> AsyncThrowingStream<[UInt8], Error> {
        AsyncThrowingStream { continuation in
            let state = PollState()
            continuation.onTermination = { _ in state.stop() }
            let thread = Thread {
                do {
                    let rb = try RingBuffer(map: map) { continuation.yield(Array($0)) }
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
    }

    /// Samples of a perf event array with the CPU they came from.
    public static func perfBuffer(_ map: BPFMap, pagesPerCPU: Int = 64, wakeupEvents: UInt32 = 1,
                                  pollMilliseconds: Int32 = 100) -> AsyncThrowingStream<(cpu: Int, data: [UInt8]), Error> {
        AsyncThrowingStream { continuation in
            let state = PollState()
            continuation.onTermination = { _ in state.stop() }
            let thread = Thread {
                do {
                    let pb = try PerfBuffer(map: map, pagesPerCPU: pagesPerCPU, wakeupEvents: wakeupEvents) { cpu, data in
                        continuation.yield((cpu, Array(data)))
                    }
                    // With wakeupEvents > 1 a trickle never wakes the poll: read the rings on timeouts too.
                    while !state.stopped {
                        if try pb.poll(timeoutMilliseconds: pollMilliseconds) == 0 { try pb.consume() }
                    }
                    try pb.consume()
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            thread.name = "netbpf-perfbuf-\(map.name)"
            thread.start()
        }
    }

    private final class PollState: @unchecked Sendable {
        private let lock = NSLock()
        private var flag = false
        var stopped: Bool { lock.lock(); defer { lock.unlock() }; return flag }
        func stop() { lock.lock(); flag = true; lock.unlock() }
    }
}
