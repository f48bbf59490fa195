import CLibBPF
import CNetBPFShims
import Glibc

/// Flags for map updates (BPF_ANY, BPF_NOEXIST, BPF_EXIST, BPF_F_LOCK).
public struct UpdateFlags: OptionSet, Sendable {
    /// The `flags` argument of BPF_MAP_UPDATE_ELEM.
    public let rawValue: UInt64
    /// Flags by value, for ones without a static member here.
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    /// Create or replace (BPF_ANY).
    public static let any: UpdateFlags = []
    /// Only create; fail with EEXIST if the key exists (BPF_NOEXIST).
    public static let noExist = UpdateFlags(rawValue: 1)
    /// Only replace; fail with ENOENT if the key is missing (BPF_EXIST).
    public static let exist = UpdateFlags(rawValue: 2)
    /// Update under the value's bpf_spin_lock (BPF_F_LOCK, 5.1).
    public static let lock = UpdateFlags(rawValue: 4)
}

/// How a dump walked the map.
public enum DumpMethod: String, Sendable {
    /// BPF_MAP_LOOKUP_BATCH (kernel 5.6): thousands of entries per system call.
    case batch
    /// BPF_MAP_GET_NEXT_KEY + BPF_MAP_LOOKUP_ELEM: two system calls per entry.
    case perKey = "per-key"
}

/// One key/value pair as raw bytes. Per-CPU values hold every possible CPU's value, 8-byte aligned.
public struct MapEntry: Sendable, Equatable {
    /// `BPFMap.keySize` bytes.
    public var key: [UInt8]
    /// `BPFMap.valueBufferSize` bytes: every possible CPU's value for per-CPU maps.
    public var value: [UInt8]
    /// An entry from its bytes, for fakes and tests.
    public init(key: [UInt8], value: [UInt8]) { self.key = key; self.value = value }
}

/// A BPF map in the kernel, with untyped (byte) access. Typed views (`HashMap`, `ArrayMap`, ...)
/// sit on top of it and check sizes once.
public final class BPFMap: Sendable {
    /// What keeps `fd` open: the loaded object it came from, or its own duplicate.
    private let owner: any AnyObject & Sendable
    /// The map's fd; valid while this object lives.
    public let fd: Int32
    /// The kernel's description of the map, read once when this object was made.
    public let info: MapInfo
    /// Possible CPUs (libbpf_num_possible_cpus): the number of slots in a per-CPU value.
    public let possibleCPUs: Int

    init(object: ObjectHandle, pointer: OpaquePointer) throws {
        let fd = bpf_map__fd(pointer)
        guard fd >= 0 else {
            throw BPFError(.state, operation: "map", subject: String(cString: bpf_map__name(pointer)),
                           message: "map was not created (object not loaded, or autocreate off)")
        }
        owner = object
        self.fd = fd
        info = try MapInfo(fd: fd)
        possibleCPUs = Int(max(libbpf_num_possible_cpus(), 1))
    }

    init(fd: OwnedFD) throws {
        owner = fd
        self.fd = fd.rawValue
        info = try MapInfo(fd: fd.rawValue)
        possibleCPUs = Int(max(libbpf_num_possible_cpus(), 1))
    }

    /// Opens a map pinned in bpffs (bpf_obj_get: BPF_OBJ_GET, 4.4).
    /// - Throws: `BPFError(.notFound)` when nothing is pinned at `path`, `.invalidArgument` when
    ///   the pinned object is not a map.
    public static func open(pinned path: String) throws -> BPFMap {
        let fd = bpf_obj_get(path)
        guard fd >= 0 else {
            let e = errno
            throw BPFError.system("open pinned map", subject: path, errno: e,
                                  hint: e == ENOENT ? "nothing is pinned there; `netbpf map list` shows loaded maps" : nil)
        }
        let owned = OwnedFD(owning: fd)
        try FDKind.require(.map, fd: fd, path: path)
        return try BPFMap(fd: owned)
    }

    /// Opens a map by id (bpf_map_get_fd_by_id: BPF_MAP_GET_FD_BY_ID, 4.13; needs CAP_SYS_ADMIN).
    /// - Throws: `BPFError(.notFound)` when no map has that id.
    public static func open(id: UInt32) throws -> BPFMap {
        let fd = bpf_map_get_fd_by_id(id)
        guard fd >= 0 else { throw BPFError.system("open map", subject: "id \(id)", errno: errno) }
        return try BPFMap(fd: OwnedFD(owning: fd))
    }

    /// The map's name as the kernel keeps it (at most 15 bytes).
    public var name: String { info.name }
    /// The map type.
    public var type: MapType { info.type }
    /// Bytes of a key.
    public var keySize: Int { Int(info.keySize) }
    /// Bytes of one value (of one CPU's value, for per-CPU maps; see `valueBufferSize`).
    public var valueSize: Int { Int(info.valueSize) }
    /// The most entries the map holds.
    public var maxEntries: Int { Int(info.maxEntries) }

