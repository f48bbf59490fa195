import Foundation
import Glibc
import NetBPF

/// Facts about the machine that decide whether a test can run, each with the reason to print.
public enum TestEnvironment {
    /// Kernel tests need root (CAP_BPF, CAP_NET_ADMIN, CAP_SYS_ADMIN, CAP_PERFMON).
    public static let isRoot = geteuid() == 0

    /// A private directory in bpffs for one test, removed (with anything pinned in it) afterwards.
    public static func withBPFFSDirectory<T>(_ body: (String) throws -> T) throws -> T {
        let dir = "/sys/fs/bpf/netbpf-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        guard mkdir(dir, 0o700) == 0 else { throw BPFError.system("mkdir", subject: dir, errno: errno) }
        defer { removeTree(dir) }
        return try body(dir)
    }

    static func removeTree(_ path: String) {
        if let entries = try? FileManager.default.contentsOfDirectory(atPath: path) {
            for e in entries { removeTree(path + "/" + e) }
            rmdir(path)
        } else {
            unlink(path)
        }
    }

    /// Runs `body` and fails (throws) if it leaves file descriptors open. The compiler's one-time
    /// set-up (mapping LLVM, its first compile) is done before counting, since it is process-wide
    /// state, not a leak; CompilerTests checks that repeated compiles leave no fds.
    public static func expectNoFDLeak<T>(_ body: () throws -> T, sourceLocation: String = #function) throws -> T {
        _ = try TestPrograms.object("count_packets")
        let before = openFileDescriptorCount()
        let result = try body()
        let after = openFileDescriptorCount()
        if after != before {
            throw BPFError(.state, operation: "fd leak check", subject: sourceLocation,
                           message: "\(after - before) file descriptors leaked (\(before) before, \(after) after)")
        }
        return result
    }
}

/// Programs from Debian that some tests drive (chromium, prometheus): found on PATH, or
/// installed once with apt-get when missing. Tests gate on `ensure` with the reason to print.
public enum ExternalTool {
    nonisolated(unsafe) private static var cache: [String: String?] = [:]
    private static let lock = NSLock()

    /// The path of `binary`, installing `package` (apt-get install -y) if it is missing; nil if
    /// it still is not there.
    public static func path(_ binary: String, package: String) -> String? {
        lock.lock()
        defer { lock.unlock() }
        if let known = cache[binary] { return known }
        func find() -> String? {
            for dir in ["/usr/bin", "/usr/sbin", "/usr/local/bin", "/bin"] where access(dir + "/" + binary, X_OK) == 0 { return dir + "/" + binary }
            return nil
        }
        var found = find()
        if found == nil && TestEnvironment.isRoot {
            let env = ["DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"]
            _ = try? TestPrograms.run("/usr/bin/apt-get", ["install", "-y", "-qq", package], environment: env)
            found = find()
            if found == nil {
                _ = try? TestPrograms.run("/usr/bin/apt-get", ["update", "-qq"], environment: env)
                _ = try? TestPrograms.run("/usr/bin/apt-get", ["install", "-y", "-qq", package], environment: env)
                found = find()
            }
        }
        cache[binary] = found
        return found
    }
}
