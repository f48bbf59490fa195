/// Section names of a 64-bit little-endian ELF object (already checked by ELFHeaderCheck).
package enum ELFSections {
    /// Every section's name, in section header order; empty when the headers are out of bounds.
    package static func names(_ bytes: [UInt8]) -> [String] {
        sections(bytes).map(\.name)
    }

    /// The bytes of the first section called `name` (SHT_NOBITS sections have none), or nil.
    package static func contents(of name: String, in bytes: [UInt8]) -> ArraySlice<UInt8>? {
        sections(bytes).first { $0.name == name }.map { bytes[$0.range] }
    }

    /// Every section's name and, when it lies inside the file, its byte range (else an empty one).
    static func sections(_ bytes: [UInt8]) -> [(name: String, range: Range<Int>)] {
        func u16(_ o: Int) -> Int { Int(bytes[o]) | Int(bytes[o + 1]) << 8 }
        func u32(_ o: Int) -> Int { u16(o) | u16(o + 2) << 16 }
        func u64(_ o: Int) -> Int { u32(o) | u32(o + 4) << 32 }
        guard bytes.count >= 64 else { return [] }
        let shoff = u64(40), shentsize = u16(58), shnum = u16(60), shstrndx = u16(62)
        // Offsets come from the file: bound each before any arithmetic can overflow.
        guard shoff >= 0, shoff <= bytes.count, shentsize >= 64, shnum <= bytes.count / shentsize,
              shoff + shnum * shentsize <= bytes.count, shstrndx < shnum else { return [] }
        let strtab = shoff + shstrndx * shentsize
        let strOffset = u64(strtab + 24), strSize = u64(strtab + 32)
        guard strOffset >= 0, strSize >= 0, strOffset <= bytes.count, strSize <= bytes.count - strOffset else { return [] }
        return (0..<shnum).compactMap { i in
            let header = shoff + i * shentsize
            let nameOffset = u32(header)
            guard nameOffset < strSize else { return nil }
            let start = strOffset + nameOffset
            let end = bytes[start..<(strOffset + strSize)].firstIndex(of: 0) ?? (strOffset + strSize)
            let type = u32(header + 4), offset = u64(header + 24), size = u64(header + 32)
            let inFile = type != 8 /* SHT_NOBITS */ && offset >= 0 && size >= 0 && offset <= bytes.count && size <= bytes.count - offset
            return (String(decoding: bytes[start..<end], as: UTF8.self), inFile ? offset..<offset + size : 0..<0)
        }
    }
}
