import Foundation
import Glibc
import NetBPF

/// Ring buffer consumption of 8-byte records from a tracepoint producer: netbpf's RingBuffer
/// against libbpf's C ring_buffer consumer, same object, same trigger loop, in one run.
struct RingBufferBench {
    let object: String
    let peersDir: String
    let runs: Int
    let perTrigger: UInt32 = 500
    let triggers = 20_000

    func netbpfRate() throws -> (rate: Double, drops: UInt64) {
        let spec = try BPFObjectSpec.open(path: object)
        try spec.setGlobal("target_tgid", to: UInt32(getpid()))
        try spec.setGlobal("records_per_trigger", to: perTrigger)
        try spec.setAutoload(false, forProgram: "emit_perfbuf")
        let obj = try spec.load()
        let link = try obj.program(named: "emit_ringbuf").attach()
        defer { try? link.detach() }
        var count = 0
        let rb = try RingBuffer(map: obj.map(named: "events")) { _ in count += 1 }
        let t = try Measure.time {
            for _ in 0..<triggers { _ = getpgid(0); try rb.consume() }
        }
        let drops = try ArrayMap<UInt64>(obj.map(named: "drops")).get(0)
        precondition(count + Int(drops) == triggers * Int(perTrigger))
        return (Double(count) / t, drops)
    }

    func peerRate() -> (rate: Double, drops: UInt64) {
        let r = Measure.run([peersDir + "/libbpf_ringbuf_consumer", object, "\(perTrigger)", "\(triggers)"])
        let f = Measure.fields(r.stdout)
        return (f["rate"].flatMap(Double.init) ?? .nan, f["drops"].flatMap(UInt64.init) ?? 0)
    }

    /// Perf buffer for contrast: libbpf's default wakeup (every sample) and a watermark of 500.
    func perfRate(wakeup: UInt32) throws -> (rate: Double, lost: UInt64) {
        let spec = try BPFObjectSpec.open(path: object)
        try spec.setGlobal("target_tgid", to: UInt32(getpid()))
        try spec.setGlobal("records_per_trigger", to: perTrigger)
        try spec.setAutoload(false, forProgram: "emit_ringbuf")
        let obj = try spec.load()
        let link = try obj.program(named: "emit_perfbuf").attach()
        defer { try? link.detach() }
        var count = 0
        let pb = try PerfBuffer(map: obj.map(named: "perf_events"), pagesPerCPU: 256, wakeupEvents: wakeup) { _, _ in count += 1 }
        let n = triggers / 10
        let t = try Measure.time {
            for _ in 0..<n { _ = getppid(); try pb.consume() }
        }
        return (Double(count) / t, pb.lostCount)
    }

    func run() throws -> [String] {
        var ours: [Double] = [], theirs: [Double] = [], drops: UInt64 = 0
        for _ in 0..<runs {
            let a = try netbpfRate(); ours.append(a.rate); drops += a.drops
            let b = peerRate(); theirs.append(b.rate); drops += b.drops
        }
        let p1 = try perfRate(wakeup: 1), p500 = try perfRate(wakeup: 500)
        let o = Measure.median(ours), t = Measure.median(theirs)
        return [
            "| consumer (\(perTrigger) records per getpgid() x \(triggers), back-to-back) | median M records/s (\(runs) runs) |",
            "|---|---:|",
            "| netbpf `RingBuffer.consume()` | \(fmt(o / 1e6, 2)) |",
            "| libbpf C `ring_buffer__consume()` (benchmarks/peers/libbpf_ringbuf_consumer.c) | \(fmt(t / 1e6, 2)) |",
            "| netbpf `PerfBuffer`, wakeup every sample (libbpf default) | \(fmt(p1.rate / 1e6, 2)) (lost \(p1.lost)) |",
            "| netbpf `PerfBuffer`, wakeupEvents 500 | \(fmt(p500.rate / 1e6, 2)) (lost \(p500.lost)) |",
            "",
            "- netbpf / libbpf C = **\(fmt(o / t, 2))x** (goal: at least 0.8x); records dropped in all ring buffer runs: \(drops)",
        ]
    }
}
