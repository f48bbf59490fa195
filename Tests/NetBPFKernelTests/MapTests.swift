import Foundation
import Testing
import NetBPF
import NetBPFTestSupport

/// Each map type loaded from programs/maps_all.bpf.c and round-tripped through its typed view.
@Suite(.enabled(if: TestEnvironment.isRoot, "requires root: creates BPF maps"))
struct MapTests {
    func loadAll() throws -> BPFObject { try BPFObject.load(path: try TestPrograms.object("maps_all")) }

    @Test func hashRoundTrip() throws {
        try TestEnvironment.expectNoFDLeak {
            let obj = try loadAll()
            let m = try HashMap<UInt32, UInt64>(obj.map(named: "hash_map"))
            try m.update(7, 700)
            try m.update(8, 800, flags: .noExist)
            #expect(try m.lookup(7) == 700)
            #expect(try m.lookup(9) == nil)
            #expect(throws: BPFError.self) { try m.update(7, 1, flags: .noExist) }
            #expect(throws: BPFError.self) { try m.update(99, 1, flags: .exist) }
            #expect(try m.delete(7))
            #expect(try !m.delete(7))
            #expect(try m.entries().map(\.key) == [8])
        }
    }

    @Test func arrayRoundTrip() throws {
        try TestEnvironment.expectNoFDLeak {
            let a = try ArrayMap<UInt64>(loadAll().map(named: "array_map"))
            #expect(a.count == 16)
            try a.set(3, 33)
            #expect(try a.get(3) == 33)
            let all = try a.values()
            #expect(all.count == 16)
            #expect(all[3] == 33 && all[0] == 0)
            #expect(throws: BPFError.self) { try a.get(16) }
        }
    }

    @Test func perCPUHashAndArray() throws {
        try TestEnvironment.expectNoFDLeak {
            let obj = try loadAll()
            let h = try PerCPUHashMap<UInt32, UInt64>(obj.map(named: "percpu_hash"))
            let cpus = h.map.possibleCPUs
            #expect(cpus >= 1)
            let values = (0..<cpus).map { UInt64($0 + 1) * 10 }
            try h.update(1, perCPU: values)
            #expect(try h.lookup(1) == values)
            #expect(try h.entries().first?.values == values)
            #expect(throws: BPFError.self) { try h.update(2, perCPU: [1, 2, 3, 4, 5, 6, 7, 8, 9].prefix(cpus + 1).map { UInt64($0) }) }

            let a = try PerCPUArrayMap<UInt64>(obj.map(named: "percpu_array"))
            try a.set(2, perCPU: values)
            #expect(try a.get(2) == values)
            #expect(try a.sum(2) == values.reduce(0, +))
        }
    }

    @Test func lruEvictsWhenFull() throws {
        try TestEnvironment.expectNoFDLeak {
            let m = try LRUHashMap<UInt32, UInt64>(loadAll().map(named: "lru_hash"))
            #expect(m.map.type == .lruHash)
            for k in 0..<UInt32(400) { try m.update(k, UInt64(k)) }
            let n = try m.entries().count
            #expect(n > 0 && n <= 128 + 16) // LRU keeps about max_entries (per-CPU free lists)
            #expect(try m.lookup(399) == 399)
        }
    }

    @Test func lpmTrieLongestMatch() throws {
        try TestEnvironment.expectNoFDLeak {
            let t = try LPMTrieMap<(UInt8, UInt8, UInt8, UInt8), UInt32>(loadAll().map(named: "lpm_trie"))
            try t.insert((10, 0, 0, 0), prefixLength: 8, 1)
            try t.insert((10, 1, 0, 0), prefixLength: 16, 2)
            #expect(try t.longestMatch((10, 1, 2, 3)) == 2)
            #expect(try t.longestMatch((10, 9, 9, 9)) == 1)
            #expect(try t.longestMatch((11, 0, 0, 1)) == nil)
            #expect(try t.entries().count == 2)
            #expect(try t.remove((10, 1, 0, 0), prefixLength: 16))
            #expect(try t.longestMatch((10, 1, 2, 3)) == 1)
        }
    }

    @Test func progArrayHoldsAProgram() throws {
        try TestEnvironment.expectNoFDLeak {
            let obj = try loadAll()
            let pa = try ProgramArrayMap(obj.map(named: "prog_array"))
            let target = try obj.program(named: "sock_pass")
            try pa.set(1, target)
            #expect(try pa.programID(at: 1) == target.info().id)
            #expect(try pa.programID(at: 0) == nil)
            // sock_tail tail-calls slot 0 (empty: falls through, returns 0).
            let tail = try obj.program(named: "sock_tail")
            #expect(try tail.testRun(data: [UInt8](repeating: 0, count: 64)).returnValue == 0)
            #expect(try pa.clear(1))
        }
    }

    @Test func ringAndPerfMapsHaveTheirTypes() throws {
        let obj = try loadAll()
        #expect(try obj.map(named: "ringbuf").type == .ringbuf)
        #expect(try obj.map(named: "perf_events").type == .perfEventArray)
        #expect(try obj.map(named: "perf_events").maxEntries == Int(libbpfPossibleCPUs()))
    }

