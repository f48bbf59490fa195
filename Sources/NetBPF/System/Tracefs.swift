import CNetBPFShims
import Glibc
import Synchronization

/// tracefs: where it is mounted, the tracepoints it lists, and their argument layouts.
public enum Tracefs {
    /// The tracefs mount (/sys/kernel/tracing, or debugfs's tracing/), mounting tracefs at
    /// /sys/kernel/tracing when neither is there (needs root).
    public static func root() throws -> String {
        if let cached = rootCache.withLock({ $0 }) { return cached }
        for candidate in ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"] where access(candidate + "/events", F_OK) == 0 {
            rootCache.withLock { $0 = candidate }
            return candidate
        }
        if mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, nil) == 0 {
            rootCache.withLock { $0 = "/sys/kernel/tracing" }
            return "/sys/kernel/tracing"
        }
        throw BPFError.system("mount tracefs", subject: "/sys/kernel/tracing", errno: errno,
                              hint: "mount it: mount -t tracefs tracefs /sys/kernel/tracing")
    }
    private static let rootCache = Mutex<String?>(nil)

    /// Every tracepoint as "category:event", sorted, optionally filtered by a glob on that name
    /// (`sched:*`, `*:sys_enter_open*`).
    public static func tracepoints(matching glob: String? = nil) throws -> [String] {
        let events = try root() + "/events"
        var out: [String] = []
        for category in listDirectory(events) {
            let dir = events + "/" + category
            guard isDirectory(dir) else { continue }
            for event in listDirectory(dir) where isDirectory(dir + "/" + event) {
                let name = category + ":" + event
                if let glob, fnmatch(glob, name, 0) != 0 { continue }
                out.append(name)
            }
        }
        return out.sorted()
    }

    /// The format of one tracepoint, read from events/CATEGORY/EVENT/format.
    public static func format(category: String, event: String) throws -> TracepointFormat {
        guard !category.contains("/"), !event.contains("/"), !category.isEmpty, !event.isEmpty else {
            throw BPFError(.invalidArgument, operation: "tracepoint format", subject: "\(category):\(event)",
                           message: "a tracepoint is CATEGORY:EVENT", hint: "list them with `netbpf trace tplist`")
        }
        let path = try root() + "/events/\(category)/\(event)/format"
        guard let text = readTextFile(path) else {
            let e = errno
            if e == ENOENT {
                throw BPFError(.notFound, operation: "tracepoint", subject: "\(category):\(event)", errno: e,
                               message: "no such tracepoint (\(path) does not exist)",
                               hint: "list them with `netbpf trace tplist '\(category):*'`")
            }
            throw BPFError.system("read tracepoint format", subject: path, errno: e)
        }
        return try TracepointFormat(parsing: text, category: category)
    }
}

/// The layout of a tracepoint's record, as tracefs describes it:
/// `field:const char * filename;	offset:24;	size:8;	signed:0;`
public struct TracepointFormat: Sendable, Encodable, Equatable {
    /// One `field:` line.
    public struct Field: Sendable, Encodable, Equatable {
        /// The C declaration as written ("const char * filename", "char comm[16]").
        public var declaration: String
        /// The field's name ("filename").
        public var name: String
        /// The C type without the name and array suffix ("const char *", "char").
        public var type: String
        /// Byte offset in the record.
        public var offset: Int
        /// Bytes in the record (4 for a `__data_loc` field).
        public var size: Int
        /// The format's `signed:` flag (0 for every syscalls:* argument, whatever its type).
        public var isSigned: Bool
        /// Array length for `type name[N]`, nil otherwise.
        public var arrayLength: Int?
        /// `__data_loc` fields hold (length << 16 | offset) of data later in the record.
        public var isDataLoc: Bool
        /// Fields before the first blank line: common_type, common_flags, common_pid ...
        public var isCommon: Bool

        /// How to show the value: a string for char arrays and __data_loc char[], a user-space
        /// pointer for `char *`, else an integer.
        public var isCharArray: Bool { (type.hasSuffix("char") && arrayLength != nil) || (isDataLoc && type.contains("char")) }
        /// Whether the C type is a pointer: its value is an address, in user space for syscall arguments.
        public var isPointer: Bool { type.hasSuffix("*") }
    }

