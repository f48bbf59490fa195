import Foundation
import Glibc
import Testing
import NetBPF
import NetBPFAttach
import NetBPFNetlink
import NetBPFTestSupport

/// Long runs that would show slow leaks: thousands of attach/detach cycles and a million ring
/// buffer events must leave the process's descriptor count and resident memory where they were
/// after a warm-up (allocator pools, libbpf's one-time probes and lazily built caches fill
/// during the warm-up, not during the measured part).
@Suite(.serialized, .enabled(if: TestEnvironment.isRoot, "requires root: attaches tc and tracepoint programs"))
struct LeakTests {
    /// Resident set size in KiB (VmRSS of /proc/self/status).
    static func residentKiB() -> Int {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? -1
    }

    static func openDescriptors() -> Int {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []).count
    }

    static let slackKiB = 2048

    /// 10,000 cls_bpf filter add/delete cycles through NetBPFNetlink on a clsact hook of a veth
    /// in a temporary namespace: RTM_NEWTFILTER with echo, then RTM_GETTFILTER (the program id
    /// check) and RTM_DELTFILTER, each cycle on the namespace's netlink socket. clsact rather
    /// than tcx: a tcx detach waits for an RCU grace period (the tcx test below measures it).
    @Test func tenThousandClsBPFFilterCyclesKeepDescriptorsAndMemoryFlat() throws {
        try AttachLab.with { lab in
            let object = try BPFObject.load(path: try TestPrograms.object("count_packets"))
            let program = try object.program(named: "count_tc")
            let id = try program.info().id
            let netlink = lab.right
            #expect(try netlink.ensureClsact(on: "b"))
            defer { try? netlink.deleteClsact(on: "b") }
            func cycle() throws {
                let filter = try netlink.attachBPFFilter(program, to: "b", hook: .ingress)
                try netlink.deleteBPFFilter(on: "b", hook: .ingress, priority: filter.priority, handle: filter.handle, expectedProgramID: id)
            }
            let (fds, rss, fdsAfter, rssAfter, seconds) = try Self.measure(warmUp: 500, cycles: 10_000, cycle)
            print("leak: 10000 cls_bpf add/delete cycles in \(String(format: "%.1f", seconds)) s (\(String(format: "%.0f", seconds * 100)) µs each); fds \(fds) -> \(fdsAfter); RSS \(rss) -> \(rssAfter) KiB")
            #expect(fdsAfter == fds)
            #expect(rssAfter - rss <= Self.slackKiB, "RSS grew by \(rssAfter - rss) KiB over 10,000 cycles")
            #expect(try netlink.filters(on: "b", hook: .ingress).isEmpty)
        }
    }

    /// The whole in-process path of `netbpf attach tc --clsact` / `netbpf detach`, 1,000 times
    /// after 200: enter the namespace, create clsact, add the filter, pin the program and its
    /// map, write the record; then delete the filter (checked by program id), the qdisc netbpf
    /// created, the pins and the record. 3.4-12 ms a cycle here depending on the machine's load
    /// (pins, record files, the namespace thread), so 10,000 took 47-125 s: 1,000 are measured.
    @Test func thousandAttacherClsactCyclesKeepDescriptorsAndMemoryFlat() throws {
        try AttachLab.with { lab in
            let object = try BPFObject.load(path: try TestPrograms.object("count_packets"))
            let program = try object.program(named: "count_tc")
            var options = TCAttachOptions()
            options.mechanism = .clsact
            func cycle() throws {
                let record = try lab.attacher.attachTC(program, of: object, to: "b", namespace: lab.server, options: options)
                #expect(record.createdClsact)
                try lab.attacher.undo(record)
            }
            let (fds, rss, fdsAfter, rssAfter, seconds) = try Self.measure(warmUp: 200, cycles: 1_000, cycle)
            print("leak: 1000 Attacher clsact attach/detach cycles in \(String(format: "%.1f", seconds)) s (\(String(format: "%.2f", seconds)) ms each); fds \(fds) -> \(fdsAfter); RSS \(rss) -> \(rssAfter) KiB")
            #expect(fdsAfter == fds)
            #expect(rssAfter - rss <= Self.slackKiB, "RSS grew by \(rssAfter - rss) KiB over 1,000 cycles")
            #expect(try lab.right.filters(on: "b", hook: .ingress).isEmpty)
            #expect(try !lab.hasClsact())
            #expect(lab.records().isEmpty)
            #expect(lab.pins().isEmpty)
        }
    }

    /// tcx through the Attacher, 300 cycles after 50: each detach waits for an RCU grace period
    /// in the kernel; the time per cycle is printed.
    @Test(.enabled(if: Features.shared.tcx.available, "this kernel has no tcx (Linux 6.6+)"))
    func tcxAttachDetachCyclesKeepDescriptorsAndMemoryFlat() throws {
        try AttachLab.with { lab in
            let object = try BPFObject.load(path: try TestPrograms.object("count_packets"))
            let program = try object.program(named: "count_tc")
            var options = TCAttachOptions()
            options.mechanism = .tcx
            func cycle() throws {
                let record = try lab.attacher.attachTC(program, of: object, to: "b", namespace: lab.server, options: options)
                try lab.attacher.undo(record)
            }
            let (fds, rss, fdsAfter, rssAfter, seconds) = try Self.measure(warmUp: 50, cycles: 300, cycle)
            print("leak: 300 tcx attach/detach cycles in \(String(format: "%.1f", seconds)) s (\(String(format: "%.1f", seconds / 0.3)) ms each); fds \(fds) -> \(fdsAfter); RSS \(rss) -> \(rssAfter) KiB")
            #expect(fdsAfter == fds)
            #expect(rssAfter - rss <= Self.slackKiB, "RSS grew by \(rssAfter - rss) KiB over 300 cycles")
            #expect(try lab.tcxPrograms(.ingress).isEmpty)
            #expect(lab.records().isEmpty)
            #expect(lab.pins().isEmpty)
        }
    }

    static func measure(warmUp: Int, cycles: Int, _ cycle: () throws -> Void) throws -> (Int, Int, Int, Int, Double) {
        for _ in 0..<warmUp { try cycle() }
        let fds = openDescriptors(), rss = residentKiB()
        let start = Date()
        for _ in 0..<cycles { try cycle() }
        let seconds = Date().timeIntervalSince(start)
        return (fds, rss, openDescriptors(), residentKiB(), seconds)
    }

    /// programs/ringbuf_tp.bpf.c writes 1,000 records into the ring buffer per getpgid() of this
    /// process; RingBuffer consumes them after each trigger. RSS after 1,000,000 records is
    /// compared with RSS after the first 100,000; every record arrives, none is dropped.
    @Test func millionRingBufferRecordsKeepMemoryFlat() throws {
        let spec = try BPFObjectSpec.open(path: try TestPrograms.object("ringbuf_tp"))
        try spec.setGlobal("target_tgid", to: UInt32(getpid()))
        try spec.setGlobal("records_per_trigger", to: UInt32(1000))
        let object = try spec.load()
        let link = try object.program(named: "emit_ringbuf").attach()
        defer { try? link.detach() }
        var received = 0
        var sum: UInt64 = 0
        let rb = try RingBuffer(map: object.map(named: "events")) { sum &+= $0.loadUnaligned(as: UInt64.self); received += 1 }
        var fds = 0, rss = 0
        let start = Date()
        for trigger in 1...1000 {
            _ = getpgid(0)
            try rb.consume()
            if trigger == 100 { fds = Self.openDescriptors(); rss = Self.residentKiB() }
        }
        let seconds = Date().timeIntervalSince(start)
        let fdsAfter = Self.openDescriptors(), rssAfter = Self.residentKiB()
        print("leak: 1000000 ring buffer records in \(String(format: "%.2f", seconds)) s; fds \(fds) -> \(fdsAfter); RSS at 100k \(rss) KiB, at 1M \(rssAfter) KiB")
        #expect(received == 1_000_000)
        #expect(rb.recordCount == 1_000_000)
        #expect(try ArrayMap<UInt64>(object.map(named: "drops")).get(0) == 0)
        #expect(fdsAfter == fds)
        #expect(rssAfter - rss <= Self.slackKiB, "RSS grew by \(rssAfter - rss) KiB between 100k and 1M records")
    }

    /// The same million through EventStream (a thread polling the ring buffer, each record
    /// copied into an [UInt8] and yielded to an AsyncThrowingStream). The producer waits for the
    /// consumer after each batch, so the stream's buffer never holds more than 1,000 records.
    @Test func millionEventStreamRecordsKeepMemoryFlat() async throws {
        let spec = try BPFObjectSpec.open(path: try TestPrograms.object("ringbuf_tp"))
        try spec.setGlobal("target_tgid", to: UInt32(getpid()))
        try spec.setGlobal("records_per_trigger", to: UInt32(1000))
        let object = try spec.load()
        let link = try object.program(named: "emit_ringbuf").attach()
        defer { try? link.detach() }
        let stream = EventStream.ringBuffer(try object.map(named: "events"), pollMilliseconds: 20)
        // A lost record would leave next() waiting forever: a watchdog cancels the consumer
        // (the stream's next() then returns nil) when no record arrives for `stall` seconds.
        let progress = RecordProgress()
        let stall: TimeInterval = 60
        let result: (received: Int, rss: Int)? = await withTaskGroup(of: (received: Int, rss: Int)?.self) { group in
            group.addTask {
                var iterator = stream.makeAsyncIterator()
                var received = 0
                var rss = 0
                for trigger in 1...1000 {
                    _ = getpgid(0)
                    for _ in 0..<1000 {
                        let next: [UInt8]?
                        do { next = try await iterator.next() } catch { Issue.record("stream failed after \(received): \(error)"); return nil }
                        guard let record = next else {
                            if !Task.isCancelled { Issue.record("stream ended after \(received)") }
                            return nil
                        }
                        #expect(record.count == 8)
                        received += 1
                        progress.set(received)
                    }
                    if trigger == 100 { rss = Self.residentKiB() }
                }
                return (received, rss)
            }
            group.addTask {
                var last = -1
                var lastChange = Date()
                while !Task.isCancelled {
                    try? await Task.sleep(nanoseconds: 200_000_000)
                    let now = progress.value
                    if now != last {
                        last = now
                        lastChange = Date()
                    } else if Date().timeIntervalSince(lastChange) > stall {
                        Issue.record("timed out: no EventStream record for \(Int(stall)) s after \(now) of 1,000,000 (a record was lost)")
                        return nil
                    }
                }
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        let (received, rss) = try #require(result, "no result: the stream stalled or the wait was cancelled")
        let rssAfter = Self.residentKiB()
        print("leak: 1000000 EventStream records; RSS at 100k \(rss) KiB, at 1M \(rssAfter) KiB")
        #expect(received == 1_000_000)
        #expect(stream.drops.dropped == 0) // 1,000 waiting at most, under the default bound
        #expect(try ArrayMap<UInt64>(object.map(named: "drops")).get(0) == 0)
        #expect(rssAfter - rss <= Self.slackKiB, "RSS grew by \(rssAfter - rss) KiB between 100k and 1M records")
    }
}

/// The count of records a consumer task has taken, read by its watchdog.
private final class RecordProgress: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    var value: Int { lock.lock(); defer { lock.unlock() }; return count }
    func set(_ n: Int) { lock.lock(); count = n; lock.unlock() }
}
