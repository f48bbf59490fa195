import CLibBPF

/// A value decoded from bytes through BTF, ready to print as text or JSON.
public indirect enum BTFValue: Sendable, Equatable, Encodable, CustomStringConvertible {
    /// A signed C integer of up to 64 bits (sign-extended from its BTF bit width).
    case integer(Int64)
    /// An unsigned C integer, a pointer's value or a bitfield.
    case unsigned(UInt64)
    /// A C `_Bool`.
    case bool(Bool)
    /// A C `float` or `double`.
    case float(Double)
    /// A `char` array holding printable text up to its first NUL.
    case string(String)
    /// A C enum value that matches one of its enumerators, by name.
    case enumCase(String)
    /// A C array other than printable text.
    case array([BTFValue])
    /// A struct or union: its members in declaration order ("(anon)" for unnamed ones).
    case record([(String, BTFValue)])
    /// Bytes no BTF type describes or that the decoder could not read.
    case bytes([UInt8])

    /// Compares the printed forms (`description`), so values that print alike are equal
    /// (records hold tuples, which are not Equatable).
    public static func == (a: BTFValue, b: BTFValue) -> Bool { a.description == b.description }

    /// Encodes as plain JSON: numbers, strings, arrays, objects for records, hex text for bytes.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .integer(let v): try c.encode(v)
        case .unsigned(let v): try c.encode(v)
        case .bool(let v): try c.encode(v)
        case .float(let v): try c.encode(v)
        case .string(let v), .enumCase(let v): try c.encode(v)
        case .array(let v): try c.encode(v)
        case .bytes(let v): try c.encode(hexString(v))
        case .record(let fields):
            var keyed = encoder.container(keyedBy: DynamicKey.self)
            for (name, value) in fields { try keyed.encode(value, forKey: DynamicKey(name)) }
        }
    }

    /// Appends this value as JSON to `out` (hand-written: dumps of a million entries go through here).
    package func appendJSON(to out: inout String) {
        switch self {
        case .integer(let v): out += String(v)
        case .unsigned(let v): out += String(v)
        case .bool(let v): out += v ? "true" : "false"
        case .float(let v): out += v.isFinite ? "\(v)" : "null"
        case .string(let v), .enumCase(let v): appendJSONString(v, to: &out)
        case .bytes(let v): out += "\""; out += hexString(v); out += "\""
        case .array(let v):
            out += "["
            for (i, e) in v.enumerated() { if i > 0 { out += "," }; e.appendJSON(to: &out) }
            out += "]"
        case .record(let fields):
            out += "{"
            for (i, (name, value)) in fields.enumerated() {
                if i > 0 { out += "," }
                appendJSONString(name, to: &out); out += ":"; value.appendJSON(to: &out)
            }
            out += "}"
        }
    }

    /// The value as bpftool prints it in plain output: strings quoted, records in braces.
    public var description: String {
        switch self {
        case .integer(let v): return "\(v)"
        case .unsigned(let v): return "\(v)"
        case .bool(let v): return "\(v)"
        case .float(let v): return "\(v)"
        case .string(let v): return "\"\(v)\""
        case .enumCase(let v): return v
        case .array(let v): return "[" + v.map(\.description).joined(separator: ", ") + "]"
        case .bytes(let v): return hexString(v)
        case .record(let fields): return "{" + fields.map { "\($0.0): \($0.1)" }.joined(separator: ", ") + "}"
        }
    }
}

struct DynamicKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ s: String) { stringValue = s }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { return nil }
}

/// Bytes as space-separated hex pairs, the way bpftool prints keys and values.
package func hexString(_ bytes: some Sequence<UInt8>) -> String {
    let digits: [UInt8] = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    for b in bytes {
        if !out.isEmpty { out.append(0x20) }
        out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)])
    }
    return String(decoding: out, as: UTF8.self)
}

