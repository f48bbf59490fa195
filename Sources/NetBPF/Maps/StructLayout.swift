import CLibBPF

/// A C struct as an object's BTF describes it: its size and each member's byte offset and size.
/// Typed views check a Swift type against it, so a layout that drifted from the C is an error
/// naming the field when the view is made, not garbage in every record.
public struct StructLayout: Sendable, Equatable {
    /// One member of the struct.
    public struct Member: Sendable, Equatable {
        /// The member's C name ("" for an anonymous struct or union member).
        public var name: String
        /// Byte offset from the start of the struct (bitfields: the byte holding the first bit).
        public var offset: Int
        /// Bytes (bitfields: 0).
        public var size: Int
    }

    /// The name it was looked up by.
    public var name: String
    /// `sizeof` the struct, in bytes.
    public var size: Int
    /// The members in declaration order.
    public var members: [Member]

    /// The member called `name`, or nil.
    public func member(_ name: String) -> Member? { members.first { $0.name == name } }
}

extension BPFObject {
    /// The layout of `struct NAME` (or a typedef of one) in the object's BTF.
    /// - Throws: `BPFError(.notFound)` when the object has no BTF or no such struct.
    public func structLayout(named name: String) throws -> StructLayout {
        guard let btf = bpf_object__btf(handle.pointer) else {
            throw BPFError(.notFound, operation: "struct layout", subject: name, message: "object has no BTF", hint: "compile with -g")
        }
        var id = btf__find_by_name_kind(btf, name, BTFKind.structure)
        if id <= 0 {
            let typedef = btf__find_by_name_kind(btf, name, BTFKind.typedef)
            if typedef > 0 { id = btf__resolve_type(btf, UInt32(typedef)) }
        }
        guard id > 0, let layout = Self.layout(btf, typeID: UInt32(id), name: name) else {
            throw BPFError(.notFound, operation: "struct layout", subject: name, message: "no struct '\(name)' in the BTF of object '\(self.name)'",
                           hint: "a struct only used in a cast or sizeof may be left out of BTF: use it in a map or a variable")
        }
        return layout
    }

    /// The layout of a map's value type when it is a struct (typedefs followed), nil when the
    /// map has no BTF value type or it is not a struct (bpf_map__btf_value_type_id, BTF-defined maps).
    /// - Throws: `BPFError(.notFound)` for an unknown map.
    public func valueLayout(ofMap mapName: String) throws -> StructLayout? {
        guard let map = bpf_object__find_map_by_name(handle.pointer, mapName) else {
            throw BPFError(.notFound, operation: "find map", subject: mapName, message: "no map of that name in object '\(name)'")
        }
        guard let btf = bpf_object__btf(handle.pointer) else { return nil }
        let id = bpf_map__btf_value_type_id(map)
        guard id > 0 else { return nil }
        let resolved = btf__resolve_type(btf, id)
        guard resolved > 0, let type = btf__type_by_id(btf, UInt32(resolved)),
              let name = btf__name_by_offset(btf, type.pointee.name_off) else { return nil }
        return Self.layout(btf, typeID: UInt32(resolved), name: String(cString: name))
    }

    /// The struct with BTF id `typeID`, or nil when it is not a struct.
    private static func layout(_ btf: OpaquePointer, typeID: UInt32, name: String) -> StructLayout? {
        guard let type = btf__type_by_id(btf, typeID), (type.pointee.info >> 24) & 0x1f == BTFKind.structure else { return nil }
        let count = Int(type.pointee.info & 0xffff)
        let kindFlag = type.pointee.info >> 31 == 1
        let members = UnsafeRawPointer(type.advanced(by: 1)).assumingMemoryBound(to: btf_member.self)
        var out: [StructLayout.Member] = []
        for i in 0..<count {
            let m = members[i]
            let bits = kindFlag ? m.offset & 0xffffff : m.offset
            let bitfield = kindFlag && m.offset >> 24 != 0
            let memberName = btf__name_by_offset(btf, m.name_off).map { String(cString: $0) } ?? ""
            let size = bitfield ? 0 : Int(max(0, btf__resolve_size(btf, m.type)))
            out.append(.init(name: memberName, offset: Int(bits / 8), size: size))
        }
        return StructLayout(name: name, size: Int(type.pointee.size), members: out)
    }
}
