/// Checks the ELF header before libbpf sees the bytes, so that a truncated file, a non-ELF file or
/// an object built for another machine gets a precise message instead of libbpf's generic one.
package enum ELFHeaderCheck {
    static let emBPF: UInt16 = 247
    static let etRel: UInt16 = 1

    /// Throws `BPFError.invalidObject` unless `bytes` start a 64-bit relocatable BPF ELF object.
    package static func validate(_ bytes: UnsafeRawBufferPointer, name: String) throws {
        func fail(_ message: String, hint: String? = nil) -> BPFError {
            BPFError(.invalidObject, operation: "open object", subject: name, message: message, hint: hint)
        }
        guard bytes.count >= 64 else {
            throw fail("file is \(bytes.count) bytes, too short for an ELF header (64 bytes)", hint: "the file is truncated or not an object file")
        }
        guard bytes[0] == 0x7f, bytes[1] == 0x45, bytes[2] == 0x4c, bytes[3] == 0x46 else {
            throw fail("not an ELF file (bad magic)", hint: "pass a .o built with `clang -target bpf`, or a .c file")
        }
        guard bytes[4] == 2 else { throw fail("32-bit ELF; BPF objects are 64-bit ELF") }
        let littleEndian = bytes[5] == 1
        func u16(_ off: Int) -> UInt16 {
            let a = UInt16(bytes[off]), b = UInt16(bytes[off + 1])
            return littleEndian ? a | b << 8 : a << 8 | b
        }
        func u64(_ off: Int) -> UInt64 {
            var v: UInt64 = 0
            for i in 0..<8 {
                let byte = UInt64(bytes[off + (littleEndian ? 7 - i : i)])
                v = v << 8 | byte
            }
            return v
        }
        let machine = u16(18)
        guard machine == emBPF else {
            throw fail("ELF for machine \(machineName(machine)), not BPF (EM_BPF 247)",
                       hint: "compile with `clang -target bpf`; this looks like a host object")
        }
        guard littleEndian else {
            throw fail("big-endian BPF object on a little-endian host", hint: "compile with -target bpfel (or -target bpf on x86/arm64)")
        }
        guard u16(16) == etRel else {
            throw fail("ELF type \(u16(16)) is not a relocatable object (ET_REL)")
        }
        let shoff = u64(40), shentsize = UInt64(u16(58)), shnum = UInt64(u16(60))
        let end = shoff &+ shentsize &* shnum
        guard shoff > 0, end <= UInt64(bytes.count), end >= shoff else {
            throw fail("section headers end at byte \(end) but the file has \(bytes.count)", hint: "the file is truncated")
        }
    }

    static func machineName(_ m: UInt16) -> String {
        switch m {
        case 3: return "i386"
        case 62: return "x86-64"
        case 40: return "ARM"
        case 183: return "AArch64"
        case 243: return "RISC-V"
        case 21: return "PowerPC64"
        case 22: return "s390"
        default: return "\(m)"
        }
    }
}
