import Foundation

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
/// `@unchecked Sendable`: every field is behind `lock`.
public final class EventDrops: @unchecked Sendable {
    private let lock = NSLock()
    private var droppedCount: UInt64 = 0
    private var kernelLostCount: UInt64 = 0

    init() {}

    /// Records read from the kernel and dropped because the consumer had `limit` waiting.
    public var dropped: UInt64 { lock.lock(); defer { lock.unlock() }; return droppedCount }
    /// Samples the kernel dropped because a perf ring was full (perf buffers only; a ring buffer
    /// producer sees its reserve fail instead and must count that itself).
    public var kernelLost: UInt64 { lock.lock(); defer { lock.unlock() }; return kernelLostCount }

    func noteDropped() { lock.lock(); droppedCount &+= 1; lock.unlock() }
    func setKernelLost(_ n: UInt64) { lock.lock(); kernelLostCount = n; lock.unlock() }
}
