/// A Swift struct that mirrors a C struct of a BPF program, field by field, so events and map
/// values decode into it. `BPF` checks it against the object's BTF when a view is made: the same
/// size, and each listed field at the C member's offset with the C member's size; a mismatch is
/// an error naming the field. (A struct imported from a C header keeps C's layout by itself:
/// give it an empty `cFields`, and only the size is checked.)
///
/// ```swift
/// struct Event: BPFRecord {
///     var pid: UInt32
///     var comm: (UInt64, UInt64)          // char comm[16]
///     static var cStruct: String { "event" }
///     static var cFields: [(String, PartialKeyPath<Event>)] { [("pid", \.pid), ("comm", \.comm)] }
/// }
/// ```
public protocol BPFRecord: BitwiseCopyable, Sendable {
    /// The C struct's name (`struct NAME` or a typedef of one).
    static var cStruct: String { get }
    /// C member names and the Swift fields that mirror them.
    static var cFields: [(String, PartialKeyPath<Self>)] { get }
}

extension BPFRecord {
    /// Checks this type against `layout`.
    /// - Throws: `BPFError(.sizeMismatch)` naming the first field (or the size) that differs.
    static func check(against layout: StructLayout) throws {
        func mismatch(_ what: String) -> BPFError {
            BPFError(.sizeMismatch, operation: "check layout", subject: "\(Self.self) / struct \(layout.name)", message: what,
                     hint: "mirror the C struct field by field (C pads: add explicit padding fields), or import it from its header")
        }
        let swiftSize = MemoryLayout<Self>.size
        guard layout.size == swiftSize || layout.size == MemoryLayout<Self>.stride else {
            throw mismatch("Swift type is \(swiftSize) bytes, the C struct \(layout.size)")
        }
        for (name, keyPath) in cFields {
            guard let member = layout.member(name) else {
                throw mismatch("field '\(name)': the C struct has no such member (members: \(layout.members.map(\.name).joined(separator: ", ")))")
            }
            guard let offset = MemoryLayout<Self>.offset(of: keyPath) else { throw mismatch("field '\(name)': not a stored property") }
            if offset != member.offset { throw mismatch("field '\(name)': Swift offset \(offset), C offset \(member.offset)") }
            let size = _openExistential(type(of: keyPath).valueType, do: sizeOfValue)
            if member.size != 0 && size != member.size { throw mismatch("field '\(name)': Swift size \(size), C size \(member.size)") }
        }
    }
}

private func sizeOfValue<V>(_ type: V.Type) -> Int { MemoryLayout<V>.size }
