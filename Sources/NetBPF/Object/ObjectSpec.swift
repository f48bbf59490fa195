import CLibBPF
import Glibc
import Synchronization

/// Owns one libbpf `struct bpf_object` (and the ELF bytes it was opened from). Every program and
/// map handed out keeps this alive, so a map never outlives the object behind its fd.
/// `@unchecked Sendable` only because C pointers are not: `pointer` and `bytes` never change, and
/// once loaded, libbpf's object is only read (iterating programs and maps, reading their fds).
/// What does change, the load result, is behind a mutex.
final class ObjectHandle: @unchecked Sendable {
    let pointer: OpaquePointer
    let name: String
    private let bytes: UnsafeMutableRawBufferPointer?
    /// nil until `BPFObjectSpec.load` succeeds; then what libbpf printed during load (verifier
    /// logs of programs with a log level set).
    private let loadResult = Mutex<String?>(nil)

    var loaded: Bool { loadResult.withLock { $0 != nil } }
    var loadLog: String { loadResult.withLock { $0 ?? "" } }
    func markLoaded(log: String) { loadResult.withLock { $0 = log } }

    init(pointer: OpaquePointer, name: String, bytes: UnsafeMutableRawBufferPointer?) {
        self.pointer = pointer
        self.name = name
        self.bytes = bytes
    }

    deinit {
        bpf_object__close(pointer)
        bytes?.deallocate()
    }

    var programPointers: [OpaquePointer] {
        var out: [OpaquePointer] = []
        var p = bpf_object__next_program(pointer, nil)
        while let prog = p { out.append(prog); p = bpf_object__next_program(pointer, prog) }
        return out
    }

    var mapPointers: [OpaquePointer] {
        var out: [OpaquePointer] = []
        var m = bpf_object__next_map(pointer, nil)
        while let map = m { out.append(map); m = bpf_object__next_map(pointer, map) }
        return out
    }
}

/// A program as described by an opened (not yet loaded) object. A snapshot: its fields are
/// `let`, since setting them would change nothing; change the object with `setType`,
/// `setAutoload`, ... on `BPFObjectSpec`.
public struct ProgramSpec: Sendable, Hashable {
    /// The C function's name.
    public let name: String
    /// The ELF section, e.g. "tc", "xdp", "tracepoint/syscalls/sys_enter_openat".
    public let section: String
    /// The program type libbpf derived from the section (or set with `setType`).
    public let type: ProgramType
    /// The attach type libbpf derived from the section; the kernel checks attaches against it.
    public let expectedAttachType: AttachType
    /// Instructions before relocation.
    public let instructionCount: Int
    /// Whether `load()` loads it (see `setAutoload`).
    public let autoload: Bool
}

/// A map as described by an opened object: a snapshot (change the map with `setMaxEntries`,
/// `setPinPath` on `BPFObjectSpec`, then read `maps` again).
public struct MapSpec: Sendable, Hashable {
    /// The map's name (libbpf's "OBJ.rodata" and the like for global data).
    public let name: String
    /// The map type.
    public let type: MapType
    /// Bytes of a key.
    public let keySize: UInt32
    /// Bytes of a value.
    public let valueSize: UInt32
    /// Capacity as declared, or as changed with `setMaxEntries`.
    public let maxEntries: UInt32
    /// map_flags as declared (BPF_F_NO_PREALLOC, ...).
    public let flags: UInt32
    /// .rodata, .data, .bss, .kconfig: maps libbpf makes for global variables.
    public let isInternal: Bool
    /// Where the map is pinned on load, or reused from (`setPinPath`); nil when not pinned.
    public let pinPath: String?
}

/// An opened, not yet loaded BPF object: the place to set map sizes, pin paths, global variables
/// and log levels. `load()` creates the maps and loads the programs; it never attaches anything.
///
/// libbpf: bpf_object__open_mem (files are read first, so the ELF header is checked), then
/// bpf_map__set_*, bpf_program__set_*.
///
/// Not Sendable: configure and load it on one thread (libbpf's open object is not thread-safe);
/// the loaded `BPFObject` is.
public final class BPFObjectSpec {
    let handle: ObjectHandle

    /// The object's name (the file name without .o, or what was passed with the bytes).
    public var name: String { handle.name }

    private init(handle: ObjectHandle) throws {
        self.handle = handle
        if handle.programPointers.isEmpty {
            throw BPFError(.invalidObject, operation: "open object", subject: handle.name,
                           message: "object has no programs",
                           hint: "BPF programs are functions placed in a section, e.g. SEC(\"tc\") or SEC(\"xdp\")")
        }
    }

