import Foundation
import Testing
import NetBPF
import NetBPFTestSupport

/// Events from a tracepoint program (programs/ringbuf_tp.bpf.c) through the ring buffer and the
/// perf buffer: every record arrives, in order, none lost.
@Suite(.enabled(if: TestEnvironment.isRoot, "requires root: attaches tracepoint programs"))
struct BufferTests {
    func load(records: UInt32) throws -> BPFObject {
        let spec = try BPFObjectSpec.open(path: try TestPrograms.object("ringbuf_tp"))
        try spec.setGlobal("target_tgid", to: UInt32(getpid()))
        try spec.setGlobal("records_per_trigger", to: records)
        return try spec.load()
    }

    @Test func ringBufferDeliversEveryRecordInOrder() throws {
        try TestEnvironment.expectNoFDLeak {
            let obj = try load(records: 100)
            let link = try obj.program(named: "emit_ringbuf").attach()
            var seqs: [UInt64] = []
            let rb = try RingBuffer(map: obj.map(named: "events")) { seqs.append($0.loadUnaligned(as: UInt64.self)) }
            for _ in 0..<10 { _ = getpgid(0) ; try rb.consume() }
            try rb.poll(timeoutMilliseconds: 0)
            try link.detach()
            #expect(seqs.count == 1000)
            #expect(seqs == Array(seqs.first!..<(seqs.first! + 1000)))
            #expect(rb.recordCount == 1000)
            #expect(try ArrayMap<UInt64>(obj.map(named: "drops")).get(0) == 0)
        }
    }

    @Test func ringBufferCountsDropsWhenFull() throws {
        let obj = try load(records: 1000)
        let link = try obj.program(named: "emit_ringbuf").attach()
        defer { try? link.detach() }
        // 4 MiB of 16-byte slots (8 bytes + header) holds 262,144 records; 300,000 overflow it.
        for _ in 0..<300 { _ = getpgid(0) }
        var got = 0
        let rb = try RingBuffer(map: obj.map(named: "events")) { _ in got += 1 }
        try rb.consume()
        let drops = try ArrayMap<UInt64>(obj.map(named: "drops")).get(0)
        #expect(drops > 0)
        #expect(UInt64(got) + drops == 300_000)
    }

    @Test func perfBufferDeliversEveryRecord() throws {
        try TestEnvironment.expectNoFDLeak {
            let obj = try load(records: 50)
            let link = try obj.program(named: "emit_perfbuf").attach()
            var seqs: [UInt64] = []
            let pb = try PerfBuffer(map: obj.map(named: "perf_events"), pagesPerCPU: 64) { _, data in
                seqs.append(data.loadUnaligned(as: UInt64.self))
            }
            for _ in 0..<20 { _ = getppid(); try pb.consume() }
            try link.detach()
            try pb.consume()
            #expect(seqs.count == 1000)
            #expect(Set(seqs).count == 1000)
            #expect(pb.lostCount == 0)
        }
    }

    @Test func perfBufferReportsLostSamples() throws {
        let obj = try load(records: 1000)
        let link = try obj.program(named: "emit_perfbuf").attach()
        var got = 0
        // One page per CPU holds ~170 samples: 20,000 without reading overflow it.
        let pb = try PerfBuffer(map: obj.map(named: "perf_events"), pagesPerCPU: 1) { _, _ in got += 1 }
        for _ in 0..<20 { _ = getppid() }
        try pb.consume()
        // The kernel writes its PERF_RECORD_LOST note once the ring has room again.
        _ = getppid()
        try link.detach()
        try pb.consume()
        let failed = try ArrayMap<UInt64>(obj.map(named: "drops")).get(0)
        #expect(pb.lostCount > 0)
        #expect(pb.lostCount <= failed) // notes for the last overflow arrive only with later samples
        #expect(UInt64(got) + failed == 21_000)
    }

    @Test func asyncStreamYieldsRecords() async throws {
        let obj = try load(records: 10)
        let link = try obj.program(named: "emit_ringbuf").attach()
        defer { try? link.detach() }
        let stream = EventStream.ringBuffer(try obj.map(named: "events"), pollMilliseconds: 20)
        let trigger = Thread { for _ in 0..<5 { usleep(20_000); _ = getpgid(0) } }
        trigger.start()
        var count = 0
        for try await record in stream {
            #expect(record.count == 8)
            count += 1
            if count == 50 { break }
        }
        #expect(count == 50)
    }

    /// A consumer that does not read while 300,000 records arrive: the stream keeps `limit` of
    /// them (the oldest), drops and counts the rest, and its memory stays flat. An unbounded
    /// stream held all of them (23 MB of small arrays and buffer slots). Anonymous memory is
    /// measured: the ring's pages, mapped twice and touched as records pass, count in VmRSS.
    @Test func slowConsumerStreamIsBoundedAndCountsDrops() async throws {
        let obj = try load(records: 1000)
        let link = try obj.program(named: "emit_ringbuf").attach()
        defer { try? link.detach() }
        let limit = 100
        let events = EventStream.ringBuffer(try obj.map(named: "events"), bufferLimit: limit, pollMilliseconds: 20)
        #expect(events.limit == limit)
        var iterator = events.makeAsyncIterator()
        let rssBefore = Self.anonymousKiB()
        for _ in 0..<300 { _ = getpgid(0) }
        let produced = 300_000 - Int(try ArrayMap<UInt64>(obj.map(named: "drops")).get(0))
        // The polling thread reads every record; all but `limit` are dropped.
        let deadline = Date().addingTimeInterval(30)
        while Int(events.drops.dropped) < produced - limit && Date() < deadline { try await Task.sleep(nanoseconds: 10_000_000) }
        let rssAfter = Self.anonymousKiB()
        print("bounded stream: \(produced) records, limit \(limit), dropped \(events.drops.dropped); RssAnon \(rssBefore) -> \(rssAfter) KiB")
        #expect(Int(events.drops.dropped) == produced - limit)
        #expect(rssAfter - rssBefore <= LeakTests.slackKiB, "RSS grew by \(rssAfter - rssBefore) KiB")

        // Exactly `limit` records wait, the first ones produced, in order.
        var seqs: [UInt64] = []
        for _ in 0..<limit {
            let record = try #require(try await iterator.next())
            seqs.append(record.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        }
        #expect(seqs == Array(0..<UInt64(limit)))
        // Nothing else was held: after one more trigger (1,000 records, `limit` kept again) the
        // next record is the first of that trigger.
        _ = getpgid(0)
        let total = produced + 1000
        while Int(events.drops.dropped) < total - 2 * limit && Date() < deadline { try await Task.sleep(nanoseconds: 10_000_000) }
        let next = try #require(try await iterator.next())
        #expect(next.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) } == UInt64(produced))
        // Dropped = produced - consumed - still waiting.
        let consumed = limit + 1
        #expect(Int(events.drops.dropped) == total - consumed - (limit - 1))
        #expect(events.drops.kernelLost == 0)
    }

    /// RssAnon of this process: heap and stacks, not the ring buffer's shared pages.
    static func anonymousKiB() -> Int {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("RssAnon:") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? -1
    }

    @Test func tracepointThatDoesNotExistIsNotFound() throws {
        let obj = try load(records: 1)
        let e = #expect(throws: BPFError.self) { try obj.program(named: "emit_ringbuf").attachTracepoint(category: "syscalls", name: "sys_enter_nothing") }
        #expect(e?.code == .notFound)
    }
}