    /// Bytes of one value as user space reads it: per-CPU maps hold one 8-byte-aligned slot per CPU.
    public var valueBufferSize: Int {
        type.isPerCPU ? (valueSize + 7) / 8 * 8 * possibleCPUs : valueSize
    }

    // MARK: single elements

    /// Looks `key` up into `value` (BPF_MAP_LOOKUP_ELEM). Returns false when the key is absent.
    public func lookup(key: UnsafeRawPointer, into value: UnsafeMutableRawPointer) throws -> Bool {
        if bpf_map_lookup_elem(fd, key, value) == 0 { return true }
        let e = errno
        if e == ENOENT { return false }
        throw BPFError.system("BPF_MAP_LOOKUP_ELEM", subject: name, errno: e)
    }

    /// The value stored under `key`, or nil.
    public func lookup(key: [UInt8]) throws -> [UInt8]? {
        try checkKey(key)
        var value = [UInt8](repeating: 0, count: valueBufferSize)
        let found = try key.withUnsafeBytes { k in try value.withUnsafeMutableBytes { try lookup(key: k.baseAddress!, into: $0.baseAddress!) } }
        return found ? value : nil
    }

    /// Stores `value` under `key` (BPF_MAP_UPDATE_ELEM).
    public func update(key: UnsafeRawPointer, value: UnsafeRawPointer, flags: UpdateFlags = .any) throws {
        if bpf_map_update_elem(fd, key, value, flags.rawValue) != 0 {
            let e = errno
            var hint: String?
            if e == E2BIG {
                hint = type.isArrayLike || type == .progArray ? "the index is past max_entries (\(maxEntries))"
                    : "the map is full (max_entries \(maxEntries)); use an LRU hash or raise max_entries"
            }
            if e == EEXIST && flags.contains(.noExist) { hint = "the key exists and noExist was asked" }
            if e == ENOENT && flags.contains(.exist) { hint = "the key does not exist and exist was asked" }
            throw BPFError.system("BPF_MAP_UPDATE_ELEM", subject: name, errno: e, hint: hint)
        }
    }

    /// Stores `value` under `key` (BPF_MAP_UPDATE_ELEM).
    /// - Throws: `BPFError(.sizeMismatch)` unless `key` is `keySize` and `value` is
    ///   `valueBufferSize` bytes; the kernel's errno otherwise (E2BIG: the map is full).
    public func update(key: [UInt8], value: [UInt8], flags: UpdateFlags = .any) throws {
        try checkKey(key)
        guard value.count == valueBufferSize else {
            throw BPFError(.sizeMismatch, operation: "update", subject: name,
                           message: "value is \(value.count) bytes, map '\(name)' takes \(valueBufferSize)"
                               + (type.isPerCPU ? " (\(possibleCPUs) CPUs x \((valueSize + 7) / 8 * 8))" : ""))
        }
        try key.withUnsafeBytes { k in try value.withUnsafeBytes { try update(key: k.baseAddress!, value: $0.baseAddress!, flags: flags) } }
    }

    /// Deletes `key` (BPF_MAP_DELETE_ELEM). Returns false when it was not there.
    @discardableResult
    public func delete(key: UnsafeRawPointer) throws -> Bool {
        if bpf_map_delete_elem(fd, key) == 0 { return true }
        let e = errno
        if e == ENOENT { return false }
        var hint: String?
        if e == EINVAL && type.isArrayLike { hint = "array map elements cannot be deleted; write zeros instead" }
        throw BPFError.system("BPF_MAP_DELETE_ELEM", subject: name, errno: e, hint: hint)
    }

    /// Deletes `key` (BPF_MAP_DELETE_ELEM). Returns false when it was not there.
    /// - Throws: `BPFError(.sizeMismatch)` unless `key` is `keySize` bytes; EINVAL for array maps,
    ///   whose elements cannot be deleted.
    @discardableResult
    public func delete(key: [UInt8]) throws -> Bool {
        try checkKey(key)
        return try key.withUnsafeBytes { try delete(key: $0.baseAddress!) }
    }

    /// The key after `key` in the kernel's order, or the first key when `key` is nil (BPF_MAP_GET_NEXT_KEY).
    public func nextKey(after key: UnsafeRawPointer?, into next: UnsafeMutableRawPointer) throws -> Bool {
        if bpf_map_get_next_key(fd, key, next) == 0 { return true }
        let e = errno
        if e == ENOENT { return false }
        throw BPFError.system("BPF_MAP_GET_NEXT_KEY", subject: name, errno: e)
    }