    /// The tracepoint's category ("syscalls").
    public var category: String
    /// The tracepoint's name ("sys_enter_openat").
    public var name: String
    /// The tracepoint's id, what perf_event_open takes as config.
    public var id: UInt32
    /// Every field, the common ones first.
    public var fields: [Field]
    /// The kernel's print format line.
    public var printFormat: String

    /// Fields after the common ones: the tracepoint's own arguments.
    public var arguments: [Field] { fields.filter { !$0.isCommon } }
    /// Bytes of the record covered by the fields.
    public var recordSize: Int { fields.map { $0.offset + $0.size }.max() ?? 0 }

    /// The field called `name`, or nil.
    public func field(named name: String) -> Field? { fields.first { $0.name == name } }

    /// Parses the text of events/CATEGORY/EVENT/format.
    /// - Throws: `BPFError(.invalidArgument)` for a field line it cannot read or a text without `name:`.
    public init(parsing text: String, category: String) throws {
        self.category = category
        name = ""; id = 0; fields = []; printFormat = ""
        var common = true
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let line = rawLine.trimmingPrefixWhitespace()
            if line.isEmpty { if !fields.isEmpty { common = false }; continue }
            if line.hasPrefix("name: ") { name = String(line.dropFirst(6)) }
            else if line.hasPrefix("ID: ") { id = UInt32(line.dropFirst(4)) ?? 0 }
            else if line.hasPrefix("print fmt: ") { printFormat = String(line.dropFirst(11)) }
            else if line.hasPrefix("field:") {
                var declaration = "", offset = -1, size = -1, signed = false
                for part in line.split(separator: ";") {
                    let p = part.trimmingPrefixWhitespace()
                    if p.hasPrefix("field:") { declaration = String(p.dropFirst(6)) }
                    else if p.hasPrefix("offset:") { offset = Int(p.dropFirst(7)) ?? -1 }
                    else if p.hasPrefix("size:") { size = Int(p.dropFirst(5)) ?? -1 }
                    else if p.hasPrefix("signed:") { signed = p.dropFirst(7) == "1" }
                }
                guard offset >= 0, size >= 0, !declaration.isEmpty else {
                    throw BPFError(.invalidArgument, operation: "parse tracepoint format", subject: "\(category):\(name)",
                                   message: "cannot read field line '\(line)'")
                }
                fields.append(Self.field(declaration, offset: offset, size: size, signed: signed, common: common))
            }
        }
        guard !name.isEmpty else {
            throw BPFError(.invalidArgument, operation: "parse tracepoint format", subject: category, message: "no name: line")
        }
    }

    static func field(_ declaration: String, offset: Int, size: Int, signed: Bool, common: Bool) -> Field {
        var decl = declaration
        var dataLoc = false
        if decl.hasPrefix("__data_loc ") { dataLoc = true; decl.removeFirst(11) }
        var arrayLength: Int?
        var body = Substring(decl)
        if let open = body.lastIndex(of: "["), body.hasSuffix("]") {
            let inside = body[body.index(after: open)..<body.index(before: body.endIndex)]
            arrayLength = Int(inside) ?? (dataLoc ? nil : 0)
            body = body[..<open]
        }
        // The name is the last identifier.
        var end = body.endIndex
        while end > body.startIndex, body[body.index(before: end)] == " " { end = body.index(before: end) }
        var start = end
        while start > body.startIndex {
            let c = body[body.index(before: start)]
            if c.isLetter || c.isNumber || c == "_" { start = body.index(before: start) } else { break }
        }
        let name = String(body[start..<end])
        var type = String(body[..<start])
        while type.hasSuffix(" ") { type.removeLast() }
        if dataLoc && type.isEmpty { type = "char" }
        return Field(declaration: declaration, name: name, type: type, offset: offset, size: size, isSigned: signed,
                     arrayLength: arrayLength, isDataLoc: dataLoc, isCommon: common)
    }

    /// Reads one field from a record into a printable value.
    public func value(of field: Field, in record: UnsafeRawBufferPointer) -> TraceValue {
        guard field.offset + field.size <= record.count else { return .missing }
        if field.isDataLoc {
            let loc = record.loadUnaligned(fromByteOffset: field.offset, as: UInt32.self)
            let off = Int(loc & 0xffff), len = Int(loc >> 16)
            guard off + len <= record.count else { return .missing }
            return field.isCharArray ? .string(cString(record, off, len)) : .bytes(Array(record[off..<off + len]))
        }
        if field.isCharArray { return .string(cString(record, field.offset, field.size)) }
        if field.arrayLength != nil { return .bytes(Array(record[field.offset..<field.offset + field.size])) }
        var raw: UInt64 = 0
        switch field.size {
        case 1: raw = UInt64(record[field.offset])
        case 2: raw = UInt64(record.loadUnaligned(fromByteOffset: field.offset, as: UInt16.self))
        case 4: raw = UInt64(record.loadUnaligned(fromByteOffset: field.offset, as: UInt32.self))
        case 8: raw = record.loadUnaligned(fromByteOffset: field.offset, as: UInt64.self)
        default: return .bytes(Array(record[field.offset..<field.offset + field.size]))
        }
        // syscalls:* formats say signed:0 for every argument; trust the declared C type too.
        let signedType = ["int", "long", "long long", "pid_t", "s8", "s16", "s32", "s64", "ssize_t", "off_t", "loff_t", "time_t", "clockid_t"].contains(field.type)
        // A 32-bit C type in an 8-byte syscall slot: the upper half is not a sign extension.
        if signedType && ["int", "pid_t", "s32", "clockid_t"].contains(field.type) {
            return .signed(Int64(Int32(truncatingIfNeeded: raw)))
        }
        if (field.isSigned || signedType) && !field.isPointer {
            let shift = UInt64(64 - field.size * 8)
            return .signed(Int64(bitPattern: raw << shift) >> Int64(shift))
        }
        return field.isPointer ? .pointer(raw) : .unsigned(raw)
    }

    private func cString(_ r: UnsafeRawBufferPointer, _ off: Int, _ len: Int) -> String {
        var end = off
        while end < off + len, r[end] != 0 { end += 1 }
        return String(decoding: r[off..<end], as: UTF8.self)
    }
}

