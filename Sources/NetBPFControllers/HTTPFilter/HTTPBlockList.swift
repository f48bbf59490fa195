import Foundation
import Glibc
import NetBPF
import Synchronization
internal import CNetBPFProgramTypes

/// One entry of the blocking program's list (`block_list` in programs/http_block.bpf.c).
public struct HTTPBlockEntry: Hashable, Sendable, Codable, CustomStringConvertible {
    /// A Host header name (matched exactly) or a request-target prefix.
    public enum Kind: String, Sendable, Codable { case host, path }
    /// Whether `value` is a host or a path prefix.
    public var kind: Kind
    /// For a host: lower case, without port. For a path: the prefix as sent on the wire.
    public var value: String

    /// Longest path prefix compared by the BPF program, and longest host name (one byte is
    /// taken by the NUL that makes host entries exact).
    public static let maximumPathBytes = Int(HTTP_BLOCK_BYTES)
    /// Longest host name: the last byte of the key's data is the NUL that makes host matches exact.
    public static let maximumHostBytes = Int(HTTP_BLOCK_BYTES) - 1

    /// A path-prefix entry. The prefix must start with "/" (or be an absolute-form URL), hold
    /// no spaces or control bytes, and be at most 64 bytes.
    /// - Throws: `ControllerError` for an empty, too long or malformed prefix.
    public static func path(_ prefix: String) throws -> HTTPBlockEntry {
        let bytes = Array(prefix.utf8)
        guard !bytes.isEmpty else { throw ControllerError("an empty path prefix would block every request", hint: "give a prefix such as /admin") }
        guard bytes.count <= maximumPathBytes else {
            throw ControllerError("path prefix '\(prefix)' is \(bytes.count) bytes; the blocking program compares at most \(maximumPathBytes)",
                                  hint: "block a shorter prefix of it")
        }
        guard bytes.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else {
            throw ControllerError("path prefix '\(prefix)' contains spaces, control or non-ASCII bytes",
                                  hint: "give the path as it is sent on the wire, percent-encoded")
        }
        guard bytes[0] == 0x2f || prefix.lowercased().hasPrefix("http://") || bytes == [0x2a] else {
            throw ControllerError("path prefix '\(prefix)' does not start with '/'", hint: "request targets start with '/', e.g. /admin")
        }
        return HTTPBlockEntry(kind: .path, value: prefix)
    }

    /// A host entry: matches requests whose Host header is this name (case and port ignored).
    /// - Throws: `ControllerError` for an empty, too long or malformed name.
    public static func host(_ name: String) throws -> HTTPBlockEntry {
        let normalized = HTTPSelection.stripPort(name.lowercased())
        let bytes = Array(normalized.utf8)
        guard !bytes.isEmpty else { throw ControllerError("empty host name", hint: "give a host such as example.com") }
        guard bytes.count <= maximumHostBytes else {
            throw ControllerError("host '\(name)' is \(bytes.count) bytes; the blocking program compares at most \(maximumHostBytes)")
        }
        guard bytes.allSatisfy({ $0 > 0x20 && $0 < 0x7f && $0 != 0x2f }) else {
            throw ControllerError("host '\(name)' contains spaces, '/', control or non-ASCII bytes",
                                  hint: "give the name as in the Host header (IDNs in their xn-- form)")
        }
        return HTTPBlockEntry(kind: .host, value: normalized)
    }

    /// "host NAME" or "path PREFIX".
    public var description: String { "\(kind.rawValue) \(value)" }

    // MARK: BPF key

    /// sizeof(struct http_block_key) and sizeof(struct http_block_value) of
    /// programs/include/http_filter.h.
    public static let keySize = MemoryLayout<http_block_key>.size
    /// sizeof(struct http_block_value): the hit count and the time of the last hit.
    public static let valueSize = MemoryLayout<http_block_value>.size

    /// The LPM trie key: prefix length in bits (host order, as the kernel reads it), the kind
    /// byte ('H' or 'P'), the bytes, and for a host the NUL that makes the match exact.
    public var keyBytes: [UInt8] { Self.key(kind, Array(value.utf8)) }

    /// `struct http_block_key` for `data` of a kind, as bytes.
    static func key(_ kind: Kind, _ data: [UInt8]) -> [UInt8] {
        var key = http_block_key()
        key.prefixlen = UInt32(8 * (1 + data.count + (kind == .host ? 1 : 0)))
        key.kind = UInt8((kind == .host ? HTTP_BLOCK_KIND_HOST : HTTP_BLOCK_KIND_PATH).rawValue)
        withUnsafeMutableBytes(of: &key.data) { for (i, c) in data.prefix(maximumPathBytes).enumerated() { $0[i] = c } }
        return withUnsafeBytes(of: key) { Array($0) }
    }

