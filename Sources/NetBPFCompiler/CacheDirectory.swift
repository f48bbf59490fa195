import CNetBPFShims
import Foundation
import Glibc

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

    /// Writes through a temporary file and rename, so readers never see half a file.
    func writeAtomically(_ data: Data, to path: String) throws {
        let tmp = path + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        guard FileManager.default.createFile(atPath: tmp, contents: data, attributes: [.posixPermissions: 0o600]) else {
            throw CompileError(kind: .input, message: "cannot write \(tmp)")
        }
        guard rename(tmp, path) == 0 else {
            unlink(tmp)
            throw CompileError(kind: .input, message: "cannot rename into \(path): \(String(cString: strerror(errno)))")
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
