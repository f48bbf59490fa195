import Foundation
import Glibc
import NetBPF
import NetBPFCompiler

/// Where the repository is, and the BPF programs of programs/ compiled for tests.
public enum TestPrograms {
    /// The repository root (three levels above this file).
    public static let repositoryRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Path of programs/NAME.bpf.c compiled to .build-programs/NAME.bpf.o through netbpf's own
    /// in-process compiler (its cache in /tmp/netbpf-test-cache keeps repeated runs fast).
    public static func object(_ name: String) throws -> String {
        let source = repositoryRoot.appendingPathComponent("programs/\(name).bpf.c").path
        let dir = repositoryRoot.appendingPathComponent(".build-programs")
        let object = dir.appendingPathComponent("\(name).bpf.o").path
        let compiler = try BPFCompiler(cache: CacheDirectory(path: "/tmp/netbpf-test-cache"))
        var options = CompileOptions()
        options.checkObject = false // maps_only.bpf.c exists to be refused by the loader
        let compiled = try compiler.compile(file: source, options: options)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        if FileManager.default.contents(atPath: object) != Data(compiled.bytes) {
            try Data(compiled.bytes).write(to: URL(fileURLWithPath: object), options: .atomic)
        }
        return object
    }

    /// Runs a command to completion and returns its exit status and output. Uses posix_spawn and
    /// waitpid directly: Foundation's Process can miss the exit of a child whose own children
    /// live on (a `netbpf sim up` that started servers), and its pipes close late on other threads.
    public static func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil,
                           stdin: String? = nil) throws -> (status: Int32, stdout: String, stderr: String) {
        var outPipe: [Int32] = [0, 0], errPipe: [Int32] = [0, 0], inPipe: [Int32] = [0, 0]
        guard pipe(&outPipe) == 0, pipe(&errPipe) == 0, pipe(&inPipe) == 0 else {
            throw BPFError.system("pipe", errno: errno)
        }
        for fd in outPipe + errPipe + inPipe { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) } // only the dup2'd copies reach the child
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, inPipe[0], 0)
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
        // Children start with default signal handling and an empty mask, whatever the runner set.
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var none = sigset_t(), all = sigset_t()
        sigemptyset(&none)
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attr, &none)
        posix_spawnattr_setsigdefault(&attr, &all)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let envStrings = (environment ?? ProcessInfo.processInfo.environment).map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { envStrings.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, executable, &actions, &attr, argv, envStrings)
        close(inPipe[0]); close(outPipe[1]); close(errPipe[1])
        guard rc == 0 else {
            close(inPipe[1]); close(outPipe[0]); close(errPipe[0])
            throw BPFError.system("posix_spawn", subject: executable, errno: rc)
        }
        if let stdin { _ = stdin.withCString { write(inPipe[1], $0, strlen($0)) } }
        close(inPipe[1])
        // Read both pipes until both close, so a chatty child never blocks on a full pipe.
        var out = [UInt8](), err = [UInt8]()
        var fds = [pollfd(fd: outPipe[0], events: Int16(POLLIN), revents: 0), pollfd(fd: errPipe[0], events: Int16(POLLIN), revents: 0)]
        var buffer = [UInt8](repeating: 0, count: 65536)
        while fds.contains(where: { $0.fd >= 0 }) {
            if poll(&fds, nfds_t(fds.count), -1) < 0 { if errno == EINTR { continue }; break }
            for i in fds.indices where fds[i].fd >= 0 && fds[i].revents != 0 {
                let n = read(fds[i].fd, &buffer, buffer.count)
                if n > 0 {
                    if i == 0 { out += buffer[0..<n] } else { err += buffer[0..<n] }
                } else if n == 0 || errno != EINTR {
                    close(fds[i].fd)
                    fds[i].fd = -1
                }
            }
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let exit = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return (exit, String(decoding: out, as: UTF8.self), String(decoding: err, as: UTF8.self))
    }
}