    /// Reads a key back; nil for bytes that no entry of netbpf's makes.
    public init?(keyBytes: [UInt8]) {
        guard keyBytes.count == Self.keySize else { return nil }
        let key = keyBytes.withUnsafeBytes { $0.loadUnaligned(as: http_block_key.self) }
        let data = withUnsafeBytes(of: key.data) { Array($0) }
        let bits = Int(key.prefixlen)
        guard bits % 8 == 0, bits >= 16 else { return nil }
        let bytes = bits / 8 - 1
        switch http_block_kind(UInt32(key.kind)) {
        case HTTP_BLOCK_KIND_HOST:
            guard bytes >= 2, bytes <= Self.maximumHostBytes + 1, data[bytes - 1] == 0 else { return nil }
            kind = .host
            value = String(decoding: data[0..<(bytes - 1)], as: UTF8.self)
        case HTTP_BLOCK_KIND_PATH:
            guard bytes <= Self.maximumPathBytes else { return nil }
            kind = .path
            value = String(decoding: data[0..<bytes], as: UTF8.self)
        default:
            return nil
        }
    }

    init(kind: Kind, value: String) {
        self.kind = kind
        self.value = value
    }
}

/// An entry with what the BPF program counted for it.
public struct HTTPBlockListing: Sendable, Equatable, Encodable {
    /// The entry.
    public var entry: HTTPBlockEntry
    /// Requests dropped by this entry.
    public var hits: UInt64
    /// CLOCK_MONOTONIC nanoseconds of the last drop (0: never).
    public var lastHitNanoseconds: UInt64
    /// An entry with its counters (for stores other than the BPF map, e.g. tests' fakes).
    public init(entry: HTTPBlockEntry, hits: UInt64, lastHitNanoseconds: UInt64) {
        self.entry = entry; self.hits = hits; self.lastHitNanoseconds = lastHitNanoseconds
    }

    enum CodingKeys: String, CodingKey { case kind, value, hits, lastHitNanoseconds = "last_hit_ns" }

    /// Flat: {"kind": "path", "value": "/admin", "hits": 3, "last_hit_ns": 123}.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(entry.kind.rawValue, forKey: .kind)
        try c.encode(entry.value, forKey: .value)
        try c.encode(hits, forKey: .hits)
        try c.encode(lastHitNanoseconds, forKey: .lastHitNanoseconds)
    }
}

/// Where block entries live: the pinned BPF map, or an in-memory fake for tests.
public protocol HTTPBlockListStore: AnyObject {
    /// Adds an entry (already there: its counters are kept).
    func add(_ entry: HTTPBlockEntry) throws
    /// Removes an entry; false if it was not there.
    func remove(_ entry: HTTPBlockEntry) throws -> Bool
    /// Every entry with its counters, sorted by kind, then value.
    func listing() throws -> [HTTPBlockListing]
}

/// The block list in the kernel: the LPM trie `block_list` of http_block.bpf.c, either from a
/// loaded object or opened from its pin. Changes are seen by the next packet.
///
/// Sendable: it holds only the map (`let`); each change is one syscall on the map's fd.
public final class BPFHTTPBlockList: HTTPBlockListStore, Sendable {
    /// The `block_list` LPM trie (BPF_MAP_TYPE_LPM_TRIE, kernel 4.11).
    public let map: BPFMap

    /// A block list over `map`.
    /// - Throws: `ControllerError` when `map` is not an LPM trie with http_block's key and value sizes.
    public init(map: BPFMap) throws {
        guard map.type == .lpmTrie, map.keySize == HTTPBlockEntry.keySize, map.valueSize == HTTPBlockEntry.valueSize else {
            throw ControllerError("map '\(map.name)' is not an HTTP block list (\(map.type), key \(map.keySize) bytes, value \(map.valueSize) bytes)",
                                  hint: "expected the lpm_trie block_list of programs/http_block.bpf.c (key \(HTTPBlockEntry.keySize), value \(HTTPBlockEntry.valueSize))")
        }
        self.map = map
    }

    /// Opens a pinned block list (`.../http_block/maps/block_list`).
    /// - Throws: `BPFError(.notFound)` when nothing is pinned there; `ControllerError` when it is not a
    ///   block list.
    public convenience init(pinned path: String) throws {
        try self.init(map: BPFMap.open(pinned: path))
    }

    /// Adds `entry` (BPF_MAP_UPDATE_ELEM with BPF_NOEXIST; present already: its counters are kept).
    /// - Throws: `BPFError` from the update (ENOSPC when the trie is full).
    public func add(_ entry: HTTPBlockEntry) throws {
        do {
            try map.update(key: entry.keyBytes, value: [UInt8](repeating: 0, count: HTTPBlockEntry.valueSize), flags: .noExist)
        } catch let error as BPFError where error.errno == EEXIST {
            // Present already: keep its counters.
        }
    }

