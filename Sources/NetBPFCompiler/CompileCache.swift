import Foundation
import Glibc

/// Compiled objects, content-addressed: `objects/<key>.o`, where the key covers the source, every
/// file it includes, the arguments, the compiler library and (for vmlinux.h users) the kernel
/// BTF. Each entry starts with a magic and the SHA-256 of the object, so a corrupted or
/// truncated entry is detected, removed and rebuilt rather than loaded.
struct CompileCache {
    static let magic = Array("NBPFOBJ1".utf8)
    let directory: CacheDirectory

    private func path(_ key: String) -> String { directory.path + "/objects/" + key + ".o" }

    enum Lookup { case hit([UInt8]), miss, corrupt }

    func lookup(_ key: String) -> Lookup {
        guard let data = FileManager.default.contents(atPath: path(key)) else { return .miss }
        let header = Self.magic.count + 64
        guard data.count > header, Array(data.prefix(Self.magic.count)) == Self.magic else {
            unlink(path(key)); return .corrupt
        }
        let stored = String(decoding: data[Self.magic.count..<header], as: UTF8.self)
        let object = data[header...]
        var h = Hasher256()
        object.withUnsafeBytes { h.add($0) }
        guard h.finish() == stored else { unlink(path(key)); return .corrupt }
        return .hit(Array(object))
    }

    func store(_ key: String, object: [UInt8]) {
        try? directory.makeDirectory(directory.path + "/objects")
        var h = Hasher256()
        object.withUnsafeBytes { h.add($0) }
        var data = Data(Self.magic)
        data.append(Data(h.finish().utf8))
        data.append(contentsOf: object)
        try? directory.writeAtomically(data, to: path(key))
    }
}
