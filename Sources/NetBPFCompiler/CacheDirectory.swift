import CNetBPFShims
import Foundation
import Glibc
import NetBPF

/// Where compiled objects, vmlinux.h and precompiled headers are kept:
/// $NETBPF_CACHE_DIR, else /var/cache/netbpf for root, else ~/.cache/netbpf. Mode 0700.
public struct CacheDirectory: Sendable {
    public let path: String

    public init(path: String? = nil) throws {
        let env = ProcessInfo.processInfo.environment
        if let path { self.path = path } else if let p = env["NETBPF_CACHE_DIR"] { self.path = p } else if geteuid() == 0 {
            self.path = "/var/cache/netbpf"
        } else {
            self.path = (env["XDG_CACHE_HOME"] ?? (NSHomeDirectory() + "/.cache")) + "/netbpf"
        }
        try makeDirectory(self.path)
    }

    func makeDirectory(_ dir: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw CompileError(kind: .input, message: "cannot create cache directory \(dir): \(error.localizedDescription)")
        }
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
