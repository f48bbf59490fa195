import CLibBPF

/// Finds a global variable of an opened object in its BTF data sections (.rodata, .data, .bss),
/// the way skeletons do, so it can be set before load without a generated skeleton.
enum GlobalVariables {
    struct Location { let map: OpaquePointer; let offset: Int; let size: Int }

    static func locate(_ name: String, in object: OpaquePointer) throws -> Location {
        guard let btf = bpf_object__btf(object) else {
            throw BPFError(.notFound, operation: "set global", subject: name,
                           message: "object has no BTF", hint: "compile with -g")
        }
        var m = bpf_object__next_map(object, nil)
        while let map = m {
            defer { m = bpf_object__next_map(object, map) }
            guard bpf_map__is_internal(map) else { continue }
            // libbpf names internal maps "<obj>.rodata" (truncated); the BTF DATASEC is ".rodata".
            let mapName = String(cString: bpf_map__name(map))
            for section in [".rodata", ".data", ".bss"] where mapName.hasSuffix(section) {
                let secID = btf__find_by_name_kind(btf, section, BTFKind.dataSection)
                guard secID > 0, let sec = btf__type_by_id(btf, UInt32(secID)) else { continue }
                let count = Int(sec.pointee.info & 0xffff)
                let vars = UnsafeRawPointer(sec.advanced(by: 1)).assumingMemoryBound(to: btf_var_secinfo.self)
                for i in 0..<count {
                    let v = vars[i]
                    guard let t = btf__type_by_id(btf, v.type), let cname = btf__name_by_offset(btf, t.pointee.name_off) else { continue }
                    if String(cString: cname) == name {
                        return Location(map: map, offset: Int(v.offset), size: Int(v.size))
                    }
                }
            }
        }
        throw BPFError(.notFound, operation: "set global", subject: name,
                       message: "no global variable of that name in .rodata, .data or .bss",
                       hint: "declare it at file scope, e.g. `const volatile __u32 \(name) = 0;`")
    }
}

/// BTF kinds from linux/btf.h (the constant names are ambiguous across the imported headers).
package enum BTFKind {
    package static let integer: UInt32 = 1
    package static let pointer: UInt32 = 2
    package static let array: UInt32 = 3
    package static let structure: UInt32 = 4
    package static let union: UInt32 = 5
    package static let enumeration: UInt32 = 6
    package static let forward: UInt32 = 7
    package static let typedef: UInt32 = 8
    package static let volatile: UInt32 = 9
    package static let const: UInt32 = 10
    package static let restrict: UInt32 = 11
    package static let function: UInt32 = 12
    package static let functionProto: UInt32 = 13
    package static let variable: UInt32 = 14
    package static let dataSection: UInt32 = 15
    package static let float: UInt32 = 16
    package static let declTag: UInt32 = 17
    package static let typeTag: UInt32 = 18
    package static let enum64: UInt32 = 19
}
