import Glibc

/// Checks, once, that a map has an expected type and that Swift's key/value types have the
/// kernel's sizes. Swift structs are not tail-padded like C structs: share key/value structs
/// through a C header (imported types keep C's layout) or make the sizes match by hand.
func checkView(_ map: BPFMap, types: [MapType], key: Int?, value: Int, view: String) throws {
    guard types.contains(map.type) else {
        throw BPFError(.wrongMapType, operation: view, subject: map.name,
                       message: "map is \(map.type), this view needs " + types.map(\.description).joined(separator: " or "))
    }
    if let key, key != map.keySize {
        throw BPFError(.sizeMismatch, operation: view, subject: map.name,
                       message: "Swift key type is \(key) bytes, map key is \(map.keySize)")
    }
    if value != map.valueSize {
        throw BPFError(.sizeMismatch, operation: view, subject: map.name,
                       message: "Swift value type is \(value) bytes, map value is \(map.valueSize)")
    }
}

/// A hash map (BPF_MAP_TYPE_HASH, 3.19; LRU_HASH, 4.10) viewed with Swift key and value types.
public struct HashMap<Key: BitwiseCopyable, Value: BitwiseCopyable>: Sendable {
    /// The map underneath, for byte-level access.
    public let map: BPFMap

    /// A view of `map`.
    /// - Throws: `BPFError(.wrongMapType)` unless it is a hash or LRU hash, `.sizeMismatch` unless
    ///   `Key` and `Value` have the map's key and value sizes.
    public init(_ map: BPFMap) throws {
        try checkView(map, types: [.hash, .lruHash], key: MemoryLayout<Key>.size, value: MemoryLayout<Value>.size, view: "HashMap")
        self.map = map
    }

    /// The value under `key`, or nil.
    public func lookup(_ key: Key) throws -> Value? {
        try withUnsafeTemporaryAllocation(of: Value.self, capacity: 1) { out in
            try withUnsafeBytes(of: key) { k in
                try map.lookup(key: k.baseAddress!, into: out.baseAddress!) ? out[0] : nil
            }
        }
    }

    /// Stores `value` under `key` (BPF_MAP_UPDATE_ELEM).
    /// - Throws: `BPFError` with the errno: E2BIG when the map is full, EEXIST/ENOENT when
    ///   `flags` is `.noExist`/`.exist` and the key is/is not there.
    public func update(_ key: Key, _ value: Value, flags: UpdateFlags = .any) throws {
        try withUnsafeBytes(of: key) { k in try withUnsafeBytes(of: value) { try map.update(key: k.baseAddress!, value: $0.baseAddress!, flags: flags) } }
    }

    /// Deletes `key` (BPF_MAP_DELETE_ELEM); false when it was not there.
    @discardableResult
    public func delete(_ key: Key) throws -> Bool {
        try withUnsafeBytes(of: key) { try map.delete(key: $0.baseAddress!) }
    }

    /// Every entry (BPF_MAP_LOOKUP_BATCH, 5.6: thousands per system call; get-next-key on older
    /// kernels or with `method: .perKey`).
    public func entries(method: DumpMethod = .batch) throws -> [(key: Key, value: Value)] {
        var out: [(key: Key, value: Value)] = []
        out.reserveCapacity(min(map.maxEntries, 1 << 20))
        let ks = map.keySize, vs = map.valueBufferSize
        try map.forEachChunk(method: method) { keys, values, count in
            for i in 0..<count {
                out.append((keys.loadUnaligned(fromByteOffset: i * ks, as: Key.self),
                            values.loadUnaligned(fromByteOffset: i * vs, as: Value.self)))
            }
        }
        return out
    }

    /// Every key, read as `entries()` reads them.
    public func keys() throws -> [Key] { try entries().map(\.key) }

    /// Stores many entries with BPF_MAP_UPDATE_BATCH (5.6), one by one where the kernel has no
    /// batch update or `flags` asks `.noExist`/`.exist`.
    public func update(_ entries: [(Key, Value)], flags: UpdateFlags = .any) throws {
        let keys = entries.map(\.0), values = entries.map(\.1)
        try keys.withUnsafeBytes { k in
            try values.withUnsafeBytes { v in
                guard MemoryLayout<Key>.stride == map.keySize, MemoryLayout<Value>.stride == map.valueBufferSize else {
                    for (key, value) in entries { try update(key, value, flags: flags) }
                    return
                }
                try map.update(batchOf: entries.count, keys: k.baseAddress!, values: v.baseAddress!, flags: flags)
            }
        }
    }
}

