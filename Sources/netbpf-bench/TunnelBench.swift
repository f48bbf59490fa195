import Foundation
import Glibc
import NetBPF
import NetBPFAttach
import NetBPFCompiler
import NetBPFControllers

/// The tunnel monitor: per-packet cost on a VXLAN frame (BPF_PROG_TEST_RUN, kernel-measured)
/// against an empty tc program and a BCC-style monitor loaded by BCC; reading 100,000
/// conversations for one report; TCP throughput through a VXLAN tunnel with the monitor attached.
struct TunnelBench {
    let repo: String
    let peersDir: String
    let runs: Int
    let repeatCount = 1_000_000

    /// Outer Ethernet/IPv4/UDP 4789/VXLAN (VNI 10000) around an inner Ethernet/IPv4 ICMP echo
    /// with 64 bytes of payload: 156 bytes.
    static func vxlanFrame(outerDestination: [UInt8] = [172, 16, 1, 101], destinationMAC: [UInt8] = [2, 0, 0, 0, 0, 2], port: UInt16 = 4789) -> [UInt8] {
        func be16(_ v: Int) -> [UInt8] { [UInt8(v >> 8), UInt8(v & 0xff)] }
        let inner: [UInt8] = [0x0a, 0, 0, 0, 0, 2, 0x0a, 0, 0, 0, 0, 1, 0x08, 0x00] + [0x45, 0, 0, 92, 0, 1, 0x40, 0, 64, 1, 0, 0, 192, 168, 0, 1, 192, 168, 0, 2]
            + [8, 0, 0, 0, 0, 1, 0, 1] + [UInt8](repeating: 0xab, count: 64)
        let vxlan: [UInt8] = [8, 0, 0, 0, 0, 0x27, 0x10, 0]
        let udp = be16(54321) + be16(Int(port)) + be16(8 + vxlan.count + inner.count) + [0, 0]
        let ip = [0x45, 0] + be16(20 + udp.count + vxlan.count + inner.count) + [0x12, 0x34, 0x40, 0, 64, 17, 0, 0, 172, 16, 1, 100] + outerDestination
        return destinationMAC + [2, 0, 0, 0, 0, 1, 8, 0] + ip + udp + vxlan + inner
    }

    func perPacket() throws -> [String] {
        let monitor = try TunnelMonitor.load()
        let empty = try BPFCompiler().compile(file: repo + "/programs/empty_tc.bpf.c").open().load()
        let egress = try monitor.program(named: "tunnel_egress"), ingress = try monitor.program(named: "tunnel_ingress")
        let base = try empty.program(named: "empty_tc")
        func cost(_ p: BPFProgram, _ frame: [UInt8]) throws -> Double {
            Double(try p.testRun(data: frame, repeat: repeatCount).durationNanoseconds)
        }
        let frame = Self.vxlanFrame()
        let flood = Self.vxlanFrame(outerDestination: [239, 1, 1, 1], destinationMAC: [1, 0, 0x5e, 1, 1, 1])
        let other = Self.vxlanFrame(port: 53)
        let haveBCC = FileManager.default.fileExists(atPath: "/usr/lib/python3/dist-packages/bcc/__init__.py")
        let hex = frame.map { String(format: "%02x", $0) }.joined()
        // Interleaved, one round per run, so load from elsewhere on the machine hits all alike.
        var xs: [String: [Double]] = [:]
        var bccFailure: String?
        for _ in 0..<runs {
            xs["base", default: []].append(try cost(base, frame))
            xs["tx", default: []].append(try cost(egress, frame))
            xs["rx", default: []].append(try cost(ingress, frame))
            xs["flood", default: []].append(try cost(egress, flood))
            xs["other", default: []].append(try cost(egress, other))
            if haveBCC {
                let r = Measure.run(["/usr/bin/python3", peersDir + "/bcc_tunnel_monitor.py", hex, "\(repeatCount)", "1"])
                if let ns = Measure.fields(r.stdout)["ns"].flatMap(Double.init) { xs["bcc", default: []].append(ns) } else { bccFailure = String(r.stdout.prefix(200)) }
            }
        }
        func m(_ k: String) -> Double { Measure.median(xs[k] ?? []) }
        let baseline = m("base")
        var rows = [
            "| program (BPF_PROG_TEST_RUN on a 156-byte VXLAN frame, repeat \(repeatCount), median of \(runs) interleaved runs) | ns per packet | minus empty program |",
            "|---|---:|---:|",
            "| empty tc program (programs/empty_tc.bpf.c) | \(fmt(baseline)) | |",
            "| netbpf tunnel_egress, unicast VXLAN (parse + per-CPU hash update, 72-byte key) | \(fmt(m("tx"))) | \(fmt(m("tx") - baseline)) |",
            "| netbpf tunnel_ingress, same frame | \(fmt(m("rx"))) | \(fmt(m("rx") - baseline)) |",
            "| netbpf tunnel_egress, flooded (multicast outer destination -> floods map) | \(fmt(m("flood"))) | \(fmt(m("flood") - baseline)) |",
            "| netbpf tunnel_egress, UDP to port 53 (not VXLAN: counted and passed) | \(fmt(m("other"))) | \(fmt(m("other") - baseline)) |",
        ]
        if !haveBCC {
            rows.append("| BCC peer: python3-bpfcc not installed | n/a | |")
        } else if let bcc = xs["bcc"], bcc.count == runs {
            rows.append("| BCC 0.26 style monitor loaded by BCC (benchmarks/peers/bcc_tunnel_monitor.py: 2 tail calls, proto.h cursors, 20-byte IPv4-only key, atomic adds in a BPF_HASH) | \(fmt(m("bcc"))) | \(fmt(m("bcc") - baseline)) |")
        } else {
            rows.append("| BCC peer failed: \(bccFailure ?? "?") | n/a | |")
        }
        rows.append("")
        rows.append("all runs, ns: " + ["base", "tx", "rx", "flood", "other", "bcc"].map { k in "\(k) " + (xs[k] ?? []).map { fmt($0, 0) }.joined(separator: "/") }.joined(separator: "; "))
        return rows
    }

