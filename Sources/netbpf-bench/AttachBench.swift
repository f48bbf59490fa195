import Foundation
import Glibc
import NetBPF

/// `netbpf attach tc VETH prog.c` end to end (compile, load, attach, pin, record, exit) against
/// the two ways people do it without netbpf, on the same program (programs/count_icmp.bpf.c;
/// BCC's copy of it in benchmarks/peers/bcc_pyroute2_tc.py):
/// - `clang-14 -O2 -g -target bpf -c prog.c -o prog.o` then `tc filter add dev VETH ingress bpf
///   da obj prog.o sec tc` (two processes, timed separately and added; the clsact qdisc is
///   added beforehand, untimed, as a tc user would have it);
/// - BCC: `BPF(text=...)` + `load_func(..., BPF.SCHED_CLS)` + pyroute2 clsact and a
///   direct-action cls_bpf filter, run with Debian's /usr/bin/python3.
/// Every run is a whole process, wall time from spawn to exit and peak RSS from wait4, and
/// everything is detached (untimed) between runs; the netbpf variants and clang + tc are
/// interleaved round by round. Cold cache: NETBPF_CACHE_DIR is a fresh empty
/// directory every run (so the compiler also writes its headers and builds its PCH); warm: the
/// same directory, filled by the warm-up round; --no-cache: the object compiled again in the warm
/// directory (what an edited program costs). The veth pair lives in
/// the bench's own namespace for the length of the run and is deleted after it.
struct AttachBench {
    let netbpf: String
    let repo: String
    let peersDir: String
    let runs: Int

    struct BenchError: Error, CustomStringConvertible {
        var description: String
    }

    struct Sample {
        var wallMs: [Double] = []
        var rssMB: [Double] = []
        var wall: Double { Measure.median(wallMs) }
        var rss: Double { Measure.median(rssMB) }
        mutating func add(_ r: Measure.ProcessRun) {
            wallMs.append(r.wall * 1000)
            rssMB.append(Double(r.maxRSSKiB) / 1024)
        }
    }

    /// Runs a set-up or tear-down command (untimed) and fails loudly.
    @discardableResult
    func must(_ argv: [String]) throws -> Measure.ProcessRun {
        let r = Measure.run(argv)
        guard r.status == 0 else { throw BenchError(description: "\(argv.joined(separator: " ")) failed with status \(r.status)") }
        return r
    }

    /// A timed run that must succeed.
    func timed(_ argv: [String]) throws -> Measure.ProcessRun {
        let r = Measure.run(argv, captureOutput: false)
        guard r.status == 0 else { throw BenchError(description: "\(argv.joined(separator: " ")) failed with status \(r.status)") }
        return r
    }

