import CNetBPFShims
import Foundation
import Glibc

/// Compiled objects, content-addressed: `objects/<key>.o`, where the key covers the source, every
/// file it includes, the arguments, the compiler library and (for vmlinux.h users) the kernel
/// BTF. An entry is the object and the warnings its compile gave (JSON), so a hit says what the
/// compile said. It starts with a magic, the object's length and a CRC-32 of the rest, so a
/// corrupted or truncated entry is detected, removed and rebuilt rather than loaded. (The key, a
/// SHA-256, says which object; the CRC only whether the bytes survived. Entries of earlier
/// formats count as corrupt and are rebuilt once.)
struct CompileCache {
    static let magic = Array("NBPFOBJ3".utf8)
    /// magic, 16 hex digits of the object's length, 8 of CRC-32.
    static let headerSize = magic.count + 24
    let directory: CacheDirectory

    private func path(_ key: String) -> String { directory.path + "/objects/" + key + ".o" }

    enum Lookup { case hit([UInt8], [Diagnostic]), miss, corrupt }

    static func header(objectSize: Int, payload: [UInt8]) -> [UInt8] {
        let crc = payload.withUnsafeBytes { nb_crc32($0.baseAddress, $0.count) }
        return magic + Array(String(format: "%016llx%08x", UInt64(objectSize), crc).utf8)
    }

    func lookup(_ key: String) -> Lookup {
        guard let data = directory.read(path(key)) else { return .miss }
        let bytes = [UInt8](data)
        guard bytes.count > Self.headerSize, bytes.starts(with: Self.magic),
              let size = Int(String(decoding: bytes[Self.magic.count..<Self.magic.count + 16], as: UTF8.self), radix: 16),
              size > 0, size <= bytes.count - Self.headerSize else { unlink(path(key)); return .corrupt }
        let payload = [UInt8](bytes[Self.headerSize...])
        guard [UInt8](bytes.prefix(Self.headerSize)) == Self.header(objectSize: size, payload: payload),
              let diagnostics = try? JSONDecoder().decode([Diagnostic].self, from: Data(payload[size...])) else {
            unlink(path(key))
            return .corrupt
        }
        return .hit(Array(payload[..<size]), diagnostics)
    }

    func store(_ key: String, object: [UInt8], diagnostics: [Diagnostic]) {
        guard let json = try? JSONEncoder().encode(diagnostics) else { return }
        let payload = object + [UInt8](json)
        try? directory.makeDirectory(directory.path + "/objects")
        try? directory.writeAtomically(Data(Self.header(objectSize: object.count, payload: payload) + payload), to: path(key))
    }
}