    /// Every key, in the kernel's order.
    public func keys() throws -> [[UInt8]] {
        var out: [[UInt8]] = []
        var current: [UInt8]? = nil
        var next = [UInt8](repeating: 0, count: keySize)
        while true {
            let found: Bool = try next.withUnsafeMutableBytes { n in
                if let c = current { return try c.withUnsafeBytes { try nextKey(after: $0.baseAddress!, into: n.baseAddress!) } }
                return try nextKey(after: nil, into: n.baseAddress!)
            }
            if !found { return out }
            out.append(next)
            current = next
        }
    }

    private func checkKey(_ key: [UInt8]) throws {
        guard key.count == keySize else {
            throw BPFError(.sizeMismatch, operation: "map key", subject: name,
                           message: "key is \(key.count) bytes, map '\(name)' takes \(keySize)")
        }
    }

    // MARK: dumps

    /// Walks every entry, in chunks: `body` receives `count` packed keys and values (values are
    /// `valueBufferSize` apart). Uses BPF_MAP_LOOKUP_BATCH where the map type has it and falls back
    /// to get-next-key + lookup otherwise, or when `method` is `.perKey`.
    @discardableResult
    public func forEachChunk(batchSize: Int = 4096, method: DumpMethod = .batch,
                             _ body: (_ keys: UnsafeRawBufferPointer, _ values: UnsafeRawBufferPointer, _ count: Int) throws -> Void) throws -> DumpMethod {
        if type == .ringbuf || type.rawValue == 31 /* user_ringbuf */ {
            throw BPFError(.unsupported, operation: "dump", subject: name, message: "a \(type) map has no keys: its records are consumed, not looked up",
                           hint: "read it with RingBuffer (or EventStream.ringBuffer)")
        }
        return try forEachChunk(batchSize: batchSize, method: method, calls: .kernel, body)
    }

