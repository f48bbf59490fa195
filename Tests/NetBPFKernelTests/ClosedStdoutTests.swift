import Foundation
import Glibc
import Testing
import NetBPF
import NetBPFAttach
import NetBPFNetlink
import NetBPFTestSupport

/// Long-running commands whose stdout can no longer be written (a pipe whose reader exited:
/// EPIPE, since main.swift ignores SIGPIPE; /dev/full: ENOSPC) stop, detach what they attached,
/// and exit 1 with one line on stderr instead of running on unseen or exiting without cleanup.
@Suite(.serialized, .enabled(if: TestEnvironment.isRoot, "requires root: namespaces, tc, XDP"))
struct ClosedStdoutTests {
    enum Sink: String, CaseIterable { case closedPipe = "closed pipe", devFull = "/dev/full" }

    /// glibc's pipe2(2): Swift's Glibc module leaves out the _GNU_SOURCE declarations.
    static let pipe2: @convention(c) (UnsafeMutablePointer<Int32>, Int32) -> Int32 = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "pipe2") else { fatalError("glibc has no pipe2") }
        return unsafeBitCast(symbol, to: (@convention(c) (UnsafeMutablePointer<Int32>, Int32) -> Int32).self)
    }()

    /// Runs netbpf with stdout on `sink` and stderr in a file, waits up to `timeout` seconds.
    static func run(_ args: [String], stdout sink: Sink, environment: [String: String], timeout: Double = 20) throws -> (status: Int32, stderr: String, timedOut: Bool) {
        let errPath = "/tmp/netbpf-closed-stdout-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).err"
        defer { unlink(errPath) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        var fds: [Int32] = [-1, -1]
        switch sink {
        case .devFull:
            posix_spawn_file_actions_addopen(&actions, 1, "/dev/full", O_WRONLY, 0)
        case .closedPipe:
            // O_CLOEXEC: children the test runner spawns meanwhile (other suites, the exec
            // trigger below) inherit neither end; the dup2 below gives this child fd 1 alone.
            guard Self.pipe2(&fds, O_CLOEXEC) == 0 else { throw BPFError.system("pipe2", errno: errno) }
            close(fds[0]) // the reader is gone before the command writes its first line
            posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
        }
        defer { if fds[1] >= 0 { close(fds[1]) } }
        var env = ProcessInfo.processInfo.environment
        env.merge(environment) { $1 }
        let argv = [CLI.binary] + args
        let cArgs = argv.map { strdup($0) } + [nil]
        let cEnv = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { cArgs.forEach { free($0) }; cEnv.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, CLI.binary, &actions, nil, cArgs, cEnv)
        guard rc == 0 else { throw BPFError.system("posix_spawn", subject: CLI.binary, errno: rc) }
        if fds[1] >= 0 { close(fds[1]); fds[1] = -1 }
        let deadline = Date().addingTimeInterval(timeout)
        var status: Int32 = 0
        var timedOut = false
        while waitpid(pid, &status, WNOHANG) == 0 {
            if Date() > deadline {
                timedOut = true
                kill(pid, SIGTERM)
                waitpid(pid, &status, 0)
                break
            }
            usleep(20_000)
        }
        let exit = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return (exit, (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "", timedOut)
    }

    static func expectOneLine(_ r: (status: Int32, stderr: String, timedOut: Bool), _ command: String, _ sink: Sink, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(!r.timedOut, "\(command) kept running with stdout on a \(sink.rawValue)", sourceLocation: sourceLocation)
        #expect(r.status == 1, "\(command) exit status \(r.status): \(r.stderr)", sourceLocation: sourceLocation)
        let lines = r.stderr.split(separator: "\n")
        #expect(lines.count == 1, "stderr is not one line: \(r.stderr)", sourceLocation: sourceLocation)
        let errnoName = sink == .devFull ? "ENOSPC" : "EPIPE"
        #expect(r.stderr.hasPrefix("netbpf: \(command): writing to stdout failed ("), "\(r.stderr)", sourceLocation: sourceLocation)
        #expect(r.stderr.contains("(\(errnoName))); stopping and removing what it attached"), "\(r.stderr)", sourceLocation: sourceLocation)
    }

    /// Short commands too: JSON on a full stdout, or an object written to a full device, is one
    /// line naming ENOSPC and exit 1, not a silent exit 0 or an error without its errno.
    @Test func fullDeviceErrorsNameTheErrno() throws {
        let json = try Self.run(["features", "--json"], stdout: .devFull, environment: [:])
        #expect(json.status == 1, "\(json.stderr)")
        #expect(json.stderr == "netbpf: writing to stdout failed: no space left on device (ENOSPC)\n", "\(json.stderr)")
        let object = try Self.run(["compile", TestPrograms.repositoryRoot.path + "/programs/count_packets.bpf.c", "-o", "/dev/full"],
                                  stdout: .devFull, environment: [:])
        #expect(object.status == 1, "\(object.stderr)")
        #expect(object.stderr == "netbpf: write '/dev/full': cannot write the output: no space left on device (ENOSPC)\n", "\(object.stderr)")
    }

    @Test(arguments: Sink.allCases)
    func rateLimitRunDetachesAndFails(_ sink: Sink) throws {
        try AttachLab.with { lab in
            let config = lab.stateDirectory + "/rl.yaml"
            try "interface: b\nnetns: \(lab.server)\nlimits:\n  - {address: 10.99.0.1, rate: 1mbit}\n".write(toFile: config, atomically: true, encoding: .utf8)
            let r = try Self.run(["ratelimit", "run", "--config", config, "--interval", "0.2", "--seconds", "15"], stdout: sink,
                                 environment: ["NETBPF_STATE_DIR": lab.stateDirectory])
            Self.expectOneLine(r, "ratelimit run", sink)
            try lab.expectNothingLeft("ratelimit run with stdout on a \(sink.rawValue)")
        }
    }

    @Test(arguments: Sink.allCases)
    func xdpDropCountDetachesAndFails(_ sink: Sink) throws {
        try AttachLab.with { lab in
            let r = try Self.run(["xdp-drop-count", "b", "--netns", lab.server, "--interval", "0.2", "--seconds", "15"], stdout: sink,
                                 environment: ["NETBPF_STATE_DIR": lab.stateDirectory])
            Self.expectOneLine(r, "xdp-drop-count", sink)
            try lab.expectNothingLeft("xdp-drop-count with stdout on a \(sink.rawValue)")
        }
    }

    @Test(arguments: Sink.allCases)
    func tunnelMonitorDetachesAndFails(_ sink: Sink) throws {
        try AttachLab.with { lab in
            let r = try Self.run(["tunnel-monitor", "b", "--netns", lab.server, "--interval", "0.2", "--seconds", "15"], stdout: sink,
                                 environment: ["NETBPF_STATE_DIR": lab.stateDirectory])
            // Its start-up notes ("tunnel monitor attached to ...", "Ctrl-C to stop") go to
            // stderr by design; the error is the one line after them.
            let notes = r.stderr.split(separator: "\n").filter { !$0.hasPrefix("netbpf: ") }.map { $0 + "\n" }.joined()
            #expect(notes.hasPrefix("tunnel monitor attached to b"), "\(r.stderr)")
            Self.expectOneLine((r.status, String(r.stderr.dropFirst(notes.count)), r.timedOut), "tunnel-monitor", sink)
            try lab.expectNothingLeft("tunnel-monitor with stdout on a \(sink.rawValue)")
        }
    }

    /// Tracing tools flush after each batch of events: execsnoop sees this test's own execs of
    /// /bin/true and stops at the first failed flush (its tracepoint links go with the process).
    /// The execs go on until execsnoop has exited, however long a loaded machine takes to start it.
    @Test(arguments: Sink.allCases)
    func traceToolStops(_ sink: Sink) throws {
        let done = TriggerStop()
        let trigger = Thread {
            while !done.isSet { _ = try? TestPrograms.run("/bin/true", []); usleep(50_000) }
            done.acknowledge()
        }
        trigger.start()
        defer { done.set(); done.waitForAcknowledgement() }
        let r = try Self.run(["trace", "execsnoop"], stdout: sink, environment: [:], timeout: 30)
        #expect(!r.timedOut, "execsnoop kept running with stdout on a \(sink.rawValue)")
        #expect(r.status == 1)
        #expect(r.stderr == "netbpf: write events 'stdout': " + (sink == .devFull ? "no space left on device (ENOSPC)" : "broken pipe (EPIPE)") + "\n", "\(r.stderr)")
    }
}

/// A flag one thread sets and another polls, and the poller's reply that it has stopped.
final class TriggerStop: @unchecked Sendable {
    private let condition = NSCondition()
    private var stop = false, stopped = false
    var isSet: Bool { condition.lock(); defer { condition.unlock() }; return stop }
    func set() { condition.lock(); stop = true; condition.unlock() }
    func acknowledge() { condition.lock(); stopped = true; condition.broadcast(); condition.unlock() }
    func waitForAcknowledgement() { condition.lock(); while !stopped { condition.wait() }; condition.unlock() }
}