    func run() throws -> [String] {
        let program = repo + "/programs/count_icmp.bpf.c"
        let bcc = peersDir + "/bcc_pyroute2_tc.py"
        guard FileManager.default.fileExists(atPath: bcc) else { throw BenchError(description: "missing \(bcc) (benchmarks/run.sh copies it)") }
        let veth = "nbb\(getpid() % 100_000)a", peer = "nbb\(getpid() % 100_000)b"
        let work = "/tmp/netbpf-bench-attach-\(getpid())"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        setenv("NETBPF_STATE_DIR", work + "/state", 1)
        try must(["ip", "link", "add", veth, "type", "veth", "peer", "name", peer])
        defer {
            _ = Measure.run([netbpf, "detach", "tc", veth, "--all"])
            _ = Measure.run(["ip", "link", "del", veth])
            try? FileManager.default.removeItem(atPath: work)
        }
        try must(["ip", "link", "set", veth, "up"])
        try must(["ip", "link", "set", peer, "up"])

        let attach = [netbpf, "attach", "tc", veth, program]
        let detach = [netbpf, "detach", "tc", veth, "--all"]

        // Rounds: each runs every netbpf variant once and clang-14 + tc once, so drift in the
        // machine's speed (it is small and shared) falls on all of them alike. Round 0 is a
        // warm-up: it brings binaries into the page cache and fills the warm cache directory.
        let warmDir = work + "/cache-warm"
        let object = work + "/count_icmp.bpf.o"
        let clang = ["clang-14", "-O2", "-g", "-target", "bpf", "-I/usr/include/x86_64-linux-gnu", "-c", program, "-o", object]
        let tc = ["tc", "filter", "add", "dev", veth, "ingress", "bpf", "da", "obj", object, "sec", "tc"]
        var cold = Sample(), warm = Sample(), warmClsact = Sample(), recompile = Sample()
        var clangOnly = Sample(), tcOnly = Sample(), clangTC = Sample()
        // The kernel's share of a tcx attach: BPF_LINK_CREATE alone, in this process, for a
        // two-instruction program (the RCU grace period it waits for is most of it).
        let passThrough = try BPFProgram.tcxPassThrough(name: "bench_link")
        let vethIndex = Int32(if_nametoindex(veth))
        var linkCreateMs: [Double] = []
        for i in 0...runs {
            func measure(_ sample: inout Sample, _ argv: [String], cache: String) throws {
                setenv("NETBPF_CACHE_DIR", cache, 1)
                let r = try timed(argv)
                try must(detach)
                if i > 0 { sample.add(r) }
            }
            // Cold: a fresh, empty cache directory (the compiler also writes its headers and
            // builds its PCH there).
            let coldDir = work + "/cache-cold-\(i)"
            try FileManager.default.createDirectory(atPath: coldDir, withIntermediateDirectories: true)
            try measure(&cold, attach, cache: coldDir)
            try? FileManager.default.removeItem(atPath: coldDir)
            // Warm: the same directory every round.
            try measure(&warm, attach, cache: warmDir)
            try measure(&warmClsact, attach + ["--clsact"], cache: warmDir)
            // The object compiled again (an edited program), with the cache's headers ready.
            try measure(&recompile, attach + ["--no-cache"], cache: warmDir)
            // clang-14 + tc: the clsact qdisc is there already (untimed), as for a tc user.
            try must(["tc", "qdisc", "add", "dev", veth, "clsact"])
            let c = try timed(clang)
            let t = try timed(tc)
            try must(["tc", "qdisc", "del", "dev", veth, "clsact"])
            var link: BPFLink?
            let created = try Measure.time { link = try passThrough.attachTCX(ifindex: vethIndex, direction: .ingress) }
            try link?.detach()
            if i == 0 { continue }
            linkCreateMs.append(created * 1000)
            clangOnly.add(c)
            tcOnly.add(t)
            clangTC.wallMs.append((c.wall + t.wall) * 1000)
            clangTC.rssMB.append(Double(max(c.maxRSSKiB, t.maxRSSKiB)) / 1024)
        }

        // BCC + pyroute2 (it adds the clsact; removing it removes the filter).
        var bccRun = Sample()
        for i in 0...runs {
            let r = try timed(["/usr/bin/python3", bcc, veth])
            try must(["tc", "qdisc", "del", "dev", veth, "clsact"])
            if i > 0 { bccRun.add(r) }
        }

        func ratio(_ a: Double, _ b: Double) -> String { fmt(a / b, 2) + "x" }
        let base = clangTC.wall
        return [
            "Program: programs/count_icmp.bpf.c (BCC: the same C in BCC's dialect). Median of \(runs) rounds, each running every netbpf variant and clang-14 + tc once (interleaved), after one untimed warm-up round; whole processes, detached between runs. BCC: \(runs) runs after them.",
            "",
            "| attach a tc classifier, end to end | median ms | peak RSS MB | vs clang-14 + tc | vs BCC |",
            "|---|---:|---:|---:|---:|",
            "| `netbpf attach tc VETH prog.c`, warm cache (tcx) | \(fmt(warm.wall)) | \(fmt(warm.rss)) | **\(ratio(warm.wall, base))** (goal ≤ 0.5x) | **\(ratio(warm.wall, bccRun.wall))** (goal ≤ 0.1x) |",
            "| `netbpf attach tc VETH prog.c`, cold cache (tcx) | \(fmt(cold.wall)) | \(fmt(cold.rss)) | **\(ratio(cold.wall, base))** (goal ≤ 1.0x) | **\(ratio(cold.wall, bccRun.wall))** (goal ≤ 0.1x) |",
            "| `netbpf attach tc VETH prog.c --no-cache` (compiled again; cache's headers ready) | \(fmt(recompile.wall)) | \(fmt(recompile.rss)) | \(ratio(recompile.wall, base)) | \(ratio(recompile.wall, bccRun.wall)) |",
            "| `netbpf attach tc VETH prog.c --clsact`, warm cache | \(fmt(warmClsact.wall)) | \(fmt(warmClsact.rss)) | \(ratio(warmClsact.wall, base)) | \(ratio(warmClsact.wall, bccRun.wall)) |",
            "| `clang-14 -O2 -g -target bpf -c` + `tc filter add ... bpf da obj prog.o sec tc` | \(fmt(clangTC.wall)) | \(fmt(clangTC.rss)) | 1.00x | \(ratio(clangTC.wall, bccRun.wall)) |",
            "| &nbsp;&nbsp;of which clang-14 | \(fmt(clangOnly.wall)) | \(fmt(clangOnly.rss)) | | |",
            "| &nbsp;&nbsp;of which tc filter add | \(fmt(tcOnly.wall)) | \(fmt(tcOnly.rss)) | | |",
            "| kernel alone: `BPF_LINK_CREATE` (tcx) of a 2-instruction program, in-process (min \(fmt(linkCreateMs.min() ?? 0)), max \(fmt(linkCreateMs.max() ?? 0))) | \(fmt(Measure.median(linkCreateMs))) | | \(ratio(Measure.median(linkCreateMs), base)) | |",
            "| BCC 0.26 `BPF(text=...)` + `load_func(SCHED_CLS)` + pyroute2 clsact/filter | \(fmt(bccRun.wall)) | \(fmt(bccRun.rss)) | \(ratio(bccRun.wall, base)) | 1.00x |",
            "",
            "| peak RSS, netbpf / BCC | warm | cold |",
            "|---|---:|---:|",
            "| goal ≤ 0.5x | **\(ratio(warm.rss, bccRun.rss))** | **\(ratio(cold.rss, bccRun.rss))** |",
        ]
    }
}