/// One decoded tracepoint field.
public enum TraceValue: Sendable, Equatable, CustomStringConvertible, Encodable {
    /// A signed integer field, sign-extended from its size.
    case signed(Int64)
    /// An unsigned integer field.
    case unsigned(UInt64)
    /// A pointer field's address.
    case pointer(UInt64)
    /// A char array, `__data_loc char[]`, or a user string the program copied.
    case string(String)
    /// Another array, or a field of an unusual size.
    case bytes([UInt8])
    /// The field lies outside the record.
    case missing

    /// The value as `trace` prints it: numbers in decimal, pointers in hex, "?" when missing.
    public var description: String {
        switch self {
        case .signed(let v): return String(v)
        case .unsigned(let v): return String(v)
        case .pointer(let v): return "0x" + String(v, radix: 16)
        case .string(let s): return s
        case .bytes(let b): return b.map { String($0) }.joined(separator: ",")
        case .missing: return "?"
        }
    }

    /// Encodes as a JSON number, string, array of numbers, or null when missing.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .signed(let v): try c.encode(v)
        case .unsigned(let v), .pointer(let v): try c.encode(v)
        case .string(let s): try c.encode(s)
        case .bytes(let b): try c.encode(b)
        case .missing: try c.encodeNil()
        }
    }
}

extension Substring {
    func trimmingPrefixWhitespace() -> Substring {
        var s = self
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\r" { s.removeLast() }
        return s
    }
}

/// Reads a whole (small, procfs/sysfs/tracefs) file; nil with errno set on failure.
package func readTextFile(_ path: String) -> String? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    guard let bytes = try? SystemCall.readAll(fd) else { return nil }
    return String(decoding: bytes, as: UTF8.self)
}

package func listDirectory(_ path: String) -> [String] {
    guard let dir = opendir(path) else { return [] }
    defer { closedir(dir) }
    var names: [String] = []
    while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
        if name != "." && name != ".." { names.append(name) }
    }
    return names
}

package func isDirectory(_ path: String) -> Bool {
    var st = stat()
    return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
}