    static func cpuSeconds() -> Double {
        var u = rusage()
        getrusage(RUSAGE_SELF.rawValue, &u)
        return Double(u.ru_utime.tv_sec) + Double(u.ru_utime.tv_usec) / 1e6 + Double(u.ru_stime.tv_sec) + Double(u.ru_stime.tv_usec) / 1e6
    }

    /// 100,000 conversations in the map (filled from user space with batch updates), then the
    /// work of one report: read them all, sample, build the snapshot JSON and the /metrics text.
    func report() throws -> [String] {
        let entries = 100_000
        let object = try TunnelMonitor.load(maxConversations: 131_072)
        let map = try object.map(named: "conversations")
        let cpus = map.possibleCPUs, vs = map.valueBufferSize
        var keys = [TMKey](), values = [UInt8](repeating: 0, count: entries * vs)
        keys.reserveCapacity(entries)
        for i in 0..<entries {
            let host = UInt8(i % 200 + 1), vni = UInt32(10000 + i % 4)
            keys.append(TMKey(outerA: [172, 16, UInt8(i / 50_000), host], outerB: [172, 16, 9, UInt8(i % 7 + 1)],
                              innerA: [10, UInt8(i >> 16 & 0xff), UInt8(i >> 8 & 0xff), UInt8(i & 0xff)], innerB: [192, 168, UInt8(vni & 0xff), 1],
                              vni: vni, innerProto: 0x0800))
            var c = TMCounters()
            c[packets: .egressAToB] = UInt64(i + 1); c[bytes: .egressAToB] = UInt64(i + 1) * 604
            c[packets: .ingressBToA] = UInt64(i + 1); c[bytes: .ingressBToA] = UInt64(i + 1) * 604
            for cpu in 0..<cpus {
                withUnsafeBytes(of: c) { raw in for b in 0..<64 { values[i * vs + cpu * 64 + b] = raw[b] } }
            }
        }
        try keys.withUnsafeBytes { k in try values.withUnsafeBytes { v in try map.update(batchOf: entries, keys: k.baseAddress!, values: v.baseAddress!) } }
        let monitor = try TunnelMonitor(loaded: object)

        var rows: [(String, [Double], [Double])] = []
        func measure(_ name: String, _ body: () throws -> Void) rethrows {
            var wall: [Double] = [], cpu: [Double] = []
            for _ in 0..<runs {
                let c0 = Self.cpuSeconds(), t0 = Measure.now()
                try body()
                wall.append((Measure.now() - t0) * 1000); cpu.append((Self.cpuSeconds() - c0) * 1000)
            }
            rows.append((name, wall, cpu))
        }
        var reading: TunnelReading?
        try measure("read: BPF_MAP_LOOKUP_BATCH dump + per-CPU sums into a dictionary (`TunnelMonitor.read()`)") {
            reading = try monitor.read()
            precondition(reading!.conversations.count == entries)
        }
        try measure("of which the batch dump alone (BPF_MAP_LOOKUP_BATCH, 4096 per call, no sums)") {
            var n = 0
            try map.forEachChunk(method: .batch) { _, _, c in n += c }
            precondition(n == entries)
        }
        try measure("for comparison: the same dump per key (get_next_key + lookup, no sums)") {
            var n = 0
            try map.forEachChunk(method: .perKey) { _, _, c in n += c }
            precondition(n == entries)
        }
        let sampler = TunnelSampler(interface: "eth0", namespace: nil, ports: [4789], capacity: 131_072)
        var sample: TunnelSample?
        _ = sampler.sample(reading!)
        measure("sample: deltas against the previous reading, per-VNI totals and rates") { sample = sampler.sample(reading!) }
        try measure("snapshot.json: all 100,000 conversations ranked, formatted and JSON-encoded") {
            let d = try sample!.snapshot().json()
            precondition(d.count > 10_000_000)
        }
        measure("web snapshot: the busiest 500 (what /api/snapshot and /events send)") { _ = try? sample!.snapshot(limit: 500).json() }
        measure("/metrics: 200,000 conversation series x 2 families (--metrics-conversations 100000)") {
            let t = TunnelPrometheus.render(sample!, maxConversations: entries)
            precondition(t.utf8.count > 40_000_000)
        }
        try measure("one whole interval with --json-dir: read + sample + snapshot.json + delta.json") {
            let r = try monitor.read()
            let s = sampler.sample(r)
            _ = try s.snapshot().json()
            _ = try s.delta().json()
        }
        var out = ["| one report of 100,000 conversations (\(cpus) possible CPUs) | median wall ms (\(runs) runs) | median CPU ms |", "|---|---:|---:|"]
        for (name, wall, cpu) in rows { out.append("| \(name) | \(fmt(Measure.median(wall))) | \(fmt(Measure.median(cpu))) |") }
        return out
    }

