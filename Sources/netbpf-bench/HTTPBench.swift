import Foundation
import Glibc
import NetBPF
import NetBPFControllers

/// The HTTP filter's programs: per-packet cost under BPF_PROG_TEST_RUN (an HTTP GET and a bulk
/// non-HTTP segment; the socket filter and the tc blocker against empty programs of the same
/// types and against BCC's http-parse-complete loaded by BCC), then TCP throughput over a veth
/// pair with iperf3: nothing attached, the blocker attached, and the whole `netbpf http-filter`
/// (socket filter + blocker) running.
struct HTTPBench {
    let programsDir: String
    let peersDir: String
    let netbpf: String
    let runs: Int
    let repeatCount = 100_000
    var iperfSeconds = 5

    static let getPayload = Array("GET /index.html HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n".utf8)

    /// An HTTP GET and a 1400-byte segment of a bulk transfer (another flow, so no session).
    var packets: (get: [UInt8], other: [UInt8]) {
        var bulk = HTTPFrameBuilder.ipv4(sourcePort: 40001, destinationPort: 5201)
        bulk.tcpOptions = [1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2] // NOP NOP timestamps, as Linux sends
        var get = HTTPFrameBuilder.ipv4(sourcePort: 40000, destinationPort: 80)
        get.tcpOptions = bulk.tcpOptions
        var rng: UInt64 = 0x1234_5678
        let data = (0..<1400).map { _ -> UInt8 in rng = rng &* 6364136223846793005 &+ 1442695040888963407; return UInt8(truncatingIfNeeded: rng >> 33) }
        return (get.frame(payload: Self.getPayload), bulk.frame(payload: data))
    }

    /// Median of `runs` test runs of `repeatCount` each: ns per packet, and the verdict.
    func cost(_ program: BPFProgram, _ data: [UInt8]) throws -> (ns: Double, verdict: UInt32) {
        var samples: [Double] = []
        var verdict: UInt32 = 0
        for _ in 0..<runs {
            let r = try program.testRun(data: data, repeat: repeatCount)
            samples.append(Double(r.durationNanoseconds))
            verdict = r.returnValue
        }
        return (Measure.median(samples), verdict)
    }

    func run() throws -> [String] {
        let (get, other) = packets
        let sockGet = HTTPFrameBuilder.forSocketFilterTestRun(get), sockOther = HTTPFrameBuilder.forSocketFilterTestRun(other)
        let filter = try BPFObject.load(path: programsDir + "/http_filter.bpf.o")
        let block = try BPFObject.load(path: programsDir + "/http_block.bpf.o")
        let empty = try BPFObject.load(path: programsDir + "/http_bench_empty.bpf.o")
        // A list the GET does not match, so the blocker does all its work (two lookups, the Host scan).
        let list = try BPFHTTPBlockList(map: block.map(named: "block_list"))
        for i in 0..<16 {
            try list.add(.path("/admin\(i)/"))
            try list.add(.host("blocked\(i).example"))
        }
        let sf = try filter.program(named: "http_filter"), bl = try block.program(named: "http_block")
        let es = try empty.program(named: "empty_socket"), et = try empty.program(named: "empty_tc")

        let rows: [(String, (ns: Double, verdict: UInt32), (ns: Double, verdict: UInt32))] = [
            ("empty socket filter", try cost(es, sockGet), try cost(es, sockOther)),
            ("netbpf http_filter (socket filter)", try cost(sf, sockGet), try cost(sf, sockOther)),
            ("empty tc program", try cost(et, get), try cost(et, other)),
            ("netbpf http_block (tc, 32 entries, no match)", try cost(bl, get), try cost(bl, other)),
        ]
        let bcc = Measure.run(["/usr/bin/python3", peersDir + "/bcc_http_filter.py", "\(repeatCount)", "\(runs)",
                               "get=" + hex(sockGet), "other=" + hex(sockOther)])
        var bccRow: (get: Double, other: Double, getKept: Bool, otherKept: Bool)?
        let lines = bcc.stdout.split(separator: "\n").map { Measure.fields(String($0)) }
        if let g = lines.first(where: { $0["packet"] == "get" }), let o = lines.first(where: { $0["packet"] == "other" }),
           let gns = g["ns"].flatMap(Double.init), let ons = o["ns"].flatMap(Double.init) {
            bccRow = (gns, ons, g["retval"] != "0", o["retval"] != "0")
        }

        func verdict(_ v: UInt32, tc: Bool) -> String {
            tc ? (v == 2 ? "drop" : "pass") : (v == 0 ? "drop" : "keep")
        }
        var out = [
            "| program (BPF_PROG_TEST_RUN, repeat \(repeatCount), median of \(runs)) | HTTP GET ns | verdict | non-HTTP 1400 B ns | verdict |",
            "|---|---:|---|---:|---|",
        ]
        for (i, (name, g, o)) in rows.enumerated() {
            let tc = i >= 2
            out.append("| \(name) | \(fmt(g.ns, 0)) | \(verdict(g.verdict, tc: tc)) | \(fmt(o.ns, 0)) | \(verdict(o.verdict, tc: tc)) |")
        }
        if let b = bccRow {
            out.append("| BCC http-parse-complete equivalent, loaded by BCC 0.26 (benchmarks/peers/bcc_http_filter.py) | \(fmt(b.get, 0)) | \(b.getKept ? "keep" : "drop") | \(fmt(b.other, 0)) | \(b.otherKept ? "keep" : "drop") |")
        } else {
            out.append("| BCC peer failed: \(bcc.stdout.isEmpty ? "status \(bcc.status) (BCC and kernel headers installed? run as root)" : bcc.stdout) | | | | |")
        }
        let e = rows[0], s = rows[1], te = rows[2], tb = rows[3]
        out += ["", "- socket filter over the empty one: +\(fmt(s.1.ns - e.1.ns, 0)) ns (GET), +\(fmt(s.2.ns - e.2.ns, 0)) ns (non-HTTP); "
                + "tc blocker over the empty one: +\(fmt(tb.1.ns - te.1.ns, 0)) ns (GET), +\(fmt(tb.2.ns - te.2.ns, 0)) ns (non-HTTP)"]
        if let b = bccRow {
            out.append("- netbpf http_filter time / BCC time (lower is faster for netbpf): GET **\(fmt(s.1.ns / b.get, 2))x**, non-HTTP **\(fmt(s.2.ns / b.other, 2))x** "
                       + "(netbpf also parses VLAN tags, IPv6 and extension headers, checks fragments and scans the request line for its end)")
        }
        out.append("")
        out += try throughput()
        return withExtendedLifetime([filter, block, empty]) { out }
    }