/// A JSON string literal with the escapes JSON requires.
func appendJSONString(_ s: String, to out: inout String) {
    out += "\""
    for u in s.unicodeScalars {
        switch u {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\t": out += "\\t"
        case "\r": out += "\\r"
        default:
            if u.value < 0x20 { out += "\\u00" + String(format2: UInt8(u.value)) } else { out.unicodeScalars.append(u) }
        }
    }
    out += "\""
}

/// Decodes map keys and values through the map's BTF (the types the C program declared), as
/// `bpftool map dump` does. `@unchecked Sendable`: the loaded BTF is only read after init.
public final class BTFFormatter: @unchecked Sendable {
    private let btf: OpaquePointer

    /// Loads BTF object `btfID` from the kernel (btf__load_from_kernel_by_id: BPF_BTF_GET_FD_BY_ID,
    /// kernel 4.18). nil when `btfID` is 0 (a map declared without `__type`, or created without
    /// BTF) or the kernel will not hand the BTF out.
    /// - Parameter btfID: `MapInfo.btfID` or `ProgramInfo.btfID`.
    public init?(btfID: UInt32) {
        guard btfID != 0, let btf = btf__load_from_kernel_by_id(btfID) else { return nil }
        self.btf = btf
    }

    deinit { btf__free(btf) }

    /// Decodes `bytes` as type `typeID`; falls back to raw bytes for what it cannot read.
    public func decode(_ bytes: UnsafeRawBufferPointer, typeID: UInt32) -> BTFValue {
        guard typeID != 0 else { return .bytes(Array(bytes)) }
        return value(bytes, typeID: typeID, depth: 0)
    }

    /// The C name of a type ("__u32", "struct lpm_v4_key").
    public func typeName(_ typeID: UInt32) -> String {
        guard let t = btf__type_by_id(btf, typeID) else { return "?" }
        let name = btf__name_by_offset(btf, t.pointee.name_off).map { String(cString: $0) } ?? ""
        switch kind(t) {
        case BTFKind.structure: return "struct " + name
        case BTFKind.union: return "union " + name
        case BTFKind.enumeration, BTFKind.enum64: return "enum " + name
        default: return name.isEmpty ? "type \(typeID)" : name
        }
    }

    private func kind(_ t: UnsafePointer<btf_type>) -> UInt32 { (t.pointee.info >> 24) & 0x1f }
    private func vlen(_ t: UnsafePointer<btf_type>) -> Int { Int(t.pointee.info & 0xffff) }
    private func kflag(_ t: UnsafePointer<btf_type>) -> Bool { (t.pointee.info >> 31) == 1 }

