import Foundation
import NetBPF
import NetBPFAttach
import NetBPFCompiler
import NetBPFControllers

/// The rate limiter's per-packet cost (BPF_PROG_TEST_RUN, kernel-measured) for a limited and an
/// unlimited address against an empty tc program, and TCP throughput over a veth pair (iperf3)
/// with the limiter attached (every packet through a token bucket) against none.
struct RateLimitBench {
    let repo: String
    let runs: Int

    static func ipv4Packet(source: [UInt8]) -> [UInt8] {
        var p = [UInt8](repeating: 0, count: 98)
        p[12] = 0x08; p[14] = 0x45; p[17] = 84; p[22] = 64; p[23] = 6
        p[26...29] = ArraySlice(source); p[30...33] = [10, 99, 0, 2]
        return p
    }

    func perPacket() throws -> [String] {
        let compiler = try BPFCompiler()
        let limiter = try compiler.compile(file: repo + "/programs/ratelimit.bpf.c").open().load()
        let empty = try compiler.compile(file: repo + "/programs/empty_tc.bpf.c").open().load()
        // 10.99.0.1 limited at 100 Gbit/s (never over: the bucket runs, nothing drops).
        let limits = try LPMTrieMap<(UInt8, UInt8, UInt8, UInt8), (UInt64, UInt64, UInt32, UInt32)>(limiter.map(named: "limits4"))
        try limits.insert((10, 99, 0, 1), prefixLength: 32, (100_000_000_000 / 8, 1 << 30, 0, 2))
        let rl = try limiter.program(named: "ratelimit"), base = try empty.program(named: "empty_tc")
        func cost(_ p: BPFProgram, _ packet: [UInt8]) throws -> Double {
            var xs: [Double] = []
            for _ in 0..<runs { xs.append(Double(try p.testRun(data: packet, repeat: 1_000_000).durationNanoseconds)) }
            return Measure.median(xs)
        }
        let limited = try cost(rl, Self.ipv4Packet(source: [10, 99, 0, 1]))
        let unlimited = try cost(rl, Self.ipv4Packet(source: [10, 99, 0, 9]))
        let baseline = try cost(base, Self.ipv4Packet(source: [10, 99, 0, 1]))
        return [
            "| program (BPF_PROG_TEST_RUN, repeat 1,000,000, median of \(runs)) | ns per packet | minus empty program |",
            "|---|---:|---:|",
            "| empty tc program | \(fmt(baseline)) | |",
            "| ratelimit, limited address (LPM lookup + spin-locked token bucket) | \(fmt(limited)) | \(fmt(limited - baseline)) |",
            "| ratelimit, unlimited address (LPM miss + default lookup) | \(fmt(unlimited)) | \(fmt(unlimited - baseline)) |",
        ]
    }

    func throughput() throws -> [String] {
        let c = "nbbench-c", s = "nbbench-s"
        func ip(_ args: [String]) { _ = Measure.run(["ip"] + args, captureOutput: false) }
        ip(["netns", "del", c]); ip(["netns", "del", s])
        ip(["netns", "add", c]); ip(["netns", "add", s])
        defer { ip(["netns", "del", c]); ip(["netns", "del", s]) }
        ip(["link", "add", "bc", "netns", c, "type", "veth", "peer", "name", "bs", "netns", s])
        ip(["-n", c, "addr", "add", "10.98.0.1/24", "dev", "bc"]); ip(["-n", s, "addr", "add", "10.98.0.2/24", "dev", "bs"])
        ip(["-n", c, "link", "set", "bc", "up"]); ip(["-n", s, "link", "set", "bs", "up"])
        /// One iperf3 -t 3 run from the client to the server namespace, in Gbit/s (nil if it failed).
        func iperf() -> Double? {
            let server = Process()
            server.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
            server.arguments = ["netns", "exec", s, "iperf3", "-s", "-1"]
            server.standardOutput = FileHandle.nullDevice; server.standardError = FileHandle.nullDevice
            try? server.run()
            usleep(300_000)
            let r = Measure.run(["ip", "netns", "exec", c, "iperf3", "-c", "10.98.0.2", "-t", "3", "-J"])
            if r.status != 0 { server.terminate() } // `-s -1` would wait for a client forever
            server.waitUntilExit()
            guard let j = try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any],
                  let bps = ((j["end"] as? [String: Any])?["sum_received"] as? [String: Any])?["bits_per_second"] as? Double else { return nil }
            return bps / 1e9
        }
        // Rounds alternate which case goes first, so drift in the machine's load (it is shared)
        // falls on both cases alike; the limiter is attached and detached in every round.
        let store = AttachmentStore(directory: "/tmp/nbbench-state-\(getpid())")
        defer { try? FileManager.default.removeItem(atPath: store.directory) }
        var none: [Double] = [], limited: [Double] = [], paired: [Double] = []
        let rounds = max(runs, 5)
        for round in 0..<rounds {
            var pair: [Bool: Double] = [:]
            for withLimiter in round % 2 == 0 ? [false, true] : [true, false] {
                if withLimiter {
                    let rl = try RateLimiter.attach(interface: "bs", namespace: s, direction: .ingress, keyOn: .source, store: store)
                    defer { try? rl.detach(store: store) }
                    try rl.add(try AddressPrefix("10.98.0.1"), rateBitsPerSecond: 400_000_000_000)
                    pair[true] = iperf()
                } else {
                    pair[false] = iperf()
                }
            }
            if let g = pair[false] { none.append(g) }
            if let g = pair[true] { limited.append(g) }
            if let x = pair[false], let y = pair[true] { paired.append(y / x) }
        }
        let a = Measure.median(none), b = Measure.median(limited)
        return [
            "| TCP over a veth pair (iperf3 -t 3, \(rounds) rounds in alternating order) | median Gbit/s | all runs | vs none |",
            "|---|---:|---|---:|",
            "| no program | \(fmt(a, 2)) | \(none.map { fmt($0, 1) }.joined(separator: ", ")) | 1.00x |",
            "| ratelimit on the receiver's ingress, sender limited at 400 Gbit/s (bucket runs on every packet) | \(fmt(b, 2)) | \(limited.map { fmt($0, 1) }.joined(separator: ", ")) | \(fmt(b / a, 2))x |",
            "",
            "Same-round ratios (with / without, back to back): \(paired.map { fmt($0, 2) }.joined(separator: ", ")); "
                + "**median \(fmt(Measure.median(paired), 2))x** (goal ≥ 0.95x).",
        ]
    }

    func run() throws -> [String] { try perPacket() + [""] + throughput() }
}
