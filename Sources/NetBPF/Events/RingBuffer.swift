import CNetBPFShims
import Glibc

/// Consumes a BPF ring buffer (BPF_MAP_TYPE_RINGBUF, kernel 5.8), natively: the consumer page is
/// mapped read-write, the producer page and the data area (mapped twice by the kernel, so a
/// record that wraps is contiguous) read-only, and records are walked in Swift with the same
/// memory ordering as libbpf's ring_buffer (acquire loads of producer_pos and of each record
/// header, a release store of consumer_pos after each record). Waiting uses epoll on the map fd
/// in level-triggered mode, for which the release store is enough (the EPOLLET variant needs a
/// SEQ_CST store; see docs/loader.md).
///
/// Records are handed to `handler` as raw bytes valid only during the call, on the thread that
/// called `poll` or `consume` (one thread at a time: the consumer position is not shared). Ring buffers do not
/// count drops: a producer sees bpf_ringbuf_reserve() return NULL when the buffer is full, so the
/// documented way is to count those failures in a map next to the ring buffer (see
/// programs/ringbuf_tp.bpf.c, map `drops`), and read it with `ArrayMap`.
///
/// Not Sendable: `handler` runs on the thread that calls `poll`/`consume`, so a consumer keeps
/// the buffer where it made it (Swift 6 refuses to move it elsewhere, which is what keeps an
/// actor-isolated handler from being called off its actor). `EventStream.ringBuffer` polls on a
/// thread of its own and hands records out as an AsyncSequence.
public final class RingBuffer {
    private static let busyBit: UInt32 = 1 << 31
    private static let discardBit: UInt32 = 1 << 30
    private static let headerSize = 8

    private let handler: (UnsafeRawBufferPointer) -> Void
    private let consumerPage: UnsafeMutableRawPointer
    private let producerArea: UnsafeMutableRawPointer
    private let data: UnsafeRawPointer
    private let mask: UInt64
    private let pageSize: Int
    private let dataSize: Int
    private let epoll: OwnedFD
    /// The map stays open while the consumer lives.
    public let map: BPFMap
    /// Records delivered so far.
    public private(set) var recordCount: UInt64 = 0

    /// Maps the ring (mmap of the map fd) and makes its epoll fd; nothing is read until `poll`
    /// or `consume`.
    /// - Parameter handler: called with each record's bytes, valid only during the call.
    /// - Throws: `BPFError(.wrongMapType)` for a map that is not a ringbuf; the errno of mmap or epoll.
    public init(map: BPFMap, handler: @escaping (UnsafeRawBufferPointer) -> Void) throws {
        guard map.type == .ringbuf else {
            throw BPFError(.wrongMapType, operation: "RingBuffer", subject: map.name, message: "map is \(map.type), not ringbuf")
        }
        self.map = map
        self.handler = handler
        pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
        dataSize = map.maxEntries
        mask = UInt64(dataSize - 1)
        guard let consumer = mmap(nil, pageSize, PROT_READ | PROT_WRITE, MAP_SHARED, map.fd, 0), consumer != MAP_FAILED else {
            throw BPFError.system("mmap ring buffer consumer page", subject: map.name, errno: errno)
        }
        guard let producer = mmap(nil, pageSize + 2 * dataSize, PROT_READ, MAP_SHARED, map.fd, off_t(pageSize)), producer != MAP_FAILED else {
            let e = errno
            munmap(consumer, pageSize)
            throw BPFError.system("mmap ring buffer data", subject: map.name, errno: e)
        }
        consumerPage = consumer
        producerArea = producer
        data = UnsafeRawPointer(producer + pageSize)
        let efd = nb_epoll_watch(map.fd)
        guard efd >= 0 else {
            munmap(consumer, pageSize); munmap(producer, pageSize + 2 * dataSize)
            throw BPFError.system("epoll", subject: map.name, errno: efd)
        }
        epoll = OwnedFD(owning: efd)
    }

    /// Consumes every committed record without waiting; returns how many were delivered.
    @discardableResult
    public func consume() throws -> Int {
        var delivered = 0
        var consumerPos = nb_load_acquire_u64(consumerPage)
        drain: while true {
            let producerPos = nb_load_acquire_u64(producerArea)
            if consumerPos >= producerPos { break }
            while consumerPos < producerPos {
                let header = data + Int(consumerPos & mask)
                let len = nb_load_acquire_u32(header)
                // Reserved, not yet submitted: later records wait behind it (as in libbpf).
                if len & Self.busyBit != 0 { break drain }
                let size = Int(len & ~(Self.busyBit | Self.discardBit))
                let recordStart = header + Self.headerSize
                consumerPos += UInt64((size + Self.headerSize + 7) & ~7)
                if len & Self.discardBit == 0 {
                    handler(UnsafeRawBufferPointer(start: recordStart, count: size))
                    delivered += 1
                }
                nb_store_release_u64(consumerPage, consumerPos)
            }
            if nb_load_acquire_u64(producerArea) == producerPos { break }
        }
        recordCount &+= UInt64(delivered)
        return delivered
    }

    /// Waits up to `timeoutMilliseconds` (-1 forever) for records and consumes them. Returns the
    /// number consumed; 0 on timeout or when a signal interrupted the wait.
    @discardableResult
    public func poll(timeoutMilliseconds: Int32) throws -> Int {
        let n = nb_epoll_wait1(epoll.rawValue, timeoutMilliseconds)
        if n < 0 {
            if -n == EINTR { return 0 }
            throw BPFError.system("epoll_wait", subject: map.name, errno: n)
        }
        return try consume()
    }

    /// An epoll fd that becomes readable when records arrive, for outside event loops.
    public var epollFD: Int32 { epoll.rawValue }

    /// Bytes written by producers and not yet consumed.
    public var pendingBytes: Int {
        Int(nb_load_acquire_u64(producerArea) &- nb_load_acquire_u64(consumerPage))
    }

    deinit {
        munmap(consumerPage, pageSize)
        munmap(producerArea, pageSize + 2 * dataSize)
    }
}