    private func value(_ bytes: UnsafeRawBufferPointer, typeID: UInt32, depth: Int) -> BTFValue {
        guard depth < 16, let t = btf__type_by_id(btf, typeID) else { return .bytes(Array(bytes)) }
        let trailer = UnsafeRawPointer(t.advanced(by: 1))
        switch kind(t) {
        case BTFKind.integer:
            let encoding = trailer.load(as: UInt32.self)
            let bits = Int(encoding & 0xff), signed = (encoding >> 24) & 1 == 1, isBool = (encoding >> 24) & 4 == 4
            let size = Int(t.pointee.size)
            guard size <= 8, bytes.count >= size else { return .bytes(Array(bytes.prefix(size))) }
            var raw: UInt64 = 0
            for i in (0..<size).reversed() { raw = raw << 8 | UInt64(bytes[i]) }
            if bits < 64 && bits > 0 { raw &= (1 << UInt64(bits)) - 1 }
            if isBool { return .bool(raw != 0) }
            if signed {
                let shift = UInt64(64 - max(bits, 1))
                return .integer(Int64(bitPattern: raw << shift) >> Int64(shift))
            }
            return .unsigned(raw)
        case BTFKind.pointer:
            return .unsigned(bytes.count >= 8 ? bytes.loadUnaligned(as: UInt64.self) : 0)
        case BTFKind.array:
            let a = trailer.load(as: btf_array.self)
            let elemSize = Int(btf__resolve_size(btf, a.type))
            guard elemSize > 0 else { return .bytes(Array(bytes)) }
            let count = Int(a.nelems)
            if elemSize == 1, isCharType(a.type) {
                let chars = bytes.prefix(count)
                let text = chars.prefix(while: { $0 != 0 })
                if text.allSatisfy({ $0 >= 0x20 && $0 < 0x7f }) { return .string(String(decoding: text, as: UTF8.self)) }
            }
            return .array((0..<count).map { i in
                let start = i * elemSize
                guard start + elemSize <= bytes.count else { return .bytes([]) }
                return value(UnsafeRawBufferPointer(rebasing: bytes[start..<(start + elemSize)]), typeID: a.type, depth: depth + 1)
            })
        case BTFKind.structure, BTFKind.union:
            let members = trailer.assumingMemoryBound(to: btf_member.self)
            var fields: [(String, BTFValue)] = []
            for i in 0..<vlen(t) {
                let m = members[i]
                let name = btf__name_by_offset(btf, m.name_off).map { String(cString: $0) } ?? ""
                let bitOffset = Int(kflag(t) ? m.offset & 0xffffff : m.offset)
                let bitSize = kflag(t) ? Int(m.offset >> 24) : 0
                let size = Int(btf__resolve_size(btf, m.type))
                let start = bitOffset / 8
                if bitSize > 0 || bitOffset % 8 != 0 {
                    fields.append((name, .unsigned(bitfield(bytes, bitOffset: bitOffset, bitSize: bitSize > 0 ? bitSize : size * 8))))
                    continue
                }
                guard size > 0, start + size <= bytes.count else { continue }
                fields.append((name.isEmpty ? "(anon)" : name,
                               value(UnsafeRawBufferPointer(rebasing: bytes[start..<(start + size)]), typeID: m.type, depth: depth + 1)))
            }
            return .record(fields)
        case BTFKind.enumeration:
            let size = Int(t.pointee.size)
            var raw: Int64 = 0
            for i in (0..<min(size, bytes.count)).reversed() { raw = raw << 8 | Int64(bytes[i]) }
            let cases = trailer.assumingMemoryBound(to: btf_enum.self)
            for i in 0..<vlen(t) where Int64(cases[i].val) == raw {
                if let n = btf__name_by_offset(btf, cases[i].name_off) { return .enumCase(String(cString: n)) }
            }
            return .integer(raw)
        case BTFKind.typedef, BTFKind.volatile, BTFKind.const, BTFKind.restrict, BTFKind.typeTag:
            return value(bytes, typeID: t.pointee.type, depth: depth + 1)
        case BTFKind.float:
            if t.pointee.size == 8, bytes.count >= 8 { return .float(bytes.loadUnaligned(as: Double.self)) }
            if t.pointee.size == 4, bytes.count >= 4 { return .float(Double(bytes.loadUnaligned(as: Float.self))) }
            return .bytes(Array(bytes))
        default:
            return .bytes(Array(bytes))
        }
    }

    private func isCharType(_ id: UInt32) -> Bool {
        var current = id
        for _ in 0..<8 {
            guard let t = btf__type_by_id(btf, current) else { return false }
            let k = kind(t)
            if k == BTFKind.integer {
                let name = btf__name_by_offset(btf, t.pointee.name_off).map { String(cString: $0) } ?? ""
                return name.contains("char")
            }
            guard [BTFKind.typedef, BTFKind.volatile, BTFKind.const].contains(k) else { return false }
            current = t.pointee.type
        }
        return false
    }

    private func bitfield(_ bytes: UnsafeRawBufferPointer, bitOffset: Int, bitSize: Int) -> UInt64 {
        var v: UInt64 = 0
        for bit in 0..<min(bitSize, 64) {
            let b = bitOffset + bit
            guard b / 8 < bytes.count else { break }
            if bytes[b / 8] >> UInt8(b % 8) & 1 == 1 { v |= 1 << UInt64(bit) }
        }
        return v
    }
}
