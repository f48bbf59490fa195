import Foundation
import Glibc

/// An exclusive `flock(2)` on a file, the one way netbpf serialises commands (hook locks in
/// NetBPFAttach, the simulation lock in NetBPFSim). The kernel drops the lock when the holder
/// exits, however it exits. A holder may remove the file (a namespace or simulation is gone):
/// a waiter that then gets the lock on the removed file sees its inode is no longer the path's
/// and starts over, so two holders never overlap.
package enum LockFile {
    package enum Failure: Error {
        /// open(2) failed with this errno.
        case open(Int32)
        /// flock(2) failed with this errno (not EWOULDBLOCK/EINTR).
        case flock(Int32)
        /// Still held when the wait ran out; `contents` is what the holder wrote in the file.
        case timedOut(contents: String)
    }

    /// Waits up to `timeout` seconds (0: not at all) for the lock on `path`, creating the file
    /// with `mode`; polls every `interval` seconds and calls `waiting` once, when it first has
    /// to wait. Returns the locked descriptor; closing it releases the lock.
    package static func acquire(_ path: String, mode: mode_t, timeout: Double, interval: Double,
                                waiting: () -> Void = {}) throws(Failure) -> Int32 {
        let deadline = Date().addingTimeInterval(timeout)
        var toldWaiting = false
        while true {
            let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, mode)
            guard fd >= 0 else { throw .open(errno) }
            while flock(fd, LOCK_EX | LOCK_NB) != 0 {
                let e = errno
                guard e == EWOULDBLOCK || e == EINTR else { close(fd); throw .flock(e) }
                guard Date() < deadline else {
                    let contents = Self.contents(fd)
                    close(fd)
                    throw .timedOut(contents: contents)
                }
                if !toldWaiting { waiting(); toldWaiting = true }
                usleep(UInt32(interval * 1_000_000))
            }
            var held = stat(), current = stat()
            if fstat(fd, &held) == 0, stat(path, &current) == 0, held.st_ino == current.st_ino, held.st_dev == current.st_dev {
                return fd
            }
            close(fd)
        }
    }

    /// Replaces the file's contents (a holder's pid, for the "held by" message of a waiter).
    package static func write(_ text: String, to fd: Int32) {
        let bytes = Array(text.utf8)
        _ = ftruncate(fd, 0)
        _ = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
    }

    private static func contents(_ fd: Int32) -> String {
        var buffer = [UInt8](repeating: 0, count: 64)
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        return n > 0 ? String(decoding: buffer[..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) : ""
    }
}
