import Glibc

/// Owns one kernel file descriptor (a BPF program, map, link or a socket) and closes it exactly
/// once, when the last reference goes. Never closes 0 and never retries close on EINTR.
package final class OwnedFD: Sendable {
    /// The raw descriptor; valid while this object is alive.
    package let rawValue: Int32

    /// Takes ownership of `fd`.
    package init(owning fd: Int32) {
        precondition(fd > 0, "netbpf never owns fd \(fd)")
        rawValue = fd
    }

    /// Duplicates `fd` (F_DUPFD_CLOEXEC, above 2) and owns the copy.
    package static func duplicate(_ fd: Int32, operation: String = "dup") throws -> OwnedFD {
        let copy = fcntl(fd, F_DUPFD_CLOEXEC, 3)
        guard copy >= 0 else { throw BPFError.system(operation, errno: errno) }
        return OwnedFD(owning: copy)
    }

    deinit { close(rawValue) }
}

/// Counts this process's open file descriptors (from /proc/self/fd), for leak checks.
package func openFileDescriptorCount() -> Int {
    guard let dir = opendir("/proc/self/fd") else { return -1 }
    defer { closedir(dir) }
    var n = 0
    while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
        if name != "." && name != ".." { n += 1 }
    }
    return n - 1 // the directory stream's own fd
}
