import Foundation
import Glibc
import Testing
import NetBPFNetlink
import NetBPFSim
import NetBPFTestSupport

/// Scaffolding for the simulation tests: the `netbpf` binary run as a user would (synchronously
/// or in the background, to be signalled), simulations that are always brought down, and the
/// check that nothing of a simulation is left.
enum SimLab {
    static let root = TestPrograms.repositoryRoot.path

    static func topology(_ name: String) -> String { root + "/topologies/\(name).yaml" }

    /// A simulation name unique to this test process ("t12345-pair"), at most 24 bytes.
    static func name(_ short: String) -> String { "t\(getpid() % 100_000)-\(short)" }

    /// A process started with posix_spawn, output in temporary files (so it can be killed at any
    /// time without pipes filling up), reaped by `wait`.
    final class Spawned {
        let pid: pid_t
        let outPath: String
        let errPath: String
        private var status: Int32?

        init(_ argv: [String], environment: [String: String] = [:]) throws {
            let base = "/tmp/netbpf-simtest-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            outPath = base + ".out"
            errPath = base + ".err"
            var actions = posix_spawn_file_actions_t()
            posix_spawn_file_actions_init(&actions)
            defer { posix_spawn_file_actions_destroy(&actions) }
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
            posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
            posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
            // Default signal handling and an empty mask, whatever the runner set (a runner under
            // nohup would otherwise pass an ignored SIGHUP on).
            var attr = posix_spawnattr_t()
            posix_spawnattr_init(&attr)
            defer { posix_spawnattr_destroy(&attr) }
            var none = sigset_t(), all = sigset_t()
            sigemptyset(&none)
            sigfillset(&all)
            posix_spawnattr_setsigmask(&attr, &none)
            posix_spawnattr_setsigdefault(&attr, &all)
            posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
            var env = ProcessInfo.processInfo.environment
            for (k, v) in environment { env[k] = v }
            let cArgs = argv.map { strdup($0) } + [nil]
            let cEnv = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
            defer { cArgs.forEach { free($0) }; cEnv.forEach { free($0) } }
            var p: pid_t = 0
            let rc = posix_spawnp(&p, argv[0], &actions, &attr, cArgs, cEnv)
            guard rc == 0 else { throw SimError(.system, operation: "posix_spawn", subject: argv[0], message: "errno \(rc)") }
            pid = p
        }

        deinit {
            if status == nil { kill(pid, SIGKILL); _ = wait(timeout: 5) }
            unlink(outPath)
            unlink(errPath)
        }

        /// Exit status, or 128 + signal; nil if still running after `timeout` seconds.
        func wait(timeout: Double = 120) -> Int32? {
            if let status { return status }
            let deadline = Date().addingTimeInterval(timeout)
            repeat {
                var s: Int32 = 0
                let r = waitpid(pid, &s, WNOHANG)
                if r == pid {
                    status = (s & 0x7f) == 0 ? (s >> 8) & 0xff : 128 + (s & 0x7f)
                    return status
                }
                usleep(5_000)
            } while Date() < deadline
            return nil
        }

        func signal(_ s: Int32) { kill(pid, s) }

