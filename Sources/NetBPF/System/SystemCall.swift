import Glibc

/// netbpf's one EINTR policy, used by every module that makes blocking system calls.
///
/// netbpf's signal handlers only set a flag (the CLI's `StopFlag`, `SimSignals`), so a call a
/// signal interrupted is simply made again: `retryingOnEINTR`, `readAll`, `writeAll`. A *wait*
/// (poll, epoll_wait, `ring_buffer__poll`, `perf_buffer__poll`) is the one exception: an
/// interrupted wait returns as "nothing arrived", so the caller's loop sees the flag at once.
/// (NetBPFNetlink does not depend on this module; its socket follows the same rule in place.)
package enum SystemCall {
    /// A failed system call's errno.
    package struct Failure: Error, Equatable {
        package let errno: Int32
    }

    /// Calls `body` again while it fails with EINTR (a negative result with errno EINTR), and
    /// returns its first other result.
    @inline(__always)
    package static func retryingOnEINTR<R: SignedInteger>(_ body: () -> R) -> R {
        while true {
            let result = body()
            if result >= 0 || errno != EINTR { return result }
        }
    }

    /// Reads `fd` up to its end.
    /// - Throws: `Failure` with the errno of a failed read(2).
    package static func readAll(_ fd: Int32) throws(Failure) -> [UInt8] {
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = retryingOnEINTR { chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) } }
            if n < 0 { throw Failure(errno: errno) }
            if n == 0 { return out }
            out.append(contentsOf: chunk[0..<n])
        }
    }

    /// Writes all of `bytes` with `write` (which wraps write(2) or send(2)), after short writes
    /// and interruptions.
    /// - Throws: `Failure` with the errno of a failed call; EIO when a call wrote nothing.
    package static func writeAll(_ bytes: UnsafeRawBufferPointer,
                                 with write: (UnsafeRawPointer, Int) -> Int) throws(Failure) {
        guard let base = bytes.baseAddress else { return }
        var done = 0
        while done < bytes.count {
            let n = retryingOnEINTR { write(base + done, bytes.count - done) }
            if n < 0 { throw Failure(errno: errno) }
            if n == 0 { throw Failure(errno: EIO) }
            done += n
        }
    }

    /// Writes all of `bytes` to `fd` with write(2).
    /// - Throws: `Failure` as `writeAll(_:with:)`.
    package static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) throws(Failure) {
        try writeAll(bytes) { Glibc.write(fd, $0, $1) }
    }

    /// Writes all of `bytes` to `fd` with write(2).
    /// - Throws: `Failure` as `writeAll(_:with:)`.
    package static func writeAll(_ fd: Int32, _ bytes: [UInt8]) throws(Failure) {
        let failure = bytes.withUnsafeBytes { raw -> Failure? in
            do throws(Failure) { try writeAll(fd, raw); return nil } catch { return error }
        }
        if let failure { throw failure }
    }
}
