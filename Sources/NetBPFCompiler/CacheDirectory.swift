import CNetBPFShims
import Foundation
import Glibc
import NetBPF

/// Where compiled objects, vmlinux.h and precompiled headers are kept:
/// $NETBPF_CACHE_DIR, else /var/cache/netbpf for root, else ~/.cache/netbpf.
///
/// What is in it becomes BPF code in the kernel, so it must be private: a directory owned by
/// the effective user, mode 0700, below directories only root or that user can write
/// (TrustedPath). One owned by someone else, or writable by group or others, is refused; the
/// default location, if it is ours, has its mode set to 0700 instead (an older netbpf or a
/// umask may have left it open). Entries are checked again when read (`read`, `isTrusted`):
/// one not owned by the user or writable by group or others, left from before the directory
/// was made private, counts as a miss, is removed and rewritten.
public struct CacheDirectory: Sendable {
    /// The directory's absolute or given path (made on first use, mode 0700).
    public let path: String

    /// Opens `path`, or the default location, making it when missing.
    /// - Throws: `CompileError(.input)` when the directory cannot be made, is not owned by the
    /// effective user, is writable by group or others, or sits below a directory others can write
    /// (TrustedPath).
    public init(path: String? = nil) throws {
        let env = ProcessInfo.processInfo.environment
        var isDefault = false
        if let path { self.path = path } else if let p = env["NETBPF_CACHE_DIR"] { self.path = p } else if geteuid() == 0 {
            self.path = "/var/cache/netbpf"
            isDefault = true
        } else {
            self.path = (env["XDG_CACHE_HOME"] ?? (NSHomeDirectory() + "/.cache")) + "/netbpf"
            isDefault = true
        }
        try makeDirectory(self.path, fixingMode: isDefault)
        if case .failure(let refusal) = TrustedPath.check(TrustedPath.parent(self.path), root: self.path) {
            throw CompileError(kind: .input, message: "refusing cache directory \(self.path): \(refusal.offender) \(refusal.problem)",
                               hint: "the directories above a cache must be writable only by root or the user running netbpf")
        }
    }

    /// Creates `dir` (mode 0700) or checks the one there: owned by the effective user and not
    /// writable by group or others. Other permission bits are cleared; write bits only with
    /// `fixingMode` (the default cache location, subdirectories of the cache).
    func makeDirectory(_ dir: String, fixingMode: Bool = true) throws {
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw CompileError(kind: .input, message: "cannot create cache directory \(dir): \(error.localizedDescription)")
        }
        var st = stat()
        guard stat(dir, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else {
            throw CompileError(kind: .input, message: "cache directory \(dir) is not a directory")
        }
        guard st.st_uid == geteuid() else {
            throw CompileError(kind: .input, message: "refusing cache directory \(dir): it is owned by uid \(st.st_uid), not by uid \(geteuid()) (the user running netbpf)",
                               hint: "a compile cache must be private: use a directory of your own (NETBPF_CACHE_DIR)")
        }
        let open = st.st_mode & 0o077
        if open & 0o022 != 0 && !fixingMode {
            throw CompileError(kind: .input, message: "refusing cache directory \(dir): it is writable by group or others (mode 0\(String(st.st_mode & 0o7777, radix: 8)))",
                               hint: "a compile cache must be private: chmod 700 \(dir)")
        }
        if open != 0 && chmod(dir, 0o700) != 0 {
            throw CompileError(kind: .input, message: "cannot make cache directory \(dir) private (chmod 0700): \(String(cString: strerror(errno)))")
        }
    }

    /// Whether the entry at `path` may be used: a regular file owned by the effective user and
    /// not writable by group or others. One that exists and is not is removed (the caller then
    /// rebuilds it), as a corrupt entry is.
    func isTrusted(_ path: String) -> Bool {
        var st = stat()
        guard lstat(path, &st) == 0 else { return false }
        if Self.trusted(st) { return true }
        unlink(path)
        return false
    }

    /// The bytes of the entry at `path`, if there is one and it is trusted (`isTrusted`); read
    /// from the descriptor that was checked.
    func read(_ path: String) -> Data? {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else {
            if errno == ELOOP { unlink(path) } // a symlink is not an entry netbpf wrote
            return nil
        }
        let handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        var st = stat()
        guard fstat(fd, &st) == 0 else { return nil }
        guard Self.trusted(st) else { unlink(path); return nil }
        return try? handle.readToEnd() ?? Data()
    }

    private static func trusted(_ st: stat) -> Bool {
        (st.st_mode & S_IFMT) == S_IFREG && st.st_uid == geteuid() && st.st_mode & 0o022 == 0
    }

    /// Writes through a temporary file and rename (OutputFile.replaceAtomically, no fsync): an
    /// entry a crash truncated fails its checksum and is rebuilt (CompileCache), and headers are
    /// compared with what they should hold before use.
    func writeAtomically(_ data: Data, to path: String) throws {
        do {
            try OutputFile.replaceAtomically(Array(data), at: path, mode: 0o600)
        } catch {
            throw CompileError(kind: .input, message: "\(error)")
        }
    }
}

/// SHA-256 in hex over a sequence of parts (each length-prefixed, so parts cannot run together).
struct Hasher256 {
    private var state = nb_sha256()
    init() { nb_sha256_init(&state) }

    mutating func add(_ bytes: UnsafeRawBufferPointer) {
        var n = UInt64(bytes.count)
        withUnsafeBytes(of: &n) { nb_sha256_update(&state, $0.baseAddress, 8) }
        nb_sha256_update(&state, bytes.baseAddress, bytes.count)
    }
    mutating func add(_ data: Data) { data.withUnsafeBytes { add($0) } }
    mutating func add(_ s: String) { var s = s; s.withUTF8 { add(UnsafeRawBufferPointer($0)) } }

    mutating func finish() -> String {
        var hex = [CChar](repeating: 0, count: 65)
        nb_sha256_final_hex(&state, &hex)
        return String(cString: hex)
    }
}