    /// iperf3 TCP through VXLAN (scripts/tunnel-lab.sh: tl-h0 -> tl-h1 over VNI 10000), with no
    /// program and with the monitor on tl-h0's eth0 (ingress + egress), runs interleaved.
    func throughput() throws -> [String] {
        func lab(_ args: [String]) { _ = Measure.run(["bash", repo + "/scripts/tunnel-lab.sh"] + args, captureOutput: false) }
        lab(["up", "2", "1"])
        defer { lab(["down"]) }
        func iperf() -> Double {
            let server = Process()
            server.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
            server.arguments = ["netns", "exec", "tl-h1", "iperf3", "-s", "-1", "-B", "192.168.0.2"]
            server.standardOutput = FileHandle.nullDevice; server.standardError = FileHandle.nullDevice
            try? server.run()
            usleep(300_000)
            let r = Measure.run(["ip", "netns", "exec", "tl-h0", "iperf3", "-c", "192.168.0.2", "-t", "4", "-O", "1", "-J"])
            server.waitUntilExit()
            guard let j = try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any],
                  let bps = ((j["end"] as? [String: Any])?["sum_received"] as? [String: Any])?["bits_per_second"] as? Double else { return .nan }
            return bps / 1e9
        }
        let store = AttachmentStore(directory: "/tmp/nbbench-tunnel-state-\(getpid())")
        defer { try? FileManager.default.removeItem(atPath: store.directory) }
        var none: [Double] = [], with: [Double] = []
        var counted: UInt64 = 0, runsPerSecond: [Double] = []
        func monitored() throws -> Double {
            let m = try TunnelMonitor.attach(interface: "eth0", namespace: "tl-h0", store: store)
            let t0 = Measure.now()
            let g = iperf()
            let r = try m.read()
            runsPerSecond.append(Double(r.stats[.seen]) / (Measure.now() - t0))
            counted = r.conversations.values.map(\.totalPackets).max() ?? 0
            try m.detach()
            return g
        }
        // Pairs in alternating order (none first, then monitor first), so a drift of the machine
        // or an advantage of the second run of a pair does not lean one way.
        for i in 0..<runs {
            if i % 2 == 0 {
                none.append(iperf()); with.append(try monitored())
            } else {
                with.append(try monitored()); none.append(iperf())
            }
        }
        let a = Measure.median(none), b = Measure.median(with)
        let pairs = zip(with, none).map { $0 / $1 }
        return [
            "| TCP through VXLAN over a veth underlay (iperf3 -t 4 -O 1, \(runs) pairs, alternating order) | median Gbit/s | vs none |",
            "|---|---:|---:|",
            "| no program | \(fmt(a, 2)) | 1.00x |",
            "| tunnel monitor on the sender's underlay eth0, ingress + egress | \(fmt(b, 2)) | **\(fmt(b / a, 2))x** (goal ≥ 0.95x) |",
            "",
            "- median of the per-pair ratios (monitor run / the no-program run of the same pair): **\(fmt(Measure.median(pairs), 2))x**",
            "- all runs, Gbit/s: none \(none.map { fmt($0, 2) }.joined(separator: ", ")); monitor \(with.map { fmt($0, 2) }.joined(separator: ", "))",
            "- the monitor's last run counted \(counted) wire segments on the iperf3 conversation; the programs ran \(fmt(Measure.median(runsPerSecond), 0)) times a second (GSO skbs out, ACKs in), which at the per-packet cost above is \(fmt(Measure.median(runsPerSecond) * 50e-9 * 100, 2))% of one CPU (50 ns a run)",
        ]
    }

    func run() throws -> [String] {
        // NETBPF_BENCH_PARTS=report (or perpacket,throughput) runs only those parts.
        let parts = Set((ProcessInfo.processInfo.environment["NETBPF_BENCH_PARTS"] ?? "perpacket,report,throughput").split(separator: ",").map(String.init))
        var out: [String] = []
        if parts.contains("perpacket") { out += try perPacket() + [""] }
        if parts.contains("report") { out += try report() + [""] }
        if parts.contains("throughput") { out += try throughput() }
        return out
    }
}
