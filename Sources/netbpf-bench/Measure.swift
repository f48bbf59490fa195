import Foundation
import Glibc

/// Timing and process helpers for the benchmarks.
enum Measure {
    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// Seconds `body` took.
    static func time(_ body: () throws -> Void) rethrows -> Double {
        let t0 = now()
        try body()
        return now() - t0
    }

    static func median(_ xs: [Double]) -> Double {
        let s = xs.sorted()
        guard !s.isEmpty else { return .nan }
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    struct ProcessRun { var wall: Double; var maxRSSKiB: Int; var status: Int32; var stdout: String }

    /// Runs a command with stdout captured (or discarded), returning wall time and peak RSS (wait4).
    static func run(_ argv: [String], captureOutput: Bool = true) -> ProcessRun {
        var pipeFDs: [Int32] = [0, 0]
        if captureOutput { pipe(&pipeFDs) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if captureOutput {
            posix_spawn_file_actions_adddup2(&actions, pipeFDs[1], 1)
            posix_spawn_file_actions_addclose(&actions, pipeFDs[0])
        } else {
            posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        }
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let cargs = argv.map { strdup($0) } + [nil]
        defer { cargs.forEach { free($0) } }
        var pid: pid_t = 0
        let t0 = now()
        let rc = posix_spawnp(&pid, argv[0], &actions, nil, cargs, environ)
        guard rc == 0 else { return ProcessRun(wall: 0, maxRSSKiB: 0, status: -1, stdout: "spawn failed: \(rc)") }
        var output = [UInt8]()
        if captureOutput {
            close(pipeFDs[1])
            var buf = [UInt8](repeating: 0, count: 1 << 16)
            while true {
                let n = read(pipeFDs[0], &buf, buf.count)
                if n <= 0 { break }
                output.append(contentsOf: buf[0..<n])
            }
            close(pipeFDs[0])
        }
        var status: Int32 = 0
        var usage = rusage()
        wait4(pid, &status, 0, &usage)
        let wall = now() - t0
        return ProcessRun(wall: wall, maxRSSKiB: usage.ru_maxrss, status: (status >> 8) & 0xff,
                          stdout: String(decoding: output, as: UTF8.self))
    }

    /// "key=value" pairs from a peer's output line.
    static func fields(_ line: String) -> [String: String] {
        var out: [String: String] = [:]
        for part in line.split(whereSeparator: { $0 == " " || $0 == "\n" }) {
            let kv = part.split(separator: "=", maxSplits: 1)
            if kv.count == 2 { out[String(kv[0])] = String(kv[1]) }
        }
        return out
    }
}

func fmt(_ x: Double, _ digits: Int = 1) -> String { String(format: "%.\(digits)f", x) }
