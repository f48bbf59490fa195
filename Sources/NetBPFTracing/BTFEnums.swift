import Foundation
import NetBPF

/// The enumerators of a named enum in raw BTF (the kernel's /sys/kernel/btf/vmlinux), so tools
/// print the running kernel's names rather than a table compiled in: `enum skb_drop_reason`
/// gained, renamed and renumbered values across kernels (5.17 added it, 6.11 renamed some).
/// Reads the BTF file format directly (include/uapi/linux/btf.h): header, type section, strings.
package enum BTFEnums {
    /// The enumerators of `enum name` by value, from the BTF at `path`.
    /// - Throws: `BPFError(.notFound)` when the file cannot be read, is not BTF, or has no such enum.
    package static func values(of name: String, path: String = "/sys/kernel/btf/vmlinux") throws -> [Int64: String] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw BPFError(.notFound, operation: "read BTF", subject: path, errno: errno, message: "cannot read the kernel's BTF",
                           hint: "the kernel needs CONFIG_DEBUG_INFO_BTF (5.4+)")
        }
        guard let values = parse([UInt8](data), enumName: name) else {
            throw BPFError(.notFound, operation: "read BTF", subject: "enum \(name)", message: "\(path) has no enum \(name)")
        }
        return values
    }

    /// Walks the type section of raw BTF bytes for `enum enumName` (BTF_KIND_ENUM or ENUM64);
    /// nil when the bytes are not BTF or the enum is absent.
    package static func parse(_ bytes: [UInt8], enumName: String) -> [Int64: String]? {
        bytes.withUnsafeBytes { b -> [Int64: String]? in
            guard b.count >= 24, b.u16(0) == 0xeB9F else { return nil }
            let hdrLen = Int(b.u32(4))
            let typeStart = hdrLen + Int(b.u32(8)), typeEnd = typeStart + Int(b.u32(12))
            let strStart = hdrLen + Int(b.u32(16)), strLen = Int(b.u32(20))
            guard typeEnd <= b.count, strStart + strLen <= b.count else { return nil }
            func string(_ off: UInt32) -> String {
                let o = strStart + Int(off)
                return o < strStart + strLen ? b.cString(o, max: strStart + strLen - o) : ""
            }
            let target = Array(enumName.utf8)
            func nameIs(_ off: UInt32) -> Bool {
                let o = strStart + Int(off)
                guard o + target.count < strStart + strLen else { return false }
                for (i, c) in target.enumerated() where b[o + i] != c { return false }
                return b[o + target.count] == 0
            }
            var p = typeStart
            while p + 12 <= typeEnd {
                let nameOff = b.u32(p), info = b.u32(p + 4)
                let vlen = Int(info & 0xffff), kind = (info >> 24) & 0x1f, signed = info >> 31 == 1
                p += 12
                let extra: Int
                switch kind {
                case 1, 14, 17: extra = 4               // INT, VAR, DECL_TAG
                case 3: extra = 12                      // ARRAY
                case 4, 5, 15: extra = 12 * vlen        // STRUCT, UNION, DATASEC
                case 6, 13: extra = 8 * vlen            // ENUM, FUNC_PROTO
                case 19: extra = 12 * vlen              // ENUM64
                default: extra = 0                      // PTR, FWD, TYPEDEF, qualifiers, FUNC, FLOAT, TYPE_TAG
                }
                if (kind == 6 || kind == 19) && nameOff != 0 && nameIs(nameOff) {
                    var out: [Int64: String] = [:]
                    for i in 0..<vlen {
                        if kind == 6 {
                            let e = p + 8 * i
                            let raw = b.u32(e + 4)
                            out[signed ? Int64(Int32(bitPattern: raw)) : Int64(raw)] = string(b.u32(e))
                        } else {
                            let e = p + 12 * i
                            out[Int64(bitPattern: UInt64(b.u32(e + 8)) << 32 | UInt64(b.u32(e + 4)))] = string(b.u32(e))
                        }
                    }
                    return out
                }
                p += extra
            }
            return nil
        }
    }
}
