import CNetBPFShims
import Glibc

/// Writes to stdout/stderr with write(2). FileHandle.write traps when the reader has gone (a
/// `netbpf ... | head`); here a closed stdout ends the process quietly, as C tools do, any other
/// stdout failure (ENOSPC: a full disk or /dev/full) ends it with one line naming the errno and
/// exit status 1 rather than an output silently cut short, and a failing stderr is ignored.
package enum StandardStreams {
    /// Writes `text` to stdout; a closed pipe exits 0, another failure exits 1.
    package static func out(_ text: String) { write(1, text, exitOnClosedPipe: true) }
    /// Writes `text` to stderr, ignoring failures.
    package static func err(_ text: String) { write(2, text, exitOnClosedPipe: false) }
    /// Writes `bytes` to stdout, as `out(_:)`.
    package static func out(bytes: [UInt8]) { write(1, bytes, exitOnClosedPipe: true) }

    private static func write(_ fd: Int32, _ text: String, exitOnClosedPipe: Bool) {
        write(fd, Array(text.utf8), exitOnClosedPipe: exitOnClosedPipe)
    }

    private static func write(_ fd: Int32, _ bytes: [UInt8], exitOnClosedPipe: Bool) {
        do {
            try SystemCall.writeAll(fd, bytes)
        } catch {
            guard fd == 1 && exitOnClosedPipe else { return }
            if error.errno == EPIPE { exit(0) }
            write(2, Array("netbpf: writing to stdout failed: \(ErrnoName.describe(error.errno))\n".utf8), exitOnClosedPipe: false)
            exit(1)
        }
    }

    /// Makes a closed pipe an EPIPE error instead of a fatal signal (call once at start-up).
    package static func ignoreSIGPIPE() { signal(SIGPIPE, SIG_IGN) }

    /// C's `stdout` stream (what `print` writes through), for fflush/ferror: the C global is a
    /// mutable variable Swift 6 does not let code touch directly.
    package static var cOut: UnsafeMutablePointer<FILE> { nb_stdout() }
    /// C's `stderr` stream.
    package static var cErr: UnsafeMutablePointer<FILE> { nb_stderr() }
}
