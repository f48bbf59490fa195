import CNetBPFClangABI
import CNetBPFShims
import Foundation
import Glibc

/// Compiled objects: `objects/<key>.o`, where the key covers everything known before compiling
/// (the source bytes and path, the arguments, the compiler library, netbpf.h) and the entry
/// records what the compile read (CompileInputs): a lookup is a hit only while those files are
/// as they were. This is ccache's "direct mode" with the list of files from clang itself. An
/// entry holds the object, the warnings its compile gave (so a hit says what the compile said)
/// and its inputs (JSON). It starts with a magic, the object's length and a CRC-32 of the rest,
/// so a corrupted or truncated entry is detected, removed and rebuilt rather than loaded. (The
/// key, a SHA-256, says which source; the CRC only whether the bytes survived. Entries of
/// earlier formats count as corrupt and are rebuilt once.)
struct CompileCache {
    static let magic = Array("NBPFOBJ4".utf8)
    /// magic, 16 hex digits of the object's length, 8 of CRC-32.
    static let headerSize = magic.count + 24
    let directory: CacheDirectory

    private func path(_ key: String) -> String { directory.path + "/objects/" + key + ".o" }

    struct Entry: Codable {
        var diagnostics: [Diagnostic]
        var inputs: CompileInputs
    }

    static func header(objectSize: Int, payload: [UInt8]) -> [UInt8] {
        let crc = payload.withUnsafeBytes { nb_crc32($0.baseAddress, $0.count) }
        return magic + Array(String(format: "%016llx%08x", UInt64(objectSize), crc).utf8)
    }

    /// The object and warnings stored under `key`, if there is an entry, it is intact, and the
    /// files its compile read are unchanged (`kernelBTF`: the running kernel's BTF checksum,
    /// asked for only when the entry's compile had the kernel's vmlinux.h on its path).
    func lookup(_ key: String, kernelBTF: () -> String?) -> (object: [UInt8], diagnostics: [Diagnostic])? {
        guard let data = directory.read(path(key)) else { return nil }
        let bytes = [UInt8](data)
        guard bytes.count > Self.headerSize, bytes.starts(with: Self.magic),
              let size = Int(String(decoding: bytes[Self.magic.count..<Self.magic.count + 16], as: UTF8.self), radix: 16),
              size > 0, size <= bytes.count - Self.headerSize else { unlink(path(key)); return nil }
        let payload = [UInt8](bytes[Self.headerSize...])
        guard [UInt8](bytes.prefix(Self.headerSize)) == Self.header(objectSize: size, payload: payload),
              let entry = try? JSONDecoder().decode(Entry.self, from: Data(payload[size...])) else {
            unlink(path(key))
            return nil
        }
        guard entry.inputs.unchanged(kernelBTF: kernelBTF) else { return nil }
        return (Array(payload[..<size]), entry.diagnostics)
    }

    func store(_ key: String, object: [UInt8], diagnostics: [Diagnostic], inputs: CompileInputs) {
        guard let json = try? JSONEncoder().encode(Entry(diagnostics: diagnostics, inputs: inputs)) else { return }
        let payload = object + [UInt8](json)
        try? directory.makeDirectory(directory.path + "/objects")
        try? directory.writeAtomically(Data(Self.header(objectSize: object.count, payload: payload) + payload), to: path(key))
    }
}

/// What one compile read, as clang reported it (nb_compile_result.inputs): each file with its
/// identity when clang found it, and each path clang looked for and did not find (an earlier
/// directory on the search path, a quoted include's own directory, a `__has_include` that said
/// no). The same compile would read the same files again while every file has the identity it
/// had and no missing path has appeared: an edited header, one renamed over another, one
/// created earlier on the search path, a symlinked directory pointed elsewhere, each makes the
/// entry a miss.
struct CompileInputs: Codable, Equatable {
    struct File: Codable, Equatable {
        var path: String
        var identity: String
    }
    var files: [File] = []
    var absent: [String] = []
    /// The kernel BTF's checksum when the kernel's vmlinux.h directory was on the search path
    /// (that directory is named by the checksum, so a new kernel means a new path).
    var kernelBTF: String?

    /// Nil when the compile is not safe to remember: a file changed while it ran, or one was
    /// modified (mtime or ctime) in the 2 s before it started (as ccache: an editor may still be
    /// writing it, and a second change within the same timestamp tick would go unseen). Files
    /// under `ownDirectories` (netbpf.h, vmlinux.h, PCHs: what netbpf writes into the cache) are
    /// only ever replaced whole, by rename, so a new identity always shows; they count as settled.
    init?(_ result: nb_compile_result, kernelBTF: String?, started: time_t, ownDirectories: [String]) {
        for input in UnsafeBufferPointer(start: result.inputs, count: result.ninputs) {
            let path = String(cString: input.path)
            guard let identity = input.identity.map({ String(cString: $0) }) else {
                absent.append(path)
                continue
            }
            var st = stat()
            guard stat(path, &st) == 0, FileIdentity.of(st) == identity else { return nil }
            if !ownDirectories.contains(where: { path.hasPrefix($0) }) {
                guard max(st.st_mtim.tv_sec, st.st_ctim.tv_sec) < started - 2 else { return nil }
            }
            files.append(File(path: path, identity: identity))
        }
        self.kernelBTF = kernelBTF
    }

    /// Whether the compile would read the same files now.
    func unchanged(kernelBTF current: () -> String?) -> Bool {
        if let kernelBTF, current() != kernelBTF { return false }
        return files.allSatisfy { FileIdentity.of($0.path) == $0.identity } && absent.allSatisfy { access($0, F_OK) != 0 }
    }
}

/// What identifies a file's contents without reading it (nb_file_identity: size, mtime,
/// ctime, inode, device).
enum FileIdentity {
    static func of(_ st: stat) -> String {
        var st = st
        var buf = [CChar](repeating: 0, count: Int(NB_FILE_IDENTITY_MAX))
        nb_file_identity(&st, &buf, buf.count)
        return String(cString: buf)
    }

    static func of(_ path: String) -> String {
        var st = stat()
        guard stat(path, &st) == 0 else { return "missing" }
        return of(st)
    }
}