/// An LRU hash has the same interface as a hash.
public typealias LRUHashMap<Key: BitwiseCopyable, Value: BitwiseCopyable> = HashMap<Key, Value>

/// An array map (BPF_MAP_TYPE_ARRAY, 3.19): keys are indexes, every index always exists.
public struct ArrayMap<Value: BitwiseCopyable>: Sendable {
    /// The map underneath, for byte-level access.
    public let map: BPFMap

    /// A view of `map`.
    /// - Throws: `BPFError(.wrongMapType)` unless it is an array, `.sizeMismatch` unless `Value`
    ///   has the map's value size.
    public init(_ map: BPFMap) throws {
        try checkView(map, types: [.array], key: 4, value: MemoryLayout<Value>.size, view: "ArrayMap")
        self.map = map
    }

    /// The number of slots (max_entries); every index below it exists.
    public var count: Int { map.maxEntries }

    /// The value at `index` (BPF_MAP_LOOKUP_ELEM).
    /// - Throws: `BPFError(.invalidArgument)` when `index` is not below `count`.
    public func get(_ index: UInt32) throws -> Value {
        try checkIndex(index)
        return try withUnsafeTemporaryAllocation(of: Value.self, capacity: 1) { out in
            var k = index
            _ = try map.lookup(key: &k, into: out.baseAddress!)
            return out[0]
        }
    }

    /// Stores `value` at `index` (BPF_MAP_UPDATE_ELEM).
    /// - Throws: `BPFError(.invalidArgument)` when `index` is not below `count`.
    public func set(_ index: UInt32, _ value: Value) throws {
        try checkIndex(index)
        var k = index
        try withUnsafeBytes(of: value) { try map.update(key: &k, value: $0.baseAddress!) }
    }

    /// All values, index order (one batch call for small arrays).
    public func values() throws -> [Value] {
        var out = [Value]()
        out.reserveCapacity(count)
        let vs = map.valueBufferSize
        try map.forEachChunk { _, values, n in
            for i in 0..<n { out.append(values.loadUnaligned(fromByteOffset: i * vs, as: Value.self)) }
        }
        return out
    }

    private func checkIndex(_ index: UInt32) throws {
        guard Int(index) < count else {
            throw BPFError(.invalidArgument, operation: "ArrayMap", subject: map.name,
                           message: "index \(index) is out of range 0..<\(count)")
        }
    }
}

/// Shared code for per-CPU values: one slot per possible CPU, each 8-byte aligned.
enum PerCPU {
    static func decode<Value: BitwiseCopyable>(_ raw: UnsafeRawBufferPointer, cpus: Int, as: Value.Type) -> [Value] {
        let stride = (MemoryLayout<Value>.size + 7) / 8 * 8
        return (0..<cpus).map { raw.loadUnaligned(fromByteOffset: $0 * stride, as: Value.self) }
    }

    static func encode<Value: BitwiseCopyable>(_ values: [Value], cpus: Int, into raw: UnsafeMutableRawBufferPointer) throws {
        guard values.count == cpus else {
            throw BPFError(.sizeMismatch, operation: "per-CPU update", message: "\(values.count) values for \(cpus) possible CPUs")
        }
        let stride = (MemoryLayout<Value>.size + 7) / 8 * 8
        raw.initializeMemory(as: UInt8.self, repeating: 0)
        for (i, v) in values.enumerated() { raw.storeBytes(of: v, toByteOffset: i * stride, as: Value.self) }
    }
}

/// A per-CPU hash (BPF_MAP_TYPE_PERCPU_HASH, 4.6; LRU_PERCPU_HASH, 4.10): one value per possible CPU.
public struct PerCPUHashMap<Key: BitwiseCopyable, Value: BitwiseCopyable>: Sendable {
    /// The map underneath, for byte-level access.
    public let map: BPFMap

    /// A view of `map`.
    /// - Throws: `BPFError(.wrongMapType)` unless it is a per-CPU or LRU per-CPU hash,
    ///   `.sizeMismatch` unless `Key` and `Value` (one CPU's value) have the map's sizes.
    public init(_ map: BPFMap) throws {
        try checkView(map, types: [.perCPUHash, .lruPerCPUHash], key: MemoryLayout<Key>.size, value: MemoryLayout<Value>.size, view: "PerCPUHashMap")
        self.map = map
    }

    /// Each possible CPU's value, or nil when the key is absent.
    public func lookup(_ key: Key) throws -> [Value]? {
        let raw = UnsafeMutableRawBufferPointer.allocate(byteCount: map.valueBufferSize, alignment: 8)
        defer { raw.deallocate() }
        let found = try withUnsafeBytes(of: key) { try map.lookup(key: $0.baseAddress!, into: raw.baseAddress!) }
        return found ? PerCPU.decode(UnsafeRawBufferPointer(raw), cpus: map.possibleCPUs, as: Value.self) : nil
    }

