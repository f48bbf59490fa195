import Foundation
import Synchronization

/// An async sequence of buffer events that holds at most `limit` undelivered records, and the
/// count of those it dropped. A consumer slower than the kernel would otherwise grow the
/// stream's buffer without bound; when the buffer is full, new records are dropped (as the
/// kernel's ring buffer drops when user space falls behind) and counted in `drops`.
public struct BoundedEventStream<Element: Sendable>: AsyncSequence, Sendable {
    /// The iterator of the underlying `AsyncThrowingStream`; it throws what polling threw.
    public typealias AsyncIterator = AsyncThrowingStream<Element, Error>.Iterator
    package let stream: AsyncThrowingStream<Element, Error>
    /// What this stream dropped (and, for perf buffers, what the kernel reported lost).
    public let drops: EventDrops
    /// The most records held for the consumer at once.
    public let limit: Int

    /// An iterator over the records in the order the polling thread read them.
    public func makeAsyncIterator() -> AsyncIterator { stream.makeAsyncIterator() }
}

/// Counters of a `BoundedEventStream`, updated by its polling thread and read from any thread.
public final class EventDrops: Sendable {
    private let droppedCount = Atomic<UInt64>(0)
    private let kernelLostCount = Atomic<UInt64>(0)

    init() {}

    /// Records read from the kernel and dropped because the consumer had `limit` waiting.
    public var dropped: UInt64 { droppedCount.load(ordering: .relaxed) }
    /// Samples the kernel dropped because a perf ring was full (perf buffers only; a ring buffer
    /// producer sees its reserve fail instead and must count that itself).
    public var kernelLost: UInt64 { kernelLostCount.load(ordering: .relaxed) }

    func noteDropped() { droppedCount.wrappingAdd(1, ordering: .relaxed) }
    func setKernelLost(_ n: UInt64) { kernelLostCount.store(n, ordering: .relaxed) }
}
