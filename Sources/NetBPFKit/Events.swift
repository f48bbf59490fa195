import Foundation

/// Events from a ring buffer or perf event array, decoded into `Record`, as an AsyncSequence.
/// The buffer is polled on a thread of its own (EventStream); records a slow consumer has not
/// taken wait in a bounded buffer (`limit`), and what does not fit is dropped and counted
/// (`drops.dropped`; for perf buffers `drops.kernelLost` is what the kernel could not write).
public struct BPFEvents<Record: BitwiseCopyable & Sendable>: AsyncSequence, Sendable {
    /// Each event, decoded from the start of its record.
    public typealias Element = Record
    /// Where the bytes come from: a ring buffer's records or a perf buffer's samples.
    enum Source: Sendable {
        case ring(AsyncThrowingStream<[UInt8], any Error>)
        case perf(AsyncThrowingStream<EventStream.PerfSample, any Error>)
    }
    let source: Source
    /// What was dropped so far.
    public let drops: EventDrops

    /// Decodes records as the polling thread hands them over.
    public struct AsyncIterator: AsyncIteratorProtocol {
        enum Base {
            case ring(AsyncThrowingStream<[UInt8], any Error>.AsyncIterator)
            case perf(AsyncThrowingStream<EventStream.PerfSample, any Error>.AsyncIterator)
        }
        var base: Base

        mutating func nextBytes() async throws -> [UInt8]? {
            switch base {
            case .ring(var it): defer { base = .ring(it) }; return try await it.next()
            case .perf(var it): defer { base = .perf(it) }; return try await it.next()?.data
            }
        }

        /// The next record; a record shorter than `Record` is an error (the C side sent another struct).
        public mutating func next() async throws -> Record? {
            guard let bytes = try await nextBytes() else { return nil }
            guard bytes.count >= MemoryLayout<Record>.size else {
                throw BPFError(.sizeMismatch, operation: "decode event", subject: "\(Record.self)",
                               message: "record is \(bytes.count) bytes, \(Record.self) needs \(MemoryLayout<Record>.size)")
            }
            return bytes.withUnsafeBytes { $0.loadUnaligned(as: Record.self) }
        }
    }

    /// An iterator over the events in the order they were polled.
    public func makeAsyncIterator() -> AsyncIterator {
        switch source {
        case .ring(let stream): AsyncIterator(base: .ring(stream.makeAsyncIterator()))
        case .perf(let stream): AsyncIterator(base: .perf(stream.makeAsyncIterator()))
        }
    }
}

extension BPF {
    /// BCC's `b["events"].open_ring_buffer(cb)` / `open_perf_buffer(cb)`, as an AsyncSequence of
    /// `Record`. For a `BPFRecord` the layout is checked against the C struct first.
    /// - Throws: `BPFError(.notFound)` for an unknown map, `.wrongMapType` for a map that is
    ///   neither a ring buffer nor a perf event array, `.sizeMismatch` naming a field.
    /// - Parameter bufferLimit: records held for a slow consumer before new ones are dropped.
    public func events<Record: BitwiseCopyable & Sendable>(_ mapName: String, as type: Record.Type = Record.self,
                                                           bufferLimit: Int = EventStream.defaultBufferLimit) throws -> BPFEvents<Record> {
        let map = try self.map(mapName)
        if let record = Record.self as? any BPFRecord.Type {
            try record.check(against: object.structLayout(named: record.cStruct))
        }
        switch map.type {
        case .ringbuf:
            let stream = EventStream.ringBuffer(map, bufferLimit: bufferLimit)
            return BPFEvents(source: .ring(stream.stream), drops: stream.drops)
        case .perfEventArray:
            let samples = EventStream.perfBuffer(map, bufferLimit: bufferLimit)
            return BPFEvents(source: .perf(samples.stream), drops: samples.drops)
        default:
            throw BPFError(.wrongMapType, operation: "events", subject: mapName, message: "map is \(map.type), not a ring buffer or perf event array")
        }
    }
}