    @Test func typedViewRejectsWrongSizesAndTypes() throws {
        let obj = try loadAll()
        let e1 = #expect(throws: BPFError.self) { try HashMap<UInt64, UInt64>(obj.map(named: "hash_map")) }
        #expect(e1?.code == .sizeMismatch)
        #expect(e1?.description.contains("key type is 8 bytes, map key is 4") == true)
        let e2 = #expect(throws: BPFError.self) { try HashMap<UInt32, UInt64>(obj.map(named: "array_map")) }
        #expect(e2?.code == .wrongMapType)
        let e3 = #expect(throws: BPFError.self) { try ArrayMap<UInt32>(obj.map(named: "array_map")) }
        #expect(e3?.code == .sizeMismatch)
    }

    @Test func rawBytesRejectWrongLengths() throws {
        let m = try loadAll().map(named: "hash_map")
        #expect(throws: BPFError.self) { try m.update(key: [1, 2], value: [UInt8](repeating: 0, count: 8)) }
        #expect(throws: BPFError.self) { try m.update(key: [1, 0, 0, 0], value: [1]) }
    }

    @Test func resizeAndGlobalsBeforeLoad() throws {
        try TestEnvironment.expectNoFDLeak {
            let spec = try BPFObjectSpec.open(path: try TestPrograms.object("maps_all"))
            try spec.setMaxEntries(5000, forMap: "big_hash")
            try spec.setGlobal("cfg_magic", to: UInt32(4242))
            #expect(throws: BPFError.self) { try spec.setGlobal("cfg_magic", to: UInt64(1)) }
            #expect(throws: BPFError.self) { try spec.setGlobal("no_such_var", to: UInt32(1)) }
            let obj = try spec.load()
            #expect(try obj.map(named: "big_hash").maxEntries == 5000)
            // sock_pass returns cfg_magic when it is set.
            #expect(try obj.program(named: "sock_pass").testRun(data: [UInt8](repeating: 0, count: 64)).returnValue == 4242)
            #expect(throws: BPFError.self) { try spec.setMaxEntries(1, forMap: "big_hash") }
        }
    }

    /// A million entries filled with BPF_MAP_UPDATE_BATCH and read back with BPF_MAP_LOOKUP_BATCH.
    @Test func batchDumpOfAMillionEntries() throws {
        try TestEnvironment.expectNoFDLeak {
            let obj = try BPFObject.load(path: try TestPrograms.object("hash_1m"))
            let m = try HashMap<UInt32, UInt64>(obj.map(named: "big"))
            let n = 1_000_000
            try m.update((0..<UInt32(n)).map { ($0, UInt64($0) * 3) })
            var count = 0, sum: UInt64 = 0
            let method = try m.map.forEachChunk { keys, values, k in
                for i in 0..<k {
                    let key = keys.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self)
                    let value = values.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)
                    #expect(value == UInt64(key) * 3)
                    sum &+= value
                }
                count += k
            }
            #expect(method == .batch)
            #expect(count == n)
            #expect(sum == UInt64(n - 1) * UInt64(n) / 2 * 3)
            #expect(try m.entries().count == n)
        }
    }

    @Test func batchUpdateHonoursNoExistAndExist() throws {
        let m = try HashMap<UInt32, UInt64>(loadAll().map(named: "hash_map"))
        try m.update([(1, 10), (2, 20)])
        #expect(throws: BPFError.self) { try m.update([(3, 30), (1, 99)], flags: .noExist) }
        #expect(try m.lookup(1) == 10) // not overwritten
        #expect(throws: BPFError.self) { try m.update([(42, 1)], flags: .exist) }
        #expect(try m.lookup(42) == nil)
        try m.update([(1, 11), (2, 22)], flags: .exist)
        #expect(try m.lookup(2) == 22)
    }

    @Test func ringBufferMapCannotBeDumped() throws {
        let e = #expect(throws: BPFError.self) { try loadAll().map(named: "ringbuf").dump() }
        #expect(e?.code == .unsupported)
        #expect(e?.hint?.contains("RingBuffer") == true)
    }

    @Test func perKeyAndBatchAgree() throws {
        let m = try HashMap<UInt32, UInt64>(loadAll().map(named: "hash_map"))
        try m.update((0..<UInt32(500)).map { ($0, UInt64($0) + 1) })
        let batch = try m.entries(method: .batch).sorted { $0.key < $1.key }
        let perKey = try m.entries(method: .perKey).sorted { $0.key < $1.key }
        #expect(batch.count == 500)
        #expect(batch.map(\.key) == perKey.map(\.key))
        #expect(batch.map(\.value) == perKey.map(\.value))
    }
}

func libbpfPossibleCPUs() -> Int32 {
    // /sys/devices/system/cpu/possible, e.g. "0-1"
    guard let text = try? String(contentsOfFile: "/sys/devices/system/cpu/possible", encoding: .utf8) else { return 1 }
    var n: Int32 = 0
    for part in text.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ",") {
        let r = part.split(separator: "-").compactMap { Int32($0) }
        n += r.count == 2 ? r[1] - r[0] + 1 : 1
    }
    return n
}
