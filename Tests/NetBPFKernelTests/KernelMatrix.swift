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
    /// here (the guest's limit plus fetch time) kills the script's process group if it hangs.
    static func boot() -> Outcome {
        guard geteuid() == 0 else { return .skipped("requires root (qemu's 9p share of /, apt-get)") }
        let script = repository + "/scripts/kernel-matrix/boot.sh"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/setsid")
        process.arguments = ["/bin/bash", script, resultsDirectory]
        let log = resultsDirectory + ".log"
        FileManager.default.createFile(atPath: log, contents: nil)
        guard let handle = FileHandle(forWritingAtPath: log) else { return .skipped("cannot write \(log)") }
        defer { try? handle.close() }
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        do { try process.run() } catch { return .skipped("cannot start \(script): \(error)") }
        let limit = Double(ProcessInfo.processInfo.environment["NETBPF_MATRIX_TIMEOUT"] ?? "400") ?? 400
        let deadline = Date().addingTimeInterval(limit + 240)
        while process.isRunning && Date() < deadline { usleep(200_000) }
        if process.isRunning {
            kill(-process.processIdentifier, SIGTERM)
            sleep(5)
            kill(-process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            return .skipped("boot.sh did not finish within \(Int(limit + 240)) s (log: \(log))")
        }
        let skip = (try? String(contentsOfFile: resultsDirectory + "/skip", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines)
        if let skip, !skip.isEmpty { return .skipped(skip) }
        guard process.terminationStatus == 0 else {
            let tail = ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").last.map(String.init) ?? ""
            return .skipped("boot.sh exited \(process.terminationStatus): \(tail)")
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
}
