import Foundation
import NetBPF

// netbpf-bench: side-by-side benchmarks. benchmarks/run.sh builds the peers and calls this.
// Usage: netbpf-bench map-dump|ringbuf|prog-list|compile|attach|ratelimit|http|tunnel --programs DIR --peers DIR --netbpf PATH [--runs N]
let args = Array(CommandLine.arguments.dropFirst())
guard let which = args.first else {
    FileHandle.standardError.write(Data("usage: netbpf-bench map-dump|ringbuf|prog-list|compile|attach|ratelimit|http|tunnel --programs DIR --peers DIR --netbpf PATH [--runs N]\n".utf8))
    exit(2)
}
func option(_ name: String, _ fallback: String, in args: [String] = args) -> String {
    guard let i = args.firstIndex(of: name), i + 1 < args.count else { return fallback }
    return args[i + 1]
}
let programs = option("--programs", ".build-programs")
let peers = option("--peers", ".build-peers")
let netbpf = option("--netbpf", ".build/release/netbpf")
let runs = Int(option("--runs", "5")) ?? 5

do {
    let lines: [String]
    switch which {
    case "map-dump": lines = try MapDumpBench(object: programs + "/hash_1m.bpf.o", peersDir: peers, netbpf: netbpf, runs: runs).run()
    case "ringbuf": lines = try RingBufferBench(object: programs + "/ringbuf_tp.bpf.o", peersDir: peers, runs: runs).run()
    case "compile": lines = try CompileBench(netbpf: netbpf, repo: FileManager.default.currentDirectoryPath, runs: runs).run()
    case "ratelimit": lines = try RateLimitBench(repo: FileManager.default.currentDirectoryPath, runs: runs).run()
    case "tunnel": lines = try TunnelBench(repo: FileManager.default.currentDirectoryPath, peersDir: peers, runs: runs).run()
    case "prog-list": lines = try ProgListBench(netbpf: netbpf, programsDir: programs, runs: runs).run()
    case "attach": lines = try AttachBench(netbpf: netbpf, repo: FileManager.default.currentDirectoryPath, peersDir: peers, runs: runs).run()
    case "http":
        var bench = HTTPBench(programsDir: programs, peersDir: peers, netbpf: netbpf, runs: runs)
        bench.iperfSeconds = Int(option("--seconds", "5")) ?? 5
        lines = try bench.run()
    default: FileHandle.standardError.write(Data("unknown benchmark \(which)\n".utf8)); exit(2)
    }
    print(lines.joined(separator: "\n"))
} catch {
    FileHandle.standardError.write(Data("netbpf-bench: \(error)\n".utf8))
    exit(1)
}
