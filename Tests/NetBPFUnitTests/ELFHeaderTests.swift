import Foundation
import Testing
@testable import NetBPF
import NetBPFTestSupport

/// Bad object files get a precise one-line error before libbpf sees them.
struct ELFHeaderTests {
    func header(machine: UInt16 = 247, elfClass: UInt8 = 2, endian: UInt8 = 1, type: UInt16 = 1, size: Int = 128) -> [UInt8] {
        var b = [UInt8](repeating: 0, count: size)
        b[0] = 0x7f; b[1] = 0x45; b[2] = 0x4c; b[3] = 0x46
        b[4] = elfClass; b[5] = endian; b[6] = 1
        b[16] = UInt8(type & 0xff); b[17] = UInt8(type >> 8)
        b[18] = UInt8(machine & 0xff); b[19] = UInt8(machine >> 8)
        b[40] = 64 // section headers at 64
        b[58] = 0; b[60] = 0 // no sections
        return b
    }

    func check(_ bytes: [UInt8]) -> BPFError? {
        do {
            try bytes.withUnsafeBytes { try ELFHeaderCheck.validate($0, name: "x.o") }
            return nil
        } catch let e as BPFError { return e } catch { return nil }
    }

    @Test func acceptsBPFRelocatable() { #expect(check(header()) == nil) }

    @Test func truncated() {
        let e = check(Array(header().prefix(20)))
        #expect(e?.code == .invalidObject)
        #expect(e?.description.contains("too short") == true)
    }

    @Test func notELF() {
        #expect(check(Array("#include <linux/bpf.h>\nint x;\n".utf8) + [UInt8](repeating: 0, count: 64))?.description.contains("not an ELF") == true)
    }

    @Test func hostObject() {
        let e = check(header(machine: 62))
        #expect(e?.description.contains("x86-64") == true)
        #expect(e?.hint?.contains("-target bpf") == true)
    }

    @Test func thirtyTwoBit() { #expect(check(header(elfClass: 1))?.description.contains("32-bit") == true) }

    @Test func sectionTableBeyondEnd() {
        var h = header()
        h[60] = 10; h[58] = 64 // 10 sections of 64 bytes at offset 64: past the end
        #expect(check(h)?.description.contains("truncated") == true)
    }

    @Test func realObjectTruncatedHalfway() throws {
        let path = try TestPrograms.object("maps_all")
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(throws: BPFError.self) { try BPFObjectSpec.open(bytes: bytes.prefix(bytes.count / 2), name: "half") }
    }
}
