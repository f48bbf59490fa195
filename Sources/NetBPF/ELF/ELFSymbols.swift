import Glibc

/// A 64-bit little-endian ELF file (executable or shared library) mapped read-only: its function
/// and object symbols from .symtab and .dynsym, and its PT_LOAD program headers, which turn a
/// symbol's virtual address into the file offset a uprobe needs.
public final class ELFFile: Sendable {
    /// One entry of .symtab or .dynsym.
    public struct Symbol: Sendable, Equatable {
        /// The symbol's name, with its version for versioned .dynsym entries (`malloc@@GLIBC_2.2.5`).
        public var name: String
        /// st_value: the virtual address in the file's own address space.
        public var address: UInt64
        /// st_size in bytes; 0 when the file does not say.
        public var size: UInt64
        /// STT_FUNC (2), STT_OBJECT (1), STT_GNU_IFUNC (10) ...
        public var type: UInt8
        /// Whether it is code (STT_FUNC or STT_GNU_IFUNC): what a uprobe can go on.
        public var isFunction: Bool { type == 2 || type == 10 }
    }

    /// One PT_LOAD program header.
    public struct Segment: Sendable, Equatable {
        /// p_vaddr: where the segment is mapped in the file's address space.
        public var virtualAddress: UInt64
        /// p_offset: where its bytes start in the file.
        public var fileOffset: UInt64
        /// p_filesz.
        public var fileSize: UInt64
        /// p_memsz (larger than `fileSize` for .bss).
        public var memorySize: UInt64
        /// PF_X: the segment holds code.
        public var executable: Bool
    }

    /// The file it was read from.
    public let path: String
    /// ET_EXEC (2) or ET_DYN (3: PIE executables and shared libraries).
    public let fileType: UInt16
    /// The PT_LOAD segments, in program header order.
    public let segments: [Segment]
    /// Symbols sorted by address (functions and objects with a non-zero address), from
    /// .symtab when present, plus .dynsym.
    public let symbols: [Symbol]

    /// Maps `path` (mmap, read-only), reads its symbols and segments, and unmaps it.
    /// - Throws: `BPFError` with errno when it cannot be opened; `.invalidArgument` when it is not
    ///   a 64-bit little-endian ELF file.
    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw BPFError.system("open ELF file", subject: path, errno: errno) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw BPFError.system("stat", subject: path, errno: errno) }
        let size = Int(st.st_size)
        func bad(_ m: String) -> BPFError { BPFError(.invalidArgument, operation: "read ELF file", subject: path, message: m) }
        guard size >= 64, let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else {
            throw bad("not an ELF file (too short or cannot be mapped)")
        }
        defer { munmap(base, size) }
        let b = UnsafeRawBufferPointer(start: base, count: size)
        guard b[0] == 0x7f, b[1] == 0x45, b[2] == 0x4c, b[3] == 0x46 else { throw bad("not an ELF file") }
        guard b[4] == 2, b[5] == 1 else { throw bad("only 64-bit little-endian ELF files are supported") }
        func u16(_ o: Int) -> UInt16 { b.loadUnaligned(fromByteOffset: o, as: UInt16.self) }
        func u32(_ o: Int) -> UInt32 { b.loadUnaligned(fromByteOffset: o, as: UInt32.self) }
        func u64(_ o: Int) -> UInt64 { b.loadUnaligned(fromByteOffset: o, as: UInt64.self) }
        fileType = u16(16)
        let phoff = Int(u64(32)), shoff = Int(u64(40))
        let phentsize = Int(u16(54)), phnum = Int(u16(56)), shentsize = Int(u16(58)), shnum = Int(u16(60))

        var segs: [Segment] = []
        for i in 0..<phnum {
            let o = phoff + i * phentsize
            guard o + 56 <= size else { break }
            if u32(o) == 1 { // PT_LOAD
                segs.append(Segment(virtualAddress: u64(o + 16), fileOffset: u64(o + 8), fileSize: u64(o + 32),
                                    memorySize: u64(o + 40), executable: u32(o + 4) & 1 != 0))
            }
        }
        segments = segs

        // Section headers: find SHT_SYMTAB (2) and SHT_DYNSYM (11) with their string tables.
        struct Section { var type: UInt32; var offset: Int; var size: Int; var link: Int; var entsize: Int }
        var sections: [Section] = []
        if shoff > 0 && shoff + shnum * shentsize <= size {
            for i in 0..<shnum {
                let o = shoff + i * shentsize
                sections.append(Section(type: u32(o + 4), offset: Int(u64(o + 24)), size: Int(u64(o + 32)),
                                        link: Int(u32(o + 40)), entsize: Int(u64(o + 56))))
            }
        }
        var syms: [Symbol] = []
        var seen = Set<String>()
        for tableType in [UInt32(2), 11] {
            for s in sections where s.type == tableType && s.entsize >= 24 && s.link < sections.count {
                let strtab = sections[s.link]
                guard s.offset + s.size <= size, strtab.offset + strtab.size <= size else { continue }
                for j in 0..<(s.size / s.entsize) {
                    let o = s.offset + j * s.entsize
                    let nameOff = Int(u32(o)), info = b[o + 4], shndx = u16(o + 6)
                    let value = u64(o + 8), symSize = u64(o + 16)
                    let type = info & 0xf
                    guard shndx != 0, value != 0, type == 1 || type == 2 || type == 10, nameOff < strtab.size else { continue }
                    var end = strtab.offset + nameOff
                    while end < strtab.offset + strtab.size, b[end] != 0 { end += 1 }
                    let name = String(decoding: b[(strtab.offset + nameOff)..<end], as: UTF8.self)
                    guard !name.isEmpty, seen.insert(name + "@" + String(value)).inserted else { continue }
                    syms.append(Symbol(name: name, address: value, size: symSize, type: type))
                }
            }
        }
        symbols = syms.sorted { $0.address < $1.address }
    }

    /// Symbols by exact name; versioned names (`malloc@@GLIBC_2.2.5`) match their base name.
    public func symbols(named name: String) -> [Symbol] {
        symbols.filter { $0.name == name || ($0.name.hasPrefix(name + "@")) }
    }

    /// Converts a virtual address of this file to a file offset through the PT_LOAD segment
    /// holding it (what the uprobe PMU's config2 takes).
    public func fileOffset(ofAddress address: UInt64) -> UInt64? {
        for s in segments where address >= s.virtualAddress && address < s.virtualAddress + s.memorySize {
            return address - s.virtualAddress + s.fileOffset
        }
        return nil
    }

    /// The file offset of a function, for a uprobe.
    public func fileOffset(ofSymbol name: String) throws -> UInt64 {
        let matches = symbols(named: name).filter(\.isFunction)
        guard let symbol = matches.first else {
            let near = symbols.filter { $0.isFunction && $0.name.contains(name) }.prefix(5).map(\.name)
            throw BPFError(.notFound, operation: "resolve symbol", subject: "\(path):\(name)",
                           message: "no function '\(name)' in \(path) (.symtab/.dynsym)",
                           hint: near.isEmpty ? "list its functions with `nm -D \(path)`" : "similar: " + near.joined(separator: ", "))
        }
        guard let offset = fileOffset(ofAddress: symbol.address) else {
            throw BPFError(.invalidArgument, operation: "resolve symbol", subject: "\(path):\(name)",
                           message: "address 0x\(String(symbol.address, radix: 16)) is in no PT_LOAD segment")
        }
        return offset
    }

    /// The symbol containing `address` (a virtual address of this file) and the offset into it.
    public func symbolize(_ address: UInt64) -> (Symbol, UInt64)? {
        var lo = 0, hi = symbols.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if symbols[mid].address <= address { lo = mid + 1 } else { hi = mid }
        }
        guard lo > 0 else { return nil }
        let s = symbols[lo - 1]
        let off = address - s.address
        if s.size > 0 && off >= s.size && !(lo - 1 == symbols.count - 1) { return nil }
        return (s, off)
    }

    /// Glob match on function names (funccount's `u:lib:pattern`).
    public func functions(matching glob: String) -> [Symbol] {
        var seen = Set<String>()
        return symbols.filter { s in
            guard s.isFunction else { return false }
            let base = s.name.split(separator: "@").first.map(String.init) ?? s.name
            return fnmatch(glob, base, 0) == 0 && seen.insert(base).inserted
        }
    }
}