    /// Stores one value per possible CPU (BPF_MAP_UPDATE_ELEM).
    /// - Throws: `BPFError(.sizeMismatch)` unless `values` has one value per possible CPU.
    public func update(_ key: Key, perCPU values: [Value], flags: UpdateFlags = .any) throws {
        let raw = UnsafeMutableRawBufferPointer.allocate(byteCount: map.valueBufferSize, alignment: 8)
        defer { raw.deallocate() }
        try PerCPU.encode(values, cpus: map.possibleCPUs, into: raw)
        try withUnsafeBytes(of: key) { try map.update(key: $0.baseAddress!, value: raw.baseAddress!, flags: flags) }
    }

    /// Deletes `key` (BPF_MAP_DELETE_ELEM); false when it was not there.
    @discardableResult
    public func delete(_ key: Key) throws -> Bool {
        try withUnsafeBytes(of: key) { try map.delete(key: $0.baseAddress!) }
    }

    /// Every key with each possible CPU's value (BPF_MAP_LOOKUP_BATCH where the kernel has it).
    public func entries() throws -> [(key: Key, values: [Value])] {
        var out: [(key: Key, values: [Value])] = []
        let ks = map.keySize, vs = map.valueBufferSize, cpus = map.possibleCPUs
        try map.forEachChunk { keys, values, count in
            for i in 0..<count {
                out.append((keys.loadUnaligned(fromByteOffset: i * ks, as: Key.self),
                            PerCPU.decode(UnsafeRawBufferPointer(rebasing: values[(i * vs)..<((i + 1) * vs)]), cpus: cpus, as: Value.self)))
            }
        }
        return out
    }
}

/// A per-CPU array (BPF_MAP_TYPE_PERCPU_ARRAY, 4.6): the usual home of hot counters.
public struct PerCPUArrayMap<Value: BitwiseCopyable>: Sendable {
    /// The map underneath, for byte-level access.
    public let map: BPFMap

    /// A view of `map`.
    /// - Throws: `BPFError(.wrongMapType)` unless it is a per-CPU array, `.sizeMismatch` unless
    ///   `Value` has the map's value size (one CPU's value).
    public init(_ map: BPFMap) throws {
        try checkView(map, types: [.perCPUArray], key: 4, value: MemoryLayout<Value>.size, view: "PerCPUArrayMap")
        self.map = map
    }

    /// The number of slots (max_entries).
    public var count: Int { map.maxEntries }

    /// Each possible CPU's value at `index` (BPF_MAP_LOOKUP_ELEM).
    /// - Throws: `BPFError(.invalidArgument)` when `index` is not below `count`.
    public func get(_ index: UInt32) throws -> [Value] {
        guard Int(index) < count else {
            throw BPFError(.invalidArgument, operation: "PerCPUArrayMap", subject: map.name, message: "index \(index) is out of range 0..<\(count)")
        }
        let raw = UnsafeMutableRawBufferPointer.allocate(byteCount: map.valueBufferSize, alignment: 8)
        defer { raw.deallocate() }
        var k = index
        _ = try map.lookup(key: &k, into: raw.baseAddress!)
        return PerCPU.decode(UnsafeRawBufferPointer(raw), cpus: map.possibleCPUs, as: Value.self)
    }

    /// Stores one value per possible CPU at `index` (BPF_MAP_UPDATE_ELEM).
    /// - Throws: `BPFError(.invalidArgument)` when `index` is not below `count`, `.sizeMismatch`
    ///   unless `values` has one value per possible CPU.
    public func set(_ index: UInt32, perCPU values: [Value]) throws {
        guard Int(index) < count else {
            throw BPFError(.invalidArgument, operation: "PerCPUArrayMap", subject: map.name, message: "index \(index) is out of range 0..<\(count)")
        }
        let raw = UnsafeMutableRawBufferPointer.allocate(byteCount: map.valueBufferSize, alignment: 8)
        defer { raw.deallocate() }
        try PerCPU.encode(values, cpus: map.possibleCPUs, into: raw)
        var k = index
        try map.update(key: &k, value: raw.baseAddress!)
    }
}

extension PerCPUArrayMap where Value: FixedWidthInteger {
    /// The sum over CPUs of one slot: what a per-CPU counter counts in total.
    public func sum(_ index: UInt32) throws -> Value { try get(index).reduce(0, &+) }
}