    /// `forEachChunk` with the batch system call given: the seam tests use to make the kernel
    /// answer ENOSPC or EINVAL, so the growth and fallback paths run on a real map.
    func forEachChunk(batchSize: Int, method: DumpMethod, calls: MapBatchCalls,
                      _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer, Int) throws -> Void) throws -> DumpMethod {
        if method == .batch && type.supportsBatchLookup {
            if try batchWalk(batchSize: max(batchSize, 1), calls: calls, body) { return .batch }
        }
        try perKeyWalk(body)
        return .perKey
    }

    /// Returns false (having called `body` for nothing) if the kernel has no batch ops for this map.
    private func batchWalk(batchSize: Int, calls: MapBatchCalls, _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer, Int) throws -> Void) throws -> Bool {
        var capacity = batchSize
        let tokenSize = max(keySize, 8)
        let inToken = UnsafeMutableRawPointer.allocate(byteCount: tokenSize, alignment: 8)
        let outToken = UnsafeMutableRawPointer.allocate(byteCount: tokenSize, alignment: 8)
        defer { inToken.deallocate(); outToken.deallocate() }
        var keys = UnsafeMutableRawBufferPointer.allocate(byteCount: capacity * keySize, alignment: 8)
        var values = UnsafeMutableRawBufferPointer.allocate(byteCount: capacity * valueBufferSize, alignment: 8)
        defer { keys.deallocate(); values.deallocate() }
        var first = true
        while true {
            var count = UInt32(capacity)
            let err = calls.lookup(fd, first ? nil : inToken, outToken, keys.baseAddress!, values.baseAddress!, &count)
            if err != 0 && err != -ENOENT {
                if first && [EINVAL, ENOTSUP, 524, ENOSYS].contains(-err) { return false }
                if -err == ENOSPC {
                    // One bucket holds more entries than fit: grow and retry the same position.
                    capacity *= 4
                    keys.deallocate(); values.deallocate()
                    keys = .allocate(byteCount: capacity * keySize, alignment: 8)
                    values = .allocate(byteCount: capacity * valueBufferSize, alignment: 8)
                    continue
                }
                throw BPFError.system("BPF_MAP_LOOKUP_BATCH", subject: name, errno: err)
            }
            if count > 0 {
                try body(UnsafeRawBufferPointer(rebasing: keys[0..<Int(count) * keySize]),
                         UnsafeRawBufferPointer(rebasing: values[0..<Int(count) * valueBufferSize]), Int(count))
            }
            if err == -ENOENT { return true }
            inToken.copyMemory(from: outToken, byteCount: tokenSize)
            first = false
        }
    }

    private func perKeyWalk(_ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer, Int) throws -> Void) throws {
        let key = UnsafeMutableRawBufferPointer.allocate(byteCount: max(keySize, 1), alignment: 8)
        let next = UnsafeMutableRawBufferPointer.allocate(byteCount: max(keySize, 1), alignment: 8)
        let value = UnsafeMutableRawBufferPointer.allocate(byteCount: max(valueBufferSize, 1), alignment: 8)
        defer { key.deallocate(); next.deallocate(); value.deallocate() }
        var hasKey = false
        while try nextKey(after: hasKey ? UnsafeRawPointer(key.baseAddress!) : nil, into: next.baseAddress!) {
            // An entry deleted between the two calls is skipped, not an error.
            let found: Bool
            if type.holdsFileDescriptors {
                found = (try? lookup(key: next.baseAddress!, into: value.baseAddress!)) ?? false
            } else {
                found = try lookup(key: next.baseAddress!, into: value.baseAddress!)
            }
            if found {
                try body(UnsafeRawBufferPointer(rebasing: next[0..<keySize]), UnsafeRawBufferPointer(rebasing: value[0..<valueBufferSize]), 1)
            }
            key.copyMemory(from: UnsafeRawBufferPointer(next))
            hasKey = true
        }
    }

    /// Every entry as bytes (batch where possible).
    public func dump(method: DumpMethod = .batch) throws -> [MapEntry] {
        var out: [MapEntry] = []
        out.reserveCapacity(min(maxEntries, 1 << 20))
        let ks = keySize, vs = valueBufferSize
        try forEachChunk(method: method) { keys, values, count in
            for i in 0..<count {
                out.append(MapEntry(key: Array(keys[(i * ks)..<((i + 1) * ks)]),
                                    value: Array(values[(i * vs)..<((i + 1) * vs)])))
            }
        }
        return out
    }

    /// Stores `count` packed keys and values in one system call (BPF_MAP_UPDATE_BATCH, 5.6),
    /// falling back to one update per entry where the kernel has no batch update for the map type.
    /// The kernel's batch update takes only BPF_F_LOCK per element, so `.noExist` and `.exist`
    /// are honoured by updating entry by entry.
    public func update(batchOf count: Int, keys: UnsafeRawPointer, values: UnsafeRawPointer, flags: UpdateFlags = .any) throws {
        try update(batchOf: count, keys: keys, values: values, flags: flags, calls: .kernel)
    }

    /// `update(batchOf:)` with the batch system call given (the test seam).
    func update(batchOf count: Int, keys: UnsafeRawPointer, values: UnsafeRawPointer, flags: UpdateFlags, calls: MapBatchCalls) throws {
        func perEntry(from start: Int) throws {
            for i in start..<count { try update(key: keys + i * keySize, value: values + i * valueBufferSize, flags: flags) }
        }
        if flags.contains(.noExist) || flags.contains(.exist) { return try perEntry(from: 0) }
        var done = 0
        while done < count {
            var n = UInt32(count - done)
            let err = calls.update(fd, keys + done * keySize, values + done * valueBufferSize, &n, flags.rawValue & UpdateFlags.lock.rawValue)
            if err == 0 { done += Int(n); continue }
            if done == 0 && [EINVAL, ENOTSUP, 524, ENOSYS].contains(-err) {
                return try perEntry(from: 0)
            }
            throw BPFError.system("BPF_MAP_UPDATE_BATCH", subject: name, errno: err,
                                  hint: -err == E2BIG ? "the map is full (max_entries \(maxEntries))" : nil)
        }
    }

    /// Pins the map in bpffs (BPF_OBJ_PIN).
    public func pin(at path: String) throws {
        try Pinning.prepareParent(of: path)
        if bpf_obj_pin(fd, path) != 0 { throw BPFError.system("pin map", subject: path, errno: errno) }
    }
}

/// The two batch system calls a map's dumps and bulk updates make (BPF_MAP_LOOKUP_BATCH and
/// BPF_MAP_UPDATE_BATCH, 5.6), as values: `.kernel` calls them; a test wraps them to answer
/// ENOSPC or EINVAL and check the fallbacks. Each returns 0 or a negative errno.
struct MapBatchCalls: Sendable {
    /// (fd, in-token or nil, out-token, keys, values, count in/out) -> 0 or -errno.
    var lookup: @Sendable (Int32, UnsafeMutableRawPointer?, UnsafeMutableRawPointer, UnsafeMutableRawPointer, UnsafeMutableRawPointer, UnsafeMutablePointer<UInt32>) -> Int32
    /// (fd, keys, values, count in/out, element flags) -> 0 or -errno.
    var update: @Sendable (Int32, UnsafeRawPointer, UnsafeRawPointer, UnsafeMutablePointer<UInt32>, UInt64) -> Int32

    static let kernel = MapBatchCalls(
        lookup: { fd, inToken, outToken, keys, values, count in nb_map_lookup_batch(fd, inToken, outToken, keys, values, count, 0) },
        update: { fd, keys, values, count, flags in nb_map_update_batch(fd, keys, values, count, flags, 0) })
}