/// Finds the file behind a uprobe target: a path, a program on PATH, a library name ("c",
/// "libc", "libc.so.6") in a process's mappings or in the usual library directories.
public enum BinaryLocator {
    static let libraryDirectories = ["/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib", "/usr/local/lib"]

    /// The real path of `name`: a path as given, else a library in `pid`'s mappings, else in
    /// the library directories (versioned names first), else a program on PATH.
    /// - Throws: `BPFError(.notFound)` saying where it looked.
    public static func locate(_ name: String, pid: Int32? = nil) throws -> String {
        if name.contains("/") {
            guard access(name, R_OK) == 0 else {
                throw BPFError(.notFound, operation: "uprobe target", subject: name, errno: errno, message: "cannot read \(name): \(ErrnoName.describe(errno))")
            }
            return realPath(name)
        }
        let stems = name.hasPrefix("lib") ? [name] : ["lib" + name, name]
        func matches(_ file: String) -> Bool {
            stems.contains { file == $0 || file.hasPrefix($0 + ".so") || file.hasPrefix($0 + "-") && file.contains(".so") }
        }
        if let pid, let maps = readTextFile("/proc/\(pid)/maps") {
            for line in maps.split(separator: "\n") {
                guard let slash = line.firstIndex(of: "/") else { continue }
                let path = String(line[slash...])
                if matches(path.split(separator: "/").last.map(String.init) ?? "") { return path }
            }
        }
        for dir in libraryDirectories {
            // Versioned names first (libc.so.6 before the libc.so linker script).
            for file in listDirectory(dir).sorted(by: { $0.count > $1.count }) where matches(file) && file.contains(".so") {
                if isELF(dir + "/" + file) { return realPath(dir + "/" + file) }
            }
        }
        for dir in (getenv("PATH").map { String(cString: $0) } ?? "/usr/bin:/bin").split(separator: ":") {
            let p = "\(dir)/\(name)"
            if access(p, X_OK) == 0 { return realPath(p) }
        }
        throw BPFError(.notFound, operation: "uprobe target", subject: name,
                       message: "no executable or library named '\(name)' (searched \(pid.map { "pid \($0)'s mappings, " } ?? "")library directories and PATH)")
    }

    static func isELF(_ p: String) -> Bool {
        let fd = open(p, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var magic = [UInt8](repeating: 0, count: 4)
        return read(fd, &magic, 4) == 4 && magic == [0x7f, 0x45, 0x4c, 0x46]
    }

    static func realPath(_ p: String) -> String {
        guard let r = realpath(p, nil) else { return p }
        defer { free(r) }
        return String(cString: r)
    }
}
