import CNetBPFShims
import Foundation
import Glibc

/// Compiled objects, content-addressed: `objects/<key>.o`, where the key covers the source, every
/// file it includes, the arguments, the compiler library and (for vmlinux.h users) the kernel
/// BTF. Each entry starts with a magic, the object's length and its CRC-32, so a corrupted or
/// truncated entry is detected, removed and rebuilt rather than loaded. (The key, a SHA-256,
/// says which object; the CRC only whether the bytes survived. Entries of the earlier format,
/// NBPFOBJ1 with a SHA-256, count as corrupt and are rebuilt once.)
struct CompileCache {
    static let magic = Array("NBPFOBJ2".utf8)
    /// magic, 16 hex digits of length, 8 of CRC-32.
    static let headerSize = magic.count + 24
    let directory: CacheDirectory

    private func path(_ key: String) -> String { directory.path + "/objects/" + key + ".o" }

    enum Lookup { case hit([UInt8]), miss, corrupt }

    static func header(for object: [UInt8]) -> [UInt8] {
        let crc = object.withUnsafeBytes { nb_crc32($0.baseAddress, $0.count) }
        return magic + Array(String(format: "%016llx%08x", UInt64(object.count), crc).utf8)
    }

    func lookup(_ key: String) -> Lookup {
        guard let data = directory.read(path(key)) else { return .miss }
        guard data.count > Self.headerSize else { unlink(path(key)); return .corrupt }
        let object = [UInt8](data.dropFirst(Self.headerSize))
        guard [UInt8](data.prefix(Self.headerSize)) == Self.header(for: object) else { unlink(path(key)); return .corrupt }
        return .hit(object)
    }

    func store(_ key: String, object: [UInt8]) {
        try? directory.makeDirectory(directory.path + "/objects")
        try? directory.writeAtomically(Data(Self.header(for: object) + object), to: path(key))
    }
}
