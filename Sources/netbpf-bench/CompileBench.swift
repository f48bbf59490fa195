import Foundation
import NetBPFCompiler

/// Compiling BPF C: `netbpf compile` (clang 14 in netbpf-cc, PCH for vmlinux.h, cache) against the
/// clang-14 command line on the same files, as whole processes, plus the in-process cached path.
struct CompileBench {
    let netbpf: String
    let repo: String
    let runs: Int

    func run() throws -> [String] {
        let cacheDir = "/tmp/netbpf-bench-cache-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: cacheDir) }
        setenv("NETBPF_CACHE_DIR", cacheDir, 1)
        let cache = try CacheDirectory(path: cacheDir)
        let kernelDir = try KernelTypes.includeDirectory(cache: cache, btfChecksum: try KernelTypes.btfChecksum(cache: cache))
        let tc = repo + "/programs/count_packets.bpf.c", tp = repo + "/programs/tp_vmlinux.bpf.c"
        let clangArgs = ["clang-14", "-O2", "-g", "-target", "bpf", "-D__TARGET_ARCH_x86", "-I/usr/include/x86_64-linux-gnu", "-I", repo + "/programs/include"]

        func wall(_ argv: [String]) -> (Double, Double) {
            var walls: [Double] = [], rss: [Double] = []
            for _ in 0..<runs {
                let r = Measure.run(argv, captureOutput: false)
                precondition(r.status == 0, "\(argv.joined(separator: " ")) failed")
                walls.append(r.wall * 1000); rss.append(Double(r.maxRSSKiB) / 1024)
            }
            return (Measure.median(walls), Measure.median(rss))
        }
        /// netbpf and clang-14 in alternation, one run each per round, so drift in the machine's
        /// speed (it is small and shared) falls on both alike; medians of each.
        func sideBySide(_ netbpfArgv: [String], _ clangArgv: [String]) -> (netbpf: (Double, Double), clang: (Double, Double)) {
            var walls: ([Double], [Double]) = ([], []), rss: ([Double], [Double]) = ([], [])
            for _ in 0..<runs {
                for (index, argv) in [netbpfArgv, clangArgv].enumerated() {
                    let r = Measure.run(argv, captureOutput: false)
                    precondition(r.status == 0, "\(argv.joined(separator: " ")) failed")
                    if index == 0 { walls.0.append(r.wall * 1000); rss.0.append(Double(r.maxRSSKiB) / 1024) }
                    else { walls.1.append(r.wall * 1000); rss.1.append(Double(r.maxRSSKiB) / 1024) }
                }
            }
            return ((Measure.median(walls.0), Measure.median(rss.0)), (Measure.median(walls.1), Measure.median(rss.1)))
        }
        // Warm vmlinux.h and its PCH once (the first compile after a kernel change pays this),
        // and the page cache for the tc program.
        let firstPCH = Measure.run([netbpf, "compile", "--no-cache", tp, "-o", "/dev/null"], captureOutput: false).wall * 1000
        // netbpf does not wait for the PCH build it started; let it finish before measuring.
        for _ in 0..<300 where ((try? FileManager.default.contentsOfDirectory(atPath: kernelDir)) ?? []).allSatisfy({ !$0.hasSuffix(".pch") }) {
            usleep(50_000)
        }
        for _ in 0..<2 { _ = Measure.run([netbpf, "compile", "--no-cache", tc, "-o", "/dev/null"], captureOutput: false) }

        let (tcNetbpf, tcClang) = sideBySide([netbpf, "compile", "--no-cache", tc, "-o", "/dev/null"], clangArgs + ["-c", tc, "-o", "/dev/null"])
        let (tpNetbpf, tpClang) = sideBySide([netbpf, "compile", "--no-cache", tp, "-o", "/dev/null"], clangArgs + ["-I", kernelDir, "-c", tp, "-o", "/dev/null"])
        _ = Measure.run([netbpf, "compile", tp, "-o", "/dev/null"], captureOutput: false)
        let cachedCLI = wall([netbpf, "compile", tp, "-o", "/dev/null"])

        let compiler = try BPFCompiler(cache: cache)
        _ = try compiler.compile(file: tp)
        var inProcess: [Double] = []
        for _ in 0..<max(runs, 20) {
            inProcess.append(try Measure.time { let hit = try compiler.compile(file: tp).isCacheHit; precondition(hit) } * 1000)
        }
        let features = wall([netbpf, "features", "--no-helpers"])
        let progList = wall([netbpf, "prog", "list"])

        return [
            "| compile (whole processes; netbpf and clang-14 alternate, \(runs) rounds) | median ms | peak RSS MB | netbpf / clang-14 CLI |",
            "|---|---:|---:|---:|",
            "| tc program, UAPI headers only: `netbpf compile --no-cache` | \(fmt(tcNetbpf.0)) | \(fmt(tcNetbpf.1)) | **\(fmt(tcNetbpf.0 / tcClang.0, 2))x** (goal ≤ 1.0x) |",
            "| same: `clang-14 -O2 -g -target bpf -c` | \(fmt(tcClang.0)) | \(fmt(tcClang.1)) | |",
            "| tracepoint program with vmlinux.h + CO-RE: `netbpf compile --no-cache` (PCH ready) | \(fmt(tpNetbpf.0)) | \(fmt(tpNetbpf.1)) | **\(fmt(tpNetbpf.0 / tpClang.0, 2))x** (goal ≤ 0.5x) |",
            "| same: `clang-14 -O2 -g -target bpf -c` with the same vmlinux.h | \(fmt(tpClang.0)) | \(fmt(tpClang.1)) | |",
            "| first compile after a kernel change (writes vmlinux.h; compiles while its PCH is built beside it, a build that goes on after netbpf exits) | \(fmt(firstPCH)) | | |",
            "| cached: `netbpf compile` (whole process) | \(fmt(cachedCLI.0)) | \(fmt(cachedCLI.1)) | |",
            "| cached: `BPFCompiler.compile(file:)` in-process, median of \(inProcess.count) | \(fmt(Measure.median(inProcess), 2)) | | goal ≤ 5 ms |",
            "| `netbpf features --no-helpers` (no compile: LLVM not mapped) | \(fmt(features.0)) | \(fmt(features.1)) | |",
            "| `netbpf prog list` (no compile) | \(fmt(progList.0)) | \(fmt(progList.1)) | |",
        ]
    }
}