    /// Opens a BPF ELF object file: reads it, checks the ELF header and BTF, then
    /// bpf_object__open_mem. Nothing reaches the kernel until `load()`.
    /// - Throws: `BPFError(.invalidObject)` for a file that is not a BPF object, is damaged or
    ///   has no programs; the errno of open/read otherwise.
    public static func open(path: String) throws -> BPFObjectSpec {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw BPFError.system("open object", subject: path, errno: errno) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw BPFError.system("open object", subject: path, errno: errno) }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw BPFError(.invalidObject, operation: "open object", subject: path, message: "not a regular file")
        }
        let bytes: [UInt8]
        do {
            bytes = try SystemCall.readAll(fd)
        } catch {
            throw BPFError.system("read object", subject: path, errno: error.errno)
        }
        let base = path.split(separator: "/").last.map(String.init) ?? path
        var name = base
        for suffix in [".bpf.o", ".o"] where name.hasSuffix(suffix) { name.removeLast(suffix.count); break }
        return try open(bytes: bytes[...], name: name, displayPath: path)
    }

    /// Opens a BPF ELF object from memory (for example the output of the in-process compiler),
    /// with the checks and errors of `open(path:)`.
    /// - Parameter name: the object's name, used in errors and as libbpf's object name.
    public static func open(bytes: some Collection<UInt8>, name: String) throws -> BPFObjectSpec {
        try open(bytes: bytes, name: name, displayPath: name)
    }

    /// Opens a BPF ELF object from memory and resolves its CO-RE relocations against the BTF in
    /// `coreBTFPath` (an ELF file with a .BTF section, or raw BTF) instead of the running
    /// kernel's /sys/kernel/btf/vmlinux (libbpf bpf_object_open_opts.btf_custom_path, 1.0).
    /// Programs compiled against this kernel's own vmlinux.h carry the kernel's types in their
    /// BTF, so their own object can serve: libbpf then never parses the 5 MB kernel BTF.
    public static func open(bytes: some Collection<UInt8>, name: String, coreBTFPath: String) throws -> BPFObjectSpec {
        try open(bytes: bytes, name: name, displayPath: name, coreBTFPath: coreBTFPath)
    }

    private static func open(bytes: some Collection<UInt8>, name: String, displayPath: String, coreBTFPath: String? = nil) throws -> BPFObjectSpec {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 16)
        // A memcpy for contiguous input (arrays, Data); the generic element-wise copy took ~30 ms
        // for a 650 KB object in release builds.
        let copied = bytes.withContiguousStorageIfAvailable { source -> Bool in
            if let base = source.baseAddress { buffer.baseAddress!.copyMemory(from: base, byteCount: source.count) }
            return true
        } ?? false
        if !copied { _ = buffer.initializeMemory(as: UInt8.self, from: bytes) }
        do {
            let view = UnsafeRawBufferPointer(rebasing: buffer[0..<bytes.count])
            try ELFHeaderCheck.validate(view, name: displayPath)
            if let btf = ELFSections.contents(of: ".BTF", in: Array(view)), let problem = BTFCheck.problem(btf) {
                throw BPFError(.invalidObject, operation: "open object", subject: displayPath, message: "malformed BTF: " + problem,
                               hint: "rebuild the object with clang -g -target bpf; the file looks damaged")
            }
        } catch {
            buffer.deallocate()
            throw error
        }
        let ((pointer, err), log): ((OpaquePointer?, Int32), String) = LibbpfLog.capture {
            name.withCString { cname in
                var opts = bpf_object_open_opts()
                opts.sz = MemoryLayout<bpf_object_open_opts>.size
                opts.object_name = cname
                guard let coreBTFPath else {
                    let p = bpf_object__open_mem(buffer.baseAddress, bytes.count, &opts)
                    return (p, errno)
                }
                return coreBTFPath.withCString { path in
                    opts.btf_custom_path = path
                    let p = bpf_object__open_mem(buffer.baseAddress, bytes.count, &opts)
                    return (p, errno)
                }
            }
        }
        guard let pointer else {
            buffer.deallocate()
            let detail = LibbpfOutput.lastLine(log)
            throw BPFError(.invalidObject, operation: "open object", subject: displayPath, errno: err,
                           message: detail.map { "\(ErrnoName.describe(err)): \($0)" } ?? ErrnoName.describe(err))
        }
        // libbpf copies what it keeps (instructions, BTF, initial map values) and ends its ELF
        // view of the buffer at the end of bpf_object__open_mem (bpf_object__elf_finish), so the
        // bytes are not held for the object's lifetime.
        buffer.deallocate()
        return try BPFObjectSpec(handle: ObjectHandle(pointer: pointer, name: name, bytes: nil))
    }

    /// The programs in the object, in ELF order.
    public var programs: [ProgramSpec] {
        handle.programPointers.map { p in
            ProgramSpec(name: String(cString: bpf_program__name(p)),
                        section: String(cString: bpf_program__section_name(p)),
                        type: ProgramType(rawValue: bpf_program__type(p).rawValue),
                        expectedAttachType: AttachType(rawValue: bpf_program__expected_attach_type(p).rawValue),
                        instructionCount: Int(bpf_program__insn_cnt(p)),
                        autoload: bpf_program__autoload(p))
        }
    }

    /// The maps in the object, including libbpf's internal maps for global variables.
    public var maps: [MapSpec] {
        handle.mapPointers.map { m in
            MapSpec(name: String(cString: bpf_map__name(m)),
                    type: MapType(rawValue: bpf_map__type(m).rawValue),
                    keySize: bpf_map__key_size(m), valueSize: bpf_map__value_size(m),
                    maxEntries: bpf_map__max_entries(m), flags: bpf_map__map_flags(m),
                    isInternal: bpf_map__is_internal(m),
                    pinPath: bpf_map__pin_path(m).map { String(cString: $0) })
        }
    }

    private func mapPointer(_ name: String) throws -> OpaquePointer {
        try checkNotLoaded()
        guard let m = bpf_object__find_map_by_name(handle.pointer, name) else {
            throw BPFError(.notFound, operation: "find map", subject: name,
                           message: "no map of that name in object '\(self.name)'",
                           hint: "maps here: " + maps.map(\.name).joined(separator: ", "))
        }
        return m
    }

    private func programPointer(_ name: String) throws -> OpaquePointer {
        try checkNotLoaded()
        guard let p = bpf_object__find_program_by_name(handle.pointer, name) else {
            throw BPFError(.notFound, operation: "find program", subject: name,
                           message: "no program of that name in object '\(self.name)'",
                           hint: "programs here: " + programs.map(\.name).joined(separator: ", "))
        }
        return p
    }

    private func checkNotLoaded() throws {
        if handle.loaded {
            throw BPFError(.state, operation: "configure object", subject: name,
                           message: "the object is already loaded; configure it before load()")
        }
    }

    /// Changes a map's capacity (bpf_map__set_max_entries).
    public func setMaxEntries(_ count: UInt32, forMap name: String) throws {
        let err = bpf_map__set_max_entries(try mapPointer(name), count)
        if err != 0 { throw BPFError.system("bpf_map__set_max_entries", subject: name, errno: err) }
    }

    /// Pins a map at `path` on load, or reuses the map already pinned there (bpf_map__set_pin_path).
    public func setPinPath(_ path: String?, forMap name: String) throws {
        let err = bpf_map__set_pin_path(try mapPointer(name), path)
        if err != 0 { throw BPFError.system("bpf_map__set_pin_path", subject: name, errno: err) }
    }

    /// Turns loading of one program on or off (bpf_program__set_autoload).
    public func setAutoload(_ enabled: Bool, forProgram name: String) throws {
        let err = bpf_program__set_autoload(try programPointer(name), enabled)
        if err != 0 { throw BPFError.system("bpf_program__set_autoload", subject: name, errno: err) }
    }

    /// Overrides the program type libbpf derived from the section name.
    public func setType(_ type: ProgramType, forProgram name: String) throws {
        let err = bpf_program__set_type(try programPointer(name), bpf_prog_type(type.rawValue))
        if err != 0 { throw BPFError.system("bpf_program__set_type", subject: name, errno: err) }
    }

    /// Asks the verifier for its log even when the program loads (1 = verbose, 2 = per-instruction,
    /// 4 = statistics); read it back from `BPFProgram.verifierLog`.
    public func setLogLevel(_ level: UInt32, forProgram name: String) throws {
        let err = bpf_program__set_log_level(try programPointer(name), level)
        if err != 0 { throw BPFError.system("bpf_program__set_log_level", subject: name, errno: err) }
    }

    /// Sets a global variable (`const volatile` in .rodata, or .data/.bss) before load.
    /// The Swift value's size must match the C variable's size.
    public func setGlobal<T: BitwiseCopyable>(_ variable: String, to value: T) throws {
        try checkNotLoaded()
        let location = try GlobalVariables.locate(variable, in: handle.pointer)
        guard location.size == MemoryLayout<T>.size else {
            throw BPFError(.sizeMismatch, operation: "set global", subject: variable,
                           message: "C variable is \(location.size) bytes, Swift value is \(MemoryLayout<T>.size)")
        }
        var size = 0
        guard let base = bpf_map__initial_value(location.map, &size).map(UnsafeMutableRawPointer.init(mutating:)), location.offset + location.size <= size else {
            throw BPFError(.state, operation: "set global", subject: variable, message: "section has no initial value")
        }
        withUnsafeBytes(of: value) { src in
            base.advanced(by: location.offset).copyMemory(from: src.baseAddress!, byteCount: src.count)
        }
    }

    /// Creates the maps and loads every program (bpf_object__load). On a verifier rejection the error
    /// names the program, the errno and the log's last meaningful line, with the whole log attached.
    public func load() throws -> BPFObject {
        try checkNotLoaded()
        let (err, log) = LibbpfLog.capture { bpf_object__load(handle.pointer) }
        guard err == 0 else { throw LibbpfOutput.loadError(errno: err, log: log, object: name, programs: programs) }
        handle.markLoaded(log: log)
        return BPFObject(handle: handle)
    }
}
