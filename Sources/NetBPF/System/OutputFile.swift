import Foundation
import Glibc

/// Writing a file the user named on the command line (`-o prog.o`, `--html report.html`).
///
/// A regular file, or a path that does not exist yet, is replaced atomically (a temporary file
/// in the same directory renamed over it), so a crash never leaves half an object. Anything
/// else (`/dev/null`, `/dev/stdout`, a FIFO, a symlink) is opened and written in place: renaming
/// a temporary file over it would replace the device node or the link itself, which for root
/// means breaking /dev/null for the whole machine.
package enum OutputFile {
    /// Writes `bytes` to `path`: atomically for a regular file or a new path, in place otherwise.
    package static func write(_ bytes: [UInt8], to path: String) throws {
        var info = stat()
        if lstat(path, &info) != 0 || (info.st_mode & S_IFMT) == S_IFREG {
            try replaceAtomically(bytes, at: path)
        } else {
            try writeInPlace(bytes, at: path)
        }
    }

    /// Writes `bytes` to a temporary file beside `path` and renames it over `path`, so readers
    /// see the old file or the new one, never half of one. No fsync: what netbpf keeps this way
    /// (outputs, cache entries that carry their own checksum, records of kernel state that a
    /// reboot clears anyway) does not need to survive a power cut, and fsync costs 0.5-1 ms.
    /// The temporary file names its writer; temporaries of `path` left by writers that are gone
    /// (killed mid-write) are removed first (`WriterTemporaryFile`).
    package static func replaceAtomically(_ bytes: [UInt8], at path: String, mode: mode_t = 0o644) throws {
        WriterTemporaryFile.removeStale(beside: path)
        let tmp = WriterTemporaryFile.path(for: path)
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else { throw failure("create", tmp, errno, "cannot create the output") }
        do {
            try writeAll(fd, bytes, path: path)
        } catch {
            close(fd)
            unlink(tmp)
            throw error
        }
        // close reports what write did not on some filesystems (NFS, quotas): ENOSPC, EDQUOT.
        if close(fd) != 0 {
            let e = errno
            unlink(tmp)
            throw failure("close", path, e, "cannot write the output")
        }
        guard rename(tmp, path) == 0 else {
            let e = errno
            unlink(tmp)
            throw failure("rename", path, e, "cannot replace the output")
        }
    }

    private static func writeInPlace(_ bytes: [UInt8], at path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644) // O_CREAT: a dangling symlink gets its target
        guard fd >= 0 else { throw failure("open", path, errno, "cannot open the output") }
        do {
            try writeAll(fd, bytes, path: path)
        } catch {
            close(fd)
            throw error
        }
        if close(fd) != 0 { throw failure("close", path, errno, "cannot write the output") }
    }

    /// The error of a failed step, with the errno's name and text ("no space left on device
    /// (ENOSPC)"): what to do about a full disk differs from a missing directory.
    static func failure(_ operation: String, _ subject: String, _ err: Int32, _ what: String) -> BPFError {
        let e = abs(err)
        return BPFError(e == EACCES || e == EPERM ? .permission : .system, operation: operation, subject: subject, errno: e,
                        message: "\(what): \(ErrnoName.describe(e))")
    }

    private static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) throws {
        do {
            try SystemCall.writeAll(fd, bytes)
        } catch {
            throw failure("write", path, error.errno, "cannot write the output")
        }
    }
}