/// A longest-prefix-match trie (BPF_MAP_TYPE_LPM_TRIE, 4.11). Keys are a 32-bit prefix length
/// followed by the address bytes (`Address` is e.g. a 4-byte IPv4 or 16-byte IPv6 address).
public struct LPMTrieMap<Address: BitwiseCopyable, Value: BitwiseCopyable>: Sendable {
    /// The map underneath, for byte-level access.
    public let map: BPFMap

    /// A view of `map`.
    /// - Throws: `BPFError(.wrongMapType)` unless it is an LPM trie, `.sizeMismatch` unless the
    ///   key is 4 bytes plus `Address` and `Value` has the map's value size.
    public init(_ map: BPFMap) throws {
        try checkView(map, types: [.lpmTrie], key: 4 + MemoryLayout<Address>.size, value: MemoryLayout<Value>.size, view: "LPMTrieMap")
        self.map = map
    }

    private func withKey<R>(_ address: Address, _ length: UInt32, _ body: (UnsafeRawPointer) throws -> R) rethrows -> R {
        try withUnsafeTemporaryAllocation(byteCount: map.keySize, alignment: 8) { raw in
            raw.storeBytes(of: length, toByteOffset: 0, as: UInt32.self)
            withUnsafeBytes(of: address) { UnsafeMutableRawBufferPointer(rebasing: raw[4...]).copyMemory(from: $0) }
            return try body(UnsafeRawPointer(raw.baseAddress!))
        }
    }

    /// Adds or replaces the entry for `address`/`length` (BPF_MAP_UPDATE_ELEM).
    /// - Throws: `BPFError(.invalidArgument)` when `length` is longer than the address.
    public func insert(_ address: Address, prefixLength length: UInt32, _ value: Value) throws {
        guard Int(length) <= MemoryLayout<Address>.size * 8 else {
            throw BPFError(.invalidArgument, operation: "LPMTrieMap", subject: map.name, message: "prefix length \(length) is longer than the address")
        }
        try withKey(address, length) { k in try withUnsafeBytes(of: value) { try map.update(key: k, value: $0.baseAddress!) } }
    }

    /// The value of the longest prefix that contains `address`, or nil.
    public func longestMatch(_ address: Address) throws -> Value? {
        try withKey(address, UInt32(MemoryLayout<Address>.size * 8)) { k in
            try withUnsafeTemporaryAllocation(of: Value.self, capacity: 1) { out in
                try map.lookup(key: k, into: out.baseAddress!) ? out[0] : nil
            }
        }
    }

    /// Removes the entry for exactly `address`/`length` (BPF_MAP_DELETE_ELEM); false when there was none.
    @discardableResult
    public func remove(_ address: Address, prefixLength length: UInt32) throws -> Bool {
        try withKey(address, length) { try map.delete(key: $0) }
    }

    /// Every prefix in the trie (get-next-key walk; LPM tries have no batch lookup).
    public func entries() throws -> [(address: Address, prefixLength: UInt32, value: Value)] {
        try map.dump(method: .perKey).map { e in
            e.key.withUnsafeBytes { k in
                (k.loadUnaligned(fromByteOffset: 4, as: Address.self), k.loadUnaligned(as: UInt32.self),
                 e.value.withUnsafeBytes { $0.loadUnaligned(as: Value.self) })
            }
        }
    }
}

/// A program array for tail calls (BPF_MAP_TYPE_PROG_ARRAY, 4.2).
public struct ProgramArrayMap: Sendable {
    /// The map underneath.
    public let map: BPFMap

    /// A view of `map`.
    /// - Throws: `BPFError(.wrongMapType)` unless it is a prog_array.
    public init(_ map: BPFMap) throws {
        try checkView(map, types: [.progArray], key: 4, value: 4, view: "ProgramArrayMap")
        self.map = map
    }

    /// Puts `program` in slot `index`, so `bpf_tail_call(ctx, &map, index)` jumps to it.
    public func set(_ index: UInt32, _ program: BPFProgram) throws {
        var k = index
        var fd = UInt32(bitPattern: program.fd)
        try map.update(key: &k, value: &fd)
    }

    /// Empties slot `index`.
    @discardableResult
    public func clear(_ index: UInt32) throws -> Bool {
        var k = index
        return try map.delete(key: &k)
    }

    /// The program id in slot `index` (the kernel returns ids to user space), or nil if empty.
    public func programID(at index: UInt32) throws -> UInt32? {
        var k = index
        var id: UInt32 = 0
        return try map.lookup(key: &k, into: &id) ? id : nil
    }
}
