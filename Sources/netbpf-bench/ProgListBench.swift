import Foundation
import NetBPF

/// `netbpf prog list` against `bpftool prog show`: process wall time and peak RSS.
struct ProgListBench {
    let netbpf: String
    let programsDir: String
    let runs: Int

    /// Keeps 10 copies of count_packets (50 programs, 10 maps) loaded so both tools have work.
    func run() throws -> [String] {
        let loaded = try (0..<10).map { _ in try BPFObject.load(path: programsDir + "/count_packets.bpf.o") }
        return withExtendedLifetime(loaded) { measure() }
    }

    private func measure() -> [String] {
        func sample(_ argv: [String]) -> (Double, Double) {
            var walls: [Double] = [], rss: [Double] = []
            for _ in 0..<runs {
                let r = Measure.run(argv, captureOutput: false)
                walls.append(r.wall * 1000); rss.append(Double(r.maxRSSKiB) / 1024)
            }
            return (Measure.median(walls), Measure.median(rss))
        }
        let programs = Measure.run(["bpftool", "prog", "show"]).stdout.split(separator: "\n").filter { $0.first?.isNumber == true }.count
        let n = sample([netbpf, "prog", "list"]), nj = sample([netbpf, "prog", "list", "--json"])
        let b = sample(["bpftool", "prog", "show"]), bj = sample(["bpftool", "-j", "prog", "show"])
        return [
            "| command (\(programs) programs loaded) | median wall ms (\(runs) runs) | peak RSS MB |",
            "|---|---:|---:|",
            "| `netbpf prog list` | \(fmt(n.0)) | \(fmt(n.1)) |",
            "| `bpftool prog show` | \(fmt(b.0)) | \(fmt(b.1)) |",
            "| `netbpf prog list --json` | \(fmt(nj.0)) | \(fmt(nj.1)) |",
            "| `bpftool -j prog show` | \(fmt(bj.0)) | \(fmt(bj.1)) |",
            "",
            "- netbpf / bpftool: wall **\(fmt(n.0 / b.0, 2))x**, RSS **\(fmt(n.1 / b.1, 2))x**",
        ]
    }
}
