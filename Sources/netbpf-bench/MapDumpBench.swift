import Foundation
import Glibc
import NetBPF

/// Dumping a 1,000,000-entry u32 -> u64 hash: netbpf (batch and per-key) against a plain C
/// libbpf batch loop, bpftool and BCC's Python table, all on the same pinned map in one run.
struct MapDumpBench {
    let object: String
    let peersDir: String
    let netbpf: String
    let runs: Int
    let entries = 1_000_000

    func run() throws -> [String] {
        let obj = try BPFObject.load(path: object)
        let map = try HashMap<UInt32, UInt64>(obj.map(named: "big"))
        try map.update((0..<UInt32(entries)).map { ($0, UInt64($0)) })
        let dir = "/sys/fs/bpf/netbpf-bench-\(getpid())"
        let pin = dir + "/big"
        try map.map.pin(at: pin)
        defer { unlink(pin); rmdir(dir) }
        let expectedSum = UInt64(entries - 1) * UInt64(entries) / 2

        func netbpfDump(_ method: DumpMethod, batch: Int = 4096) throws -> Double {
            var sum: UInt64 = 0, count = 0
            let t = try Measure.time {
                try map.map.forEachChunk(batchSize: batch, method: method) { _, values, n in
                    for i in 0..<n { sum &+= values.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self) }
                    count += n
                }
            }
            precondition(count == entries && sum == expectedSum, "netbpf dump saw \(count) entries")
            return t * 1000
        }
        func typedEntries() throws -> Double {
            var n = 0
            let t = try Measure.time { n = try map.entries().count }
            precondition(n == entries)
            return t * 1000
        }
        func peer(_ args: [String]) -> Double {
            let r = Measure.run(args)
            let f = Measure.fields(r.stdout)
            guard r.status == 0, f["entries"] == "\(entries)", let ms = f["ms"].flatMap(Double.init) else {
                FileHandle.standardError.write(Data("peer \(args[0]) failed: \(r.stdout)\n".utf8)); return .nan
            }
            return ms
        }
        func processWall(_ args: [String]) -> (Double, Int) {
            let r = Measure.run(args, captureOutput: false)
            return (r.status == 0 ? r.wall * 1000 : .nan, r.maxRSSKiB)
        }

        var rows: [(String, [Double], Int?)] = []
        func add(_ name: String, _ f: () throws -> Double) rethrows {
            var xs: [Double] = []
            for _ in 0..<runs { xs.append(try f()) }
            rows.append((name, xs, nil))
        }
        try add("netbpf library, batch (BPF_MAP_LOOKUP_BATCH, 4096/call)") { try netbpfDump(.batch) }
        try add("netbpf library, typed `HashMap.entries()` (batch, builds a Swift array)") { try typedEntries() }
        try add("netbpf library, per-key (get_next_key + lookup)") { try netbpfDump(.perKey) }
        add("C libbpf batch loop (benchmarks/peers/libbpf_batch_dump.c)") { peer([peersDir + "/libbpf_batch_dump", pin]) }
        add("C libbpf per-key loop") { peer([peersDir + "/libbpf_batch_dump", pin, "--per-key"]) }
        for size in [256, 65536, entries] {
            try add("netbpf library, batch of \(size) per call") { try netbpfDump(.batch, batch: size) }
        }
        var rss: [String: Int] = [:]
        add("`netbpf map dump PIN --json` (process, output to /dev/null)") {
            let (ms, kib) = processWall([netbpf, "map", "dump", pin, "--json"]); rss["netbpf"] = kib; return ms
        }
        add("`bpftool map dump pinned PIN` (process, output to /dev/null)") {
            let (ms, kib) = processWall(["bpftool", "map", "dump", "pinned", pin]); rss["bpftool"] = kib; return ms
        }
        add("`bpftool -j map dump pinned PIN` (process, JSON)") { processWall(["bpftool", "-j", "map", "dump", "pinned", pin]).0 }
        add("`netbpf map dump PIN` (process, text)") { processWall([netbpf, "map", "dump", pin]).0 }
        if FileManager.default.fileExists(atPath: "/usr/lib/python3/dist-packages/bcc/__init__.py") {
            let r = Measure.run(["/usr/bin/python3", peersDir + "/bcc_table_items.py", pin, "\(entries)"])
            for line in r.stdout.split(separator: "\n") {
                let f = Measure.fields(String(line))
                if let ms = f["ms"].flatMap(Double.init), let api = f["api"] {
                    rows.append(("BCC 0.26 Python table `\(api)()` (in-process timing)", [ms], nil))
                }
            }
        } else {
            rows.append(("BCC Python table items(): python3-bpfcc not installed", [.nan], nil))
        }

        let batch = Measure.median(rows[0].1)
        var out = ["| dump of 1,000,000 u32->u64 entries | median ms (\(runs) runs) | vs netbpf batch |", "|---|---:|---:|"]
        for (name, xs, _) in rows {
            let m = Measure.median(xs)
            out.append("| \(name) | \(m.isNaN ? "n/a" : fmt(m)) | \(m.isNaN ? "" : fmt(m / batch, 2) + "x") |")
        }
        let perKey = Measure.median(rows[2].1), cBatch = Measure.median(rows[3].1)
        out.append("")
        out.append("- per-key / netbpf batch = **\(fmt(perKey / batch, 1))x** (goal: at least 8x)")
        out.append("- netbpf batch / C libbpf batch = **\(fmt(batch / cBatch, 2))x** (goal: at most 1.5x)")
        out.append("- peak RSS of the dump processes: netbpf \(rss["netbpf"].map { "\($0 / 1024) MB" } ?? "?"), bpftool \(rss["bpftool"].map { "\($0 / 1024) MB" } ?? "?")")
        return out
    }
}