    func hex(_ b: [UInt8]) -> String { b.map { String(format: "%02x", $0) }.joined() }

    // MARK: throughput

    enum Condition: String, CaseIterable { case none = "nothing attached", block = "http_block on ingress (tcx)", filter = "netbpf http-filter running (socket filter + http_block)" }

    func throughput() throws -> [String] {
        let id = "\(getpid())"
        let s = "nbh-s-\(id)", c = "nbh-c-\(id)"
        func sh(_ argv: [String]) throws {
            let r = Measure.run(argv)
            if r.status != 0 { throw BenchError("\(argv.joined(separator: " ")) failed with status \(r.status)") }
        }
        defer {
            _ = Measure.run(["ip", "netns", "pids", s]).stdout.split(separator: "\n").compactMap { Int32($0) }.map { kill($0, SIGKILL) }
            _ = Measure.run(["ip", "netns", "del", s])
            _ = Measure.run(["ip", "netns", "del", c])
        }
        try sh(["ip", "netns", "add", s])
        try sh(["ip", "netns", "add", c])
        try sh(["ip", "-n", s, "link", "add", "srv", "type", "veth", "peer", "name", "cli", "netns", c])
        try sh(["ip", "-n", s, "addr", "add", "10.0.0.1/24", "dev", "srv"])
        try sh(["ip", "-n", c, "addr", "add", "10.0.0.2/24", "dev", "cli"])
        try sh(["ip", "-n", s, "link", "set", "srv", "up"])
        try sh(["ip", "-n", c, "link", "set", "cli", "up"])
        let server = try spawn(["ip", "netns", "exec", s, "iperf3", "-s", "-B", "10.0.0.1"])
        defer { stop(server) }
        usleep(300_000)

        var results: [Condition: [Double]] = [:]
        let order = Condition.allCases
        for round in 0..<runs {
            // Rotate the order so drift (other load on the machine) spreads over all conditions.
            for k in 0..<order.count {
                let condition = order[(k + round) % order.count]
                var undo: () -> Void = {}
                switch condition {
                case .none: break
                case .block:
                    try sh([netbpf, "attach", "tc", "srv", programsDir + "/http_block.bpf.o", "--netns", s])
                    undo = { _ = Measure.run([netbpf, "detach", "tc", "srv", "--name", "http_block", "--netns", s]) }
                case .filter:
                    let pid = try spawn([netbpf, "http-filter", "-i", "srv", "--netns", s, "--block-path", "/blocked"])
                    let pin = "\(Pinning.root)/\(s)/srv/ingress/http_block/maps/block_list"
                    for _ in 0..<200 where !FileManager.default.fileExists(atPath: pin) { usleep(50_000) }
                    usleep(200_000)
                    undo = { stop(pid, signal: SIGINT) }
                }
                let r = Measure.run(["ip", "netns", "exec", c, "iperf3", "-c", "10.0.0.1", "-t", "\(iperfSeconds)", "-J"])
                undo()
                guard let json = try? JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any],
                      let end = json["end"] as? [String: Any], let received = end["sum_received"] as? [String: Any],
                      let bps = received["bits_per_second"] as? Double else {
                    throw BenchError("iperf3 gave no result (\(condition.rawValue)): \(r.stdout.prefix(200))")
                }
                results[condition, default: []].append(bps / 1e9)
            }
        }
        let base = Measure.median(results[.none] ?? [])
        var out = [
            "| TCP over a veth pair (iperf3 -t \(iperfSeconds), \(runs) rounds, rotating order) | median Gbit/s | all runs | vs nothing |",
            "|---|---:|---|---:|",
        ]
        for condition in order {
            let xs = results[condition] ?? []
            let m = Measure.median(xs)
            out.append("| \(condition.rawValue) | \(fmt(m, 2)) | \(xs.map { fmt($0, 2) }.joined(separator: ", ")) | **\(fmt(m / base, 3))x** |")
        }
        out += ["", "- goal: at least 0.95x with the blocking program attached"]
        return out
    }

    func spawn(_ argv: [String]) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let cargs = argv.map { strdup($0) } + [nil]
        defer { cargs.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawnp(&pid, argv[0], &actions, nil, cargs, environ)
        guard rc == 0 else { throw BenchError("spawn \(argv[0]): \(rc)") }
        return pid
    }

    func stop(_ pid: pid_t, signal sig: Int32 = SIGTERM) {
        kill(pid, sig)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}
