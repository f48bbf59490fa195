import Foundation
import Glibc
import Testing
import NetBPF
import NetBPFAttach // declares BPFProgram: AttachableProgram (programs are attached directly)
import NetBPFNetlink
import NetBPFTestSupport

/// Test scaffolding for the netlink kernel tests: temporary namespaces that are always deleted,
/// commands run inside them, and the IPv6 switch that keeps counted links quiet.
enum NetlinkLab {
    /// Creates `count` namespaces (nbtN-PID-RANDOM), runs `body`, then deletes them whether it
    /// returned or threw, and checks they are gone and no descriptor leaked.
    static func withNamespaces<T>(_ count: Int, _ body: ([String]) throws -> T) throws -> T {
        try expectNoFDLeak {
            var names: [String] = []
            defer {
                for n in names {
                    do { try NetworkNamespace.delete(n) } catch { Issue.record("could not delete namespace \(n): \(error)") }
                    #expect(!NetworkNamespace.exists(n), "namespace \(n) left behind")
                }
            }
            for i in 0..<count {
                let name = "nbt\(i)-\(getpid())-\(UInt32.random(in: 0...0xFFFF))"
                try NetworkNamespace.create(name)
                names.append(name)
            }
            return try body(names)
        }
    }

    /// Runs `body` and fails if it leaves descriptors open, naming what they point at.
    /// (Commands run through `spawn`, not Foundation's Process, whose pipes, socket pair and
    /// run-loop descriptors are opened and closed on other threads at times of their own.)
    static func expectNoFDLeak<T>(_ body: () throws -> T) throws -> T {
        let before = openDescriptors()
        let result = try body()
        // Other threads (the test runner's) open and close descriptors of their own: only those
        // still open after a short while count.
        var extra = openDescriptors().subtracting(before)
        for _ in 0..<5 where !extra.isEmpty {
            usleep(20_000)
            extra = extra.intersection(openDescriptors())
        }
        let leaked = extra
            .map { fd in (fd, (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(fd)")) ?? "?") }
        if !leaked.isEmpty {
            let tables = ["netlink", "unix"].map { ($0, (try? String(contentsOfFile: "/proc/self/net/\($0)", encoding: .utf8)) ?? "") }
            let targets = leaked.sorted { $0.0 < $1.0 }.map { fd, target -> String in
                var kind = ""
                if target.hasPrefix("socket:["), let inode = target.dropFirst(8).split(separator: "]").first {
                    kind = tables.first { $0.1.contains(" \(inode)") }.map { " (\($0.0))" } ?? ""
                }
                return "\(fd)->\(target)\(kind)"
            }
            throw NetlinkError(.system, operation: "fd leak check", message: "leaked: " + targets.joined(separator: ", "))
        }
        return result
    }

    static func openDescriptors() -> Set<Int> {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return Set(names.compactMap { Int($0) })
    }

    /// Runs `ip netns exec NS ARGS...`.
    @discardableResult
    static func exec(_ namespace: String, _ args: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        try spawn(["/usr/sbin/ip", "netns", "exec", namespace] + args)
    }

    /// Runs a command to completion with posix_spawn, reading its output and reaping it before
    /// returning: every descriptor it used is closed on return, so leak checks stay exact
    /// (Foundation's Process closes its pipes later, on other threads). `environment` adds to
    /// (or overrides) this process's environment.
    static func spawn(_ argv: [String], environment: [String: String] = [:]) throws -> (status: Int32, stdout: String, stderr: String) {
        var outPipe: [Int32] = [0, 0], errPipe: [Int32] = [0, 0]
        guard pipe(&outPipe) == 0 else { throw NetlinkError.system("pipe", errno: errno) }
        guard pipe(&errPipe) == 0 else {
            let e = errno
            close(outPipe[0]); close(outPipe[1])
            throw NetlinkError.system("pipe", errno: e)
        }
        for fd in outPipe + errPipe { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
        var pid: pid_t = 0
        let cArgs = argv.map { strdup($0) } + [nil]
        defer { cArgs.forEach { free($0) } }
        var env = ProcessInfo.processInfo.environment
        env.merge(environment) { $1 }
        let cEnv = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { cEnv.forEach { free($0) } }
        let rc = posix_spawn(&pid, argv[0], &actions, nil, cArgs, cEnv)
        close(outPipe[1]); close(errPipe[1])
        defer { close(outPipe[0]); close(errPipe[0]) }
        guard rc == 0 else { throw NetlinkError.system("posix_spawn", subject: argv[0], errno: rc) }
        var out: [UInt8] = [], err: [UInt8] = []
        var open = [outPipe[0], errPipe[0]]
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !open.isEmpty {
            var fds = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            if poll(&fds, nfds_t(fds.count), -1) < 0 { if errno == EINTR { continue }; break }
            for p in fds where p.revents != 0 {
                let n = read(p.fd, &buffer, buffer.count)
                if n > 0 {
                    if p.fd == outPipe[0] { out += buffer[0..<n] } else { err += buffer[0..<n] }
                } else if n == 0 || errno != EINTR {
                    open.removeAll { $0 == p.fd }
                }
            }
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let exit = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return (exit, String(decoding: out, as: UTF8.self), String(decoding: err, as: UTF8.self))
    }

    /// `ping -c COUNT` from inside `namespace`; true when every reply came back.
    static func ping(from namespace: String, _ address: String, count: Int = 3) throws -> Bool {
        let r = try exec(namespace, ["ping", "-n", "-q", "-c", "\(count)", "-i", "0.2", "-W", "1", address])
        return r.status == 0
    }

    /// Turns IPv6 off in a namespace so links carry no router solicitations, MLD or DAD:
    /// tests that count packets see only what they send.
    static func disableIPv6(in namespace: String) throws {
        try withNamespace(namespace) {
            for path in ["/proc/sys/net/ipv6/conf/all/disable_ipv6", "/proc/sys/net/ipv6/conf/default/disable_ipv6"] {
                let fd = open(path, O_WRONLY | O_CLOEXEC)
                guard fd >= 0 else { throw NetlinkError.system("open", subject: path, errno: errno) }
                defer { close(fd) }
                _ = write(fd, "1", 1)
            }
        }
    }

    /// Two namespaces joined by a veth pair "a" (in ns[0], 10.99.0.1/24) <-> "b" (in ns[1],
    /// 10.99.0.2/24), both up, IPv6 off, with static neighbour entries so no ARP crosses the link.
    static func withVethPair<T>(_ body: (_ ns: [String], _ left: NetlinkSocket, _ right: NetlinkSocket) throws -> T) throws -> T {
        try withNamespaces(2) { ns in
            for n in ns { try disableIPv6(in: n) }
            let left = try NetlinkSocket(namespace: ns[0])
            let right = try NetlinkSocket(namespace: ns[1])
            try left.createVeth("a", peer: "b", peerNamespace: try NetworkNamespace.open(ns[1]))
            try left.addAddress(IPPrefix("10.99.0.1/24")!, to: "a")
            try right.addAddress(IPPrefix("10.99.0.2/24")!, to: "b")
            try left.setLinkUp("a")
            try right.setLinkUp("b")
            let macA = try left.interface("a").macAddress!
            let macB = try right.interface("b").macAddress!
            try left.addNeighbor(IPAddress("10.99.0.2")!, mac: macB, on: "a")
            try right.addNeighbor(IPAddress("10.99.0.1")!, mac: macA, on: "b")
            return try body(ns, left, right)
        }
    }
}
