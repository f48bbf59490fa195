import CLibBPF

/// A loaded BPF object: its maps exist in the kernel and its programs are verified.
/// Programs and maps taken from it keep it alive; when the last reference goes, libbpf closes it
/// (maps and programs that are pinned or attached through a link stay in the kernel).
public final class BPFObject: Sendable {
    let handle: ObjectHandle
    /// Everything libbpf printed during load (verifier logs of programs with a log level set).
    public var loadLog: String { handle.loadLog }

    init(handle: ObjectHandle) {
        self.handle = handle
    }

    /// Opens, configures (optionally) and loads an object file in one step
    /// (`BPFObjectSpec.open(path:)`, then `configure`, then `load()`).
    /// - Throws: what those throw: `BPFError(.invalidObject)` for a file libbpf cannot open,
    ///   `.verifier` with the log for a rejected program, or what `configure` throws.
    public static func load(path: String, configure: (BPFObjectSpec) throws -> Void = { _ in }) throws -> BPFObject {
        let spec = try BPFObjectSpec.open(path: path)
        try configure(spec)
        return try spec.load()
    }

    /// The object's name: the file name without `.o`/`.bpf.o`, or the name given with the bytes.
    public var name: String { handle.name }

    /// Loaded programs, in ELF order (programs with autoload off are left out).
    public var programs: [BPFProgram] {
        handle.programPointers.filter { bpf_program__fd($0) >= 0 }.map { BPFProgram(object: handle, pointer: $0) }
    }

    /// Maps the load created, including internal ones (.rodata, .bss, ...); maps with
    /// autocreate off have no fd and are left out.
    /// - Throws: `BPFError` when the kernel will not describe a created map (bpf_obj_get_info_by_fd).
    public var maps: [BPFMap] {
        get throws {
            try handle.mapPointers.filter { bpf_map__fd($0) >= 0 }.map { try BPFMap(object: handle, pointer: $0) }
        }
    }

    /// The loaded program whose C function is `name` (bpf_object__find_program_by_name).
    /// - Throws: `BPFError(.notFound)`, its hint listing the programs there are, when there is
    ///   none of that name or it was not loaded (autoload off).
    public func program(named name: String) throws -> BPFProgram {
        guard let p = bpf_object__find_program_by_name(handle.pointer, name), bpf_program__fd(p) >= 0 else {
            throw BPFError(.notFound, operation: "find program", subject: name,
                           message: "no loaded program of that name in object '\(self.name)'",
                           hint: "programs here: " + programs.map(\.name).joined(separator: ", "))
        }
        return BPFProgram(object: handle, pointer: p)
    }

    /// The map called `name` (bpf_object__find_map_by_name); global-data maps also answer to
    /// their section name (".rodata", ".bss").
    /// - Throws: `BPFError(.notFound)`, its hint listing the maps there are.
    public func map(named name: String) throws -> BPFMap {
        guard let m = bpf_object__find_map_by_name(handle.pointer, name) else {
            throw BPFError(.notFound, operation: "find map", subject: name,
                           message: "no map of that name in object '\(self.name)'",
                           hint: "maps here: " + handle.mapPointers.map { String(cString: bpf_map__name($0)) }.joined(separator: ", "))
        }
        return try BPFMap(object: handle, pointer: m)
    }
}
