import ArgumentParser
import Foundation
import Glibc
import NetBPF

/// `netbpf map events MAP`: prints each sample a program writes to a pinned perf event array
/// (bpf_perf_event_output, BCC's `events.perf_submit(...)` / `perf_submit_skb(...)`), one line
/// per sample with its CPU and bytes, as BCC's `open_perf_buffer` callback receives them. The
/// consumer is libbpf's perf_buffer (one ring per CPU, Linux 4.4); a sample written while no
/// reader has the CPU's ring open is lost (the program's helper call gets ENOENT), so the
/// "reading" line on stderr says when it is safe to start traffic.
struct MapEventsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events", abstract: "Print the samples BPF programs write to a pinned perf event array.")
    @Argument(help: "Map id or pinned path of a perf_event_array.") var target: String
    @Option(help: "Stop after this many samples.") var count: Int?
    @Option(help: "Stop after this many seconds.") var seconds: Double?
    @OptionGroup var output: OutputOptions

    struct Sample: Encodable { let cpu: Int; let size: Int; let data: String }

    func run() throws {
        try reportingErrors(verbose: output.verbose) {
            if let count, count <= 0 { throw ValidationError("--count must be positive") }
            try XDPExample.checkSeconds(seconds)
            let map = try openMap(target)
            let stop = StopFlag.installed()
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            var seen = 0
            let limit = count
            let json = output.json
            let buffer = try PerfBuffer(map: map) { cpu, data in
                guard limit.map({ seen < $0 }) ?? true else { return }
                seen += 1
                let bytes = Array(data)
                let hex = bytes.map { String(format: "%02x", $0) }.joined()
                if json, let line = try? encoder.encode(Sample(cpu: cpu, size: bytes.count, data: hex)) {
                    StandardStreams.out(bytes: Array(line) + [0x0a])
                } else {
                    print("cpu \(cpu) size \(bytes.count): \(hex)")
                }
                fflush(StandardStreams.cOut)
            }
            StandardStreams.err("reading samples from \(target); Ctrl-C to stop\n")
            let deadline = seconds.map { Date().addingTimeInterval($0) }
            while !stop.isSet, count.map({ seen < $0 }) ?? true, deadline.map({ Date() < $0 }) ?? true {
                try buffer.poll(timeoutMilliseconds: 100)
            }
            if buffer.lostCount > 0 { StandardStreams.err("\(buffer.lostCount) samples lost (a CPU's ring was full)\n") }
        }
    }
}