    /// Removes `entry` (BPF_MAP_DELETE_ELEM); false when it was not there.
    /// - Throws: `BPFError` for errors other than ENOENT.
    public func remove(_ entry: HTTPBlockEntry) throws -> Bool {
        try map.delete(key: entry.keyBytes)
    }

    /// Every entry with what the program counted for it, sorted by kind, then value (a key walk and a
    /// lookup per key).
    /// - Throws: `BPFError` from the map walk.
    public func listing() throws -> [HTTPBlockListing] {
        var out: [HTTPBlockListing] = []
        for key in try map.keys() {
            guard let entry = HTTPBlockEntry(keyBytes: key), let value = try map.lookup(key: key), value.count >= HTTPBlockEntry.valueSize else { continue }
            let v = value.withUnsafeBytes { $0.loadUnaligned(as: http_block_value.self) }
            out.append(HTTPBlockListing(entry: entry, hits: v.hits, lastHitNanoseconds: v.last_ns))
        }
        return out.sorted { ($0.entry.kind.rawValue, $0.entry.value) < ($1.entry.kind.rawValue, $1.entry.value) }
    }

    /// The entry http_block would drop this request for: the target's first 64 bytes against
    /// path prefixes, then the Host (lower case, no port) exactly. (The program also needs the
    /// request line and Host in the request's first segment, within its first 1024 bytes.)
    public func match(path: String, host: String?) -> HTTPBlockEntry? {
        let target = Array(path.utf8.prefix(HTTPBlockEntry.maximumPathBytes))
        if !target.isEmpty {
            let key = HTTPBlockEntry.key(.path, target)
            if let found = try? map.lookup(key: key), !found.isEmpty {
                // The LPM lookup returns the value only; name the longest listed prefix.
                let listed = (try? listing().map(\.entry)) ?? []
                return listed.filter { $0.kind == .path && target.starts(with: Array($0.value.utf8)) }.max { $0.value.utf8.count < $1.value.utf8.count }
            }
        }
        if let host, let entry = try? HTTPBlockEntry.host(host) {
            if let found = try? map.lookup(key: entry.keyBytes), !found.isEmpty { return entry }
        }
        return nil
    }

    /// Pinned block lists of running `netbpf http-filter` instances, narrowed by interface and
    /// namespace ("root" for the caller's): (namespace, interface, path).
    package static func pinned(interface: String? = nil, namespace: String? = nil) -> [(namespace: String?, interface: String, path: String)] {
        let root = Pinning.root
        let fm = FileManager.default
        var found: [(String?, String, String)] = []
        for ns in ((try? fm.contentsOfDirectory(atPath: root)) ?? []).sorted() where namespace == nil || ns == namespace {
            for iface in ((try? fm.contentsOfDirectory(atPath: "\(root)/\(ns)")) ?? []).sorted() where interface == nil || iface == interface {
                let path = "\(root)/\(ns)/\(iface)/ingress/http_block/maps/block_list"
                if fm.fileExists(atPath: path) { found.append((ns == "root" ? nil : ns, iface, path)) }
            }
        }
        return found
    }
}

/// An in-memory block list with the BPF program's matching rules, for tests of code that
/// manages entries and for checking the rules themselves without a kernel.
/// Sendable: the entries sit behind a `Mutex`.
package final class InMemoryHTTPBlockList: HTTPBlockListStore, Sendable {
    private let state = Mutex<[HTTPBlockEntry: HTTPBlockListing]>([:])
    /// The entries with their (always zero) counters.
    package var entries: [HTTPBlockEntry: HTTPBlockListing] { state.withLock { $0 } }
    /// An empty list.
    package init() {}

    /// Adds `entry` (kept as it is when present).
    package func add(_ entry: HTTPBlockEntry) throws {
        state.withLock { entries in
            if entries[entry] == nil { entries[entry] = HTTPBlockListing(entry: entry, hits: 0, lastHitNanoseconds: 0) }
        }
    }

    /// Removes `entry`; false when it was not there.
    package func remove(_ entry: HTTPBlockEntry) throws -> Bool { state.withLock { $0.removeValue(forKey: entry) != nil } }

    /// The entries sorted by kind, then value.
    package func listing() throws -> [HTTPBlockListing] {
        entries.values.sorted { ($0.entry.kind.rawValue, $0.entry.value) < ($1.entry.kind.rawValue, $1.entry.value) }
    }

    /// Would http_block drop a request with this target and Host? (The first 64 bytes of the
    /// target against path prefixes; the Host, lower-cased without port, exactly.)
    package func blocks(path: String, host: String?) -> Bool {
        let target = String(decoding: Array(path.utf8).prefix(HTTPBlockEntry.maximumPathBytes), as: UTF8.self)
        for entry in entries.keys {
            switch entry.kind {
            case .path where target.utf8.starts(with: entry.value.utf8): return true
            case .host where host.map { HTTPSelection.stripPort($0.lowercased()) == entry.value } ?? false: return true
            default: continue
            }
        }
        return false
    }
}