        var stdout: String { (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "" }
        var stderr: String { (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "" }

        /// Waits until stderr contains `text` (e.g. tcpdump's "listening on").
        func waitForStderr(_ text: String, timeout: Double = 5) -> Bool {
            let deadline = Date().addingTimeInterval(timeout)
            while Date() < deadline {
                if stderr.contains(text) { return true }
                usleep(10_000)
            }
            return false
        }
    }

    /// Runs `netbpf ARGS` to completion.
    @discardableResult
    static func netbpf(_ args: [String], environment: [String: String] = [:]) throws -> (status: Int32, stdout: String, stderr: String) {
        let p = try Spawned([CLI.binary] + args, environment: environment)
        let status = p.wait() ?? -1
        return (status, p.stdout, p.stderr)
    }

    /// Runs a command inside a namespace with `ip netns exec` (which must work on simulation namespaces).
    @discardableResult
    static func inNamespace(_ ns: String, _ args: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let p = try Spawned(["/usr/sbin/ip", "netns", "exec", ns] + args)
        let status = p.wait() ?? -1
        return (status, p.stdout, p.stderr)
    }

    /// `ping` from a namespace; true when every reply came back.
    static func ping(_ ns: String, _ address: String, count: Int = 2) throws -> Bool {
        let six = address.contains(":") ? ["-6"] : []
        return try inNamespace(ns, ["ping"] + six + ["-n", "-q", "-c", "\(count)", "-i", "0.2", "-W", "2", address]).status == 0
    }

    /// Everything of simulation `name` still in the kernel or on disk: namespaces, root-namespace
    /// interfaces with its prefix, pins, state, and the given processes. Empty when it is gone.
    static func leftovers(_ name: String, pids: [Int32] = []) -> [String] {
        var out: [String] = []
        for ns in (try? NetworkNamespace.list()) ?? [] where ns.hasPrefix("nb-\(name)-") { out.append("namespace \(ns)") }
        let prefix = Topology.rootInterfacePrefix(simulation: name)
        if let links = try? NetlinkSocket().interfaces() {
            for l in links where l.name.hasPrefix(prefix) { out.append("root interface \(l.name)") }
        }
        if access("/sys/fs/bpf/netbpf/sim/\(name)", F_OK) == 0 { out.append("pin directory /sys/fs/bpf/netbpf/sim/\(name)") }
        if access(StateDirectory.root + "/" + name, F_OK) == 0 { out.append("state directory") }
        if access(StateDirectory(name: name).lockPath, F_OK) == 0 { out.append("lock file") }
        for pid in pids where SimProcesses.isAlive(pid, startTime: nil) { out.append("process \(pid)") }
        return out
    }

    /// Brings `file` up as simulation `name` with the CLI, runs `body` with its journal, and always
    /// brings it down again and checks that nothing is left — also when `body` throws or an
    /// expectation fails.
    static func withSimulation<T>(_ file: String, name: String, _ body: (Journal) throws -> T) throws -> T {
        _ = try? netbpf(["sim", "down", name]) // the remains of an earlier, killed run
        var pids: [Int32] = []
        defer {
            let down = try? netbpf(["sim", "down", name])
            #expect(down?.status == 0, "sim down \(name): \(down?.stderr ?? "did not run")")
            let left = leftovers(name, pids: pids)
            #expect(left.isEmpty, "simulation \(name) left behind: \(left)")
        }
        let up = try netbpf(["sim", "up", file, "--name", name])
        try #require(up.status == 0, "sim up \(file) failed: \(up.stderr)")
        let journal = try #require(try Simulation.journal(name))
        pids = journal.processes.compactMap(\.pid)
        return try body(journal)
    }

    /// Starts tcpdump in `ns` on `interface` for `count` packets matching `filter`, waits until it
    /// listens, runs `traffic`, and returns what tcpdump printed (-e: with link-level headers).
    static func capture(_ ns: String, _ interface: String, _ filter: [String], count: Int = 2, traffic: () throws -> Void) throws -> String {
        let dump = try Spawned(["/usr/sbin/ip", "netns", "exec", ns, "tcpdump", "-enn", "-l", "-i", interface, "-c", "\(count)"] + filter)
        guard dump.waitForStderr("listening on") else {
            dump.signal(SIGKILL)
            return "tcpdump did not start: " + dump.stderr
        }
        try traffic()
        if dump.wait(timeout: 5) == nil { dump.signal(SIGINT); _ = dump.wait(timeout: 2) }
        return dump.stdout
    }

    /// A temporary directory for topology files, removed afterwards.
    static func withTemporaryDirectory<T>(_ body: (String) throws -> T) throws -> T {
        let dir = "/tmp/netbpf-simtest-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        return try body(dir)
    }
}
