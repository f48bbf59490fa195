import Foundation
import Synchronization
import Testing
@testable import NetBPF
import NetBPFTestSupport

/// The batch dump and bulk update paths the kernel rarely takes, driven through the
/// `MapBatchCalls` seam on a real hash map: a kernel that answers ENOSPC (a bucket larger than
/// the buffer), and one without batch ops (EINVAL), must still give every entry exactly once.
@Suite(.enabled(if: TestEnvironment.isRoot, "requires root: creates BPF maps"))
struct MapBatchFallbackTests {
    static let entries: [UInt32: UInt64] = Dictionary(uniqueKeysWithValues: (0..<100).map { (UInt32($0), UInt64($0) * 3) })

    func filledHashMap() throws -> (BPFObject, BPFMap) {
        let object = try BPFObject.load(path: try TestPrograms.object("maps_all"))
        let map = try object.map(named: "hash_map")
        let typed = try HashMap<UInt32, UInt64>(map)
        for (k, v) in Self.entries { try typed.update(k, v) }
        return (object, map)
    }

    func dumped(_ map: BPFMap, calls: MapBatchCalls, batchSize: Int) throws -> ([UInt32: UInt64], DumpMethod) {
        var out: [UInt32: UInt64] = [:]
        let method = try map.forEachChunk(batchSize: batchSize, method: .batch, calls: calls) { keys, values, count in
            for i in 0..<count {
                let k = keys.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self)
                #expect(out[k] == nil, "key \(k) came twice")
                out[k] = values.loadUnaligned(fromByteOffset: i * map.valueBufferSize, as: UInt64.self)
            }
        }
        return (out, method)
    }

    @Test func enospcGrowsTheBufferAndResumesAtTheSamePosition() throws {
        let (object, map) = try filledHashMap()
        _ = object
        // The kernel's own ENOSPC needs a bucket bigger than the buffer; this fake says it for
        // every buffer under 16 entries, the way the kernel does, before anything is copied.
        let refusals = Mutex(0)
        let calls = MapBatchCalls(lookup: { fd, inToken, outToken, keys, values, count in
            if count.pointee < 16 { refusals.withLock { $0 += 1 }; return -ENOSPC }
            return MapBatchCalls.kernel.lookup(fd, inToken, outToken, keys, values, count)
        }, update: MapBatchCalls.kernel.update)
        let (out, method) = try dumped(map, calls: calls, batchSize: 2)
        #expect(method == .batch)
        #expect(out == Self.entries)
        #expect(refusals.withLock { $0 } == 2, "2 -> 8 -> 32 entries: two refusals")
    }

    @Test func einvalOnTheFirstBatchFallsBackToPerKey() throws {
        let (object, map) = try filledHashMap()
        _ = object
        let calls = MapBatchCalls(lookup: { _, _, _, _, _, _ in -EINVAL }, update: { _, _, _, _, _ in -EINVAL })
        let (out, method) = try dumped(map, calls: calls, batchSize: 4096)
        #expect(method == .perKey)
        #expect(out == Self.entries)
    }

    @Test func bulkUpdateWithoutBatchOpsUpdatesEntryByEntry() throws {
        let object = try BPFObject.load(path: try TestPrograms.object("maps_all"))
        let map = try object.map(named: "hash_map")
        let keys: [UInt32] = [1, 2, 3], values: [UInt64] = [10, 20, 30]
        let calls = MapBatchCalls(lookup: MapBatchCalls.kernel.lookup, update: { _, _, _, _, _ in -EINVAL })
        try keys.withUnsafeBytes { k in
            try values.withUnsafeBytes { v in
                try map.update(batchOf: 3, keys: k.baseAddress!, values: v.baseAddress!, flags: .any, calls: calls)
            }
        }
        let typed = try HashMap<UInt32, UInt64>(map)
        #expect(try typed.entries().sorted { $0.key < $1.key }.map(\.value) == values)
    }
}
