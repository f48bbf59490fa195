import Foundation
import Glibc
import NetBPFTestSupport
import Testing

/// The kernel matrix: one boot per test process of Debian 12's 6.1 kernel under qemu (TCG), where
/// scripts/kernel-matrix/guest-cases.sh runs the host's netbpf binary through a chroot and writes
/// one JSON result per case. `KernelMatrixTests` asserts each case's counts.
///
/// The boot happens on first use (a `static let`, initialized once under swift_once), so a
/// filtered `swift test` that runs no matrix case boots nothing. When the matrix cannot run
/// (qemu missing, the kernel package not fetchable, the guest not booting in time), every case
/// is cancelled (reported as skipped) with that one reason.
enum KernelMatrix {
    /// One case's result as the guest wrote it.
    struct CaseResult: Decodable, Sendable {
        var name: String
        var status: String
        var counts: [String: Int]
        var facts: [String: String]
        var output: String
    }

    enum Outcome: Sendable {
        case ran([String: CaseResult], wallSeconds: Double)
        case skipped(String)
    }

    static let repository = TestPrograms.repositoryRoot.path
    static let outcome: Outcome = boot()

    /// The result of case `name`; cancels the test (a skip with the reason) when the matrix
    /// could not run, and fails it when the guest ran but wrote nothing for the case.
    static func result(_ name: String) throws -> CaseResult {
        switch outcome {
        case .skipped(let reason):
            try Test.cancel(Comment(rawValue: "kernel matrix: " + reason))
        case .ran(let cases, _):
            guard let c = cases[name] else {
                let cut = FileManager.default.fileExists(atPath: resultsDirectory + "/guest-timeout") ? " (the guest was stopped at its time limit)" : ""
                throw MatrixError(description: "the guest wrote no result for case '\(name)'\(cut); see \(resultsDirectory)/logs")
            }
            return c
        }
    }

    struct MatrixError: Error, CustomStringConvertible { var description: String }

    static let resultsDirectory = ProcessInfo.processInfo.environment["NETBPF_MATRIX_RESULTS"]
        ?? "/tmp/netbpf-kernel-matrix-\(getpid())"

    /// Runs scripts/kernel-matrix/boot.sh; it installs qemu and busybox-static when missing,
    /// fetches and caches the kernel, and boots once under `timeout`. A second, outer deadline
    /// here (the guest's limit plus fetch time) ends the script's session and qemu if it hangs.
    static func boot() -> Outcome {
        guard geteuid() == 0 else { return .skipped("requires root (qemu's 9p share of /, apt-get)") }
        let script = repository + "/scripts/kernel-matrix/boot.sh"
        let log = resultsDirectory + ".log"
        guard let pid = spawn(["/bin/bash", script, resultsDirectory], log: log) else { return .skipped("cannot start \(script)") }
        let limit = Double(ProcessInfo.processInfo.environment["NETBPF_MATRIX_TIMEOUT"] ?? "600") ?? 600
        let deadline = Date().addingTimeInterval(limit + 240)
        var status: Int32 = 0
        var done = false
        while !done && Date() < deadline {
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid || (r < 0 && errno != EINTR) { done = true } else { usleep(200_000) }
        }
        if !done {
            // The script's session (it leads it), then qemu itself (`timeout` gave it a group of its own).
            kill(-pid, SIGTERM)
            sleep(5)
            kill(-pid, SIGKILL)
            if let text = try? String(contentsOfFile: resultsDirectory + "/qemu.pid", encoding: .utf8),
               let q = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)),
               ((try? String(contentsOfFile: "/proc/\(q)/cmdline", encoding: .utf8)) ?? "").contains("qemu") {
                kill(q, SIGKILL)
            }
            _ = waitpid(pid, &status, 0)
            return .skipped("boot.sh did not finish within \(Int(limit + 240)) s (log: \(log))")
        }
        let exitCode = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        let skip = (try? String(contentsOfFile: resultsDirectory + "/skip", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines)
        if let skip, !skip.isEmpty { return .skipped(skip) }
        guard exitCode == 0 else {
            let tail = ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").last.map(String.init) ?? ""
            return .skipped("boot.sh exited \(exitCode): \(tail)")
        }
        var cases: [String: CaseResult] = [:]
        let dir = resultsDirectory + "/cases"
        for file in (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [] where file.hasSuffix(".json") {
            guard let data = FileManager.default.contents(atPath: dir + "/" + file),
                  let c = try? JSONDecoder().decode(CaseResult.self, from: data) else { continue }
            cases[c.name] = c
        }
        let wall = (try? String(contentsOfFile: resultsDirectory + "/wall-seconds", encoding: .utf8))
            .flatMap { Double($0.trimmingCharacters(in: .whitespacesAndNewlines)) } ?? 0
        return .ran(cases, wallSeconds: wall)
    }

    /// posix_spawn with an empty signal mask and default dispositions (the test runner's threads
    /// block SIGTERM and SIGINT, and Foundation's Process passes that mask on, so the script's
    /// trap that reaps qemu would never run) in a new session (POSIX_SPAWN_SETSID), so the whole
    /// group can be signalled. stdout and stderr go to `log`.
    static func spawn(_ argv: [String], log: String) -> pid_t? {
        var attr = posix_spawnattr_t()
        var actions = posix_spawn_file_actions_t()
        posix_spawnattr_init(&attr)
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawnattr_destroy(&attr); posix_spawn_file_actions_destroy(&actions) }
        var empty = sigset_t(), all = sigset_t()
        sigemptyset(&empty)
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attr, &empty)
        posix_spawnattr_setsigdefault(&attr, &all)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | 0x80)) // 0x80: POSIX_SPAWN_SETSID (glibc 2.26, _GNU_SOURCE)
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var cArgs = argv.map { strdup($0) } + [nil]
        defer { cArgs.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, argv[0], &actions, &attr, &cArgs, environ)
        return rc == 0 ? pid : nil
    }
}
