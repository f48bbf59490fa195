import Foundation
import Glibc
import NetBPF
import NetBPFNetlink

/// Processes of a simulation: started inside a host's namespace (posix_spawn from a thread that
/// entered it, so the child inherits the namespace), in a session of their own, with output
/// appended to a log file; found again by pid + start time or by the namespace they live in;
/// stopped with SIGTERM, then SIGKILL.
package enum SimProcesses {
    // glibc <spawn.h> values (GNU extensions the Swift Glibc module may not show).
    static let spawnSetSigDefault: Int16 = 0x04
    static let spawnSetSigMask: Int16 = 0x08
    static let spawnSetSID: Int16 = 0x80

    /// Starts `argv` inside `namespace`, stdin from /dev/null, stdout and stderr appended to
    /// `log`, in a new session (so its process group can be signalled as a whole) with default
    /// signal dispositions and an empty signal mask. Returns the pid and its start time.
    static func spawn(_ argv: [String], environment: [String: String], directory: String?,
                      in namespace: NetworkNamespace, log: String, header: String) throws -> (pid: Int32, startTime: UInt64?) {
        var argv = argv
        if let directory {
            // posix_spawn has no portable chdir action: let a shell change directory, then exec.
            argv = ["/bin/sh", "-c", "cd \"$0\" && exec \"$@\"", directory] + argv
        }
        let logFD = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard logFD >= 0 else { throw SimError.system("open log", subject: log, errno: errno) }
        defer { close(logFD) }
        _ = header.withCString { write(logFD, $0, strlen($0)) }

        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        let envStrings = env.map { "\($0.key)=\($0.value)" }

        let command = argv
        let result: (Int32, Int32) = try namespace.run {
            var actions = posix_spawn_file_actions_t()
            posix_spawn_file_actions_init(&actions)
            defer { posix_spawn_file_actions_destroy(&actions) }
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
            posix_spawn_file_actions_adddup2(&actions, logFD, 1)
            posix_spawn_file_actions_adddup2(&actions, logFD, 2)
            var attr = posix_spawnattr_t()
            posix_spawnattr_init(&attr)
            defer { posix_spawnattr_destroy(&attr) }
            var defaults = sigset_t()
            sigemptyset(&defaults)
            for s in [SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE, SIGCHLD, SIGUSR1, SIGUSR2] { sigaddset(&defaults, s) }
            posix_spawnattr_setsigdefault(&attr, &defaults)
            var empty = sigset_t()
            sigemptyset(&empty)
            posix_spawnattr_setsigmask(&attr, &empty)
            posix_spawnattr_setflags(&attr, spawnSetSID | spawnSetSigDefault | spawnSetSigMask)
            var pid: pid_t = 0
            let cArgs = command.map { strdup($0) } + [nil]
            let cEnv = envStrings.map { strdup($0) } + [nil]
            defer { cArgs.forEach { free($0) }; cEnv.forEach { free($0) } }
            let rc = posix_spawnp(&pid, command[0], &actions, &attr, cArgs, cEnv)
            return (rc, pid)
        }
        guard result.0 == 0 else {
            throw SimError.system("start process", subject: argv.joined(separator: " "), errno: result.0,
                                  hint: result.0 == ENOENT ? "'\(argv[0])' is not in PATH" : nil)
        }
        return (result.1, startTime(of: result.1))
    }

    static func startTime(of pid: Int32) -> UInt64? { ProcessIdentity.startTime(of: pid) }

    /// Whether `pid` is running (not a zombie) and, when given, still the process that started
    /// at `startTime` (not a recycled pid).
    package static func isAlive(_ pid: Int32, startTime: UInt64?) -> Bool {
        ProcessIdentity.isRunning(pid, startTime: startTime)
    }

    /// The (device, inode) identity of a named namespace.
    static func namespaceIdentity(_ name: String) -> (UInt64, UInt64)? {
        var st = Glibc.stat()
        guard stat(NetworkNamespace.runDirectory + "/" + name, &st) == 0 else { return nil }
        return (UInt64(st.st_dev), UInt64(st.st_ino))
    }

    /// Every process (other than this one) whose network namespace is one of `namespaces`
    /// (what `ip netns pids` does).
    package static func processes(inNamespaces namespaces: [String]) -> [Int32] {
        let ids = namespaces.compactMap(namespaceIdentity)
        guard !ids.isEmpty else { return [] }
        let me = getpid()
        var found: [Int32] = []
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(entry), pid != me else { continue }
            var st = Glibc.stat()
            guard stat("/proc/\(entry)/ns/net", &st) == 0 else { continue }
            if ids.contains(where: { $0.0 == UInt64(st.st_dev) && $0.1 == UInt64(st.st_ino) }) { found.append(pid) }
        }
        return found
    }

    /// Stops the journaled processes (their whole process group) and every other process living
    /// in `namespaces`: SIGTERM, up to `grace` seconds, then SIGKILL. Reaps our own children.
    /// Returns the pids still alive afterwards (normally none).
    @discardableResult
    static func terminate(_ entries: [Journal.ProcessEntry], namespaces: [String], grace: Double = 2) -> [Int32] {
        var groups: [Int32] = []
        var targets: [(pid: Int32, start: UInt64?)] = []
        for e in entries {
            guard let pid = e.pid, pid > 1, isAlive(pid, startTime: e.startTime) else { continue }
            groups.append(pid)
            targets.append((pid, e.startTime))
        }
        func sweep() {
            for pid in processes(inNamespaces: namespaces) where !targets.contains(where: { $0.pid == pid }) {
                targets.append((pid, startTime(of: pid)))
            }
        }
        sweep()
        for round in 0..<3 {
            let signal = round == 0 ? SIGTERM : SIGKILL
            let alive = targets.filter { isAlive($0.pid, startTime: $0.start) }
            if alive.isEmpty { break }
            for g in groups where isAlive(g, startTime: nil) { kill(-g, signal) }
            for t in alive { kill(t.pid, signal) }
            let deadline = Date().addingTimeInterval(round == 0 ? grace : 2)
            while Date() < deadline {
                for t in targets { var status: Int32 = 0; _ = waitpid(t.pid, &status, WNOHANG) }
                if !targets.contains(where: { isAlive($0.pid, startTime: $0.start) }) { break }
                usleep(10_000)
            }
            sweep() // anything forked meanwhile
        }
        for t in targets { var status: Int32 = 0; _ = waitpid(t.pid, &status, WNOHANG) }
        return targets.filter { isAlive($0.pid, startTime: $0.start) }.map(\.pid)
    }
}
