import Foundation
import Glibc
import Testing
@testable import NetBPF
@testable import NetBPFNetlink

/// What the fuzz targets found (fuzz/regressions/ holds the inputs; scripts/fuzz.sh replays them
/// under AddressSanitizer). Each test here would fail, or trap, without its fix.
@Suite struct FuzzRegressionTests {
    static func regression(_ name: String) throws -> [UInt8] {
        let url = TestPaths.repositoryRoot.appendingPathComponent("fuzz/regressions/" + name)
        return [UInt8](try Data(contentsOf: url))
    }

    /// libmnl's mnl_nlmsg_ok compares (int)nlmsg_len, so 0x900001da passed as negative and
    /// split copied 2.4 GB from past the buffer. Now the datagram is a truncated one: nil.
    @Test func netlinkLengthAboveTwoGiBIsATruncatedDatagram() throws {
        let bytes = try Self.regression("netlink-length-above-2gib")
        #expect(bytes.count == 36)
        #expect(NetlinkMessage.split(bytes) == nil)
        // The valid message in front still splits on its own.
        #expect(NetlinkMessage.split(Array(bytes.prefix(20)))?.count == 1)
    }

    /// The last message of a datagram may lack its padding; libmnl walks attributes to the
    /// aligned end, so the parse reads a zero-padded copy: the attribute's last 2 bytes are 0.
    @Test func unpaddedLastMessageParsesFromAPaddedCopy() throws {
        let bytes = try Self.regression("netlink-unpadded-last-message")
        let m = try #require(NetlinkMessage.split(bytes)?.first)
        #expect(m.bytes.count == 42)
        let table = AttributeTable(message: m.bytes, familyHeaderSize: 12)
        #expect(table.all.count == 1)
        #expect(table.bytes(1) == Array(1...10) + [0, 0])
        #expect(RouteInfo(m) == nil || RouteInfo(m)?.destination == nil)
    }

    /// NLMSG_DONE (and NLMSG_ERROR) carrying Int32.min: negating it trapped.
    @Test func doneWithIntMinErrorIsABadMessage() throws {
        let m = try #require(NetlinkMessage.split(try Self.regression("netlink-done-int-min"))?.first)
        #expect(NetlinkAck(done: m)?.errno == EBADMSG)
        var error = m
        error.type = 2 // NLMSG_ERROR: the same int, then a (missing) copy of our header
        error.bytes += [UInt8](repeating: 0, count: 16)
        error.bytes[0] = 36
        #expect(NetlinkAck(error: error)?.errno == EBADMSG)
    }

    /// An HTB class whose 64-bit rate is above 2^61 bytes/s: bytes * 8 overflowed and trapped.
    @Test func htbRateAboveTwoToTheSixtyOneSaturates() throws {
        let messages = try #require(NetlinkMessage.split(try Self.regression("netlink-htb-rate64-overflow")))
        let classes = messages.compactMap(TCClassInfo.init)
        #expect(classes.count == 1)
        #expect(classes.first?.kind == "htb")
        #expect(classes.contains { $0.rateBitsPerSecond == UInt64.max || $0.ceilBitsPerSecond == UInt64.max })
        #expect(TCClassInfo.bits(UInt64.max / 8) == UInt64.max / 8 * 8)
        #expect(TCClassInfo.bits(UInt64.max / 8 + 1) == UInt64.max)
    }

    /// A map whose BTF names a type id past the last type: libbpf 1.1 dereferenced NULL inside
    /// bpf_object__open_mem. BTFCheck now refuses the object with one line.
    @Test func objectWithMissingBTFTypeIsRefusedBeforeLibbpf() throws {
        let bytes = try Self.regression("object-btf-missing-type")
        #expect(throws: BPFError.self) { try BPFObjectSpec.open(bytes: bytes, name: "bad") }
        do {
            _ = try BPFObjectSpec.open(bytes: bytes, name: "bad")
        } catch let e as BPFError {
            #expect(e.code == .invalidObject)
            #expect(e.description.contains("malformed BTF: BTF type"))
            #expect(e.description.contains("refers to type"))
        }
        let btf = try #require(ELFSections.contents(of: ".BTF", in: bytes))
        #expect(BTFCheck.problem(btf) != nil)
    }

    /// The seed objects of fuzz/corpus/object pass the BTF check unchanged.
    @Test func seedObjectsPassTheBTFCheck() throws {
        let dir = TestPaths.repositoryRoot.appendingPathComponent("fuzz/corpus/object").path
        let names = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".elf") }.sorted()
        #expect(names.count == 6)
        for name in names {
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir + "/" + name)))
            let btf = try #require(ELFSections.contents(of: ".BTF", in: bytes), "\(name) has .BTF")
            #expect(BTFCheck.problem(btf) == nil, "\(name)")
            let spec = try BPFObjectSpec.open(bytes: bytes, name: name)
            #expect(!spec.programs.isEmpty)
        }
    }

    /// A .BTF section of `types` (kind, size-or-type, trailer words), no names: header, types,
    /// a one-byte string section.
    static func btf(_ types: [(kind: Int, sizeOrType: Int, trailer: [Int])]) -> [UInt8] {
        var btf: [UInt8] = []
        btf.reserveCapacity(25 + 12 * types.count)
        func u16(_ v: Int) { btf += [UInt8(v & 0xff), UInt8(v >> 8 & 0xff)] }
        func u32(_ v: Int) { u16(v & 0xffff); u16(v >> 16) }
        let typeLength = types.reduce(0) { $0 + 12 + 4 * $1.trailer.count }
        u16(0xEB9F); btf += [1, 0]; u32(24)                    // magic, version, flags, hdr_len
        u32(0); u32(typeLength); u32(typeLength); u32(1)       // type_off, type_len, str_off, str_len
        for t in types {
            u32(0); u32(t.kind << 24 | t.trailer.count); u32(t.sizeOrType)
            t.trailer.forEach(u32)
        }
        btf += [0]
        return btf
    }

    /// A typedef that refers to itself: libbpf's skip_mods_and_typedefs would loop forever.
    @Test func btfTypedefCycleIsRefused() {
        var btf: [UInt8] = []
        func u16(_ v: Int) { btf += [UInt8(v & 0xff), UInt8(v >> 8 & 0xff)] }
        func u32(_ v: Int) { u16(v & 0xffff); u16(v >> 16) }
        u16(0xEB9F); btf += [1, 0]; u32(24)            // magic, version, flags, hdr_len
        u32(0); u32(24); u32(24); u32(1)               // type_off, type_len, str_off, str_len
        u32(0); u32(8 << 24); u32(2)                   // [1] TYPEDEF -> 2
        u32(0); u32(10 << 24); u32(1)                  // [2] CONST -> 1
        btf += [0]
        #expect(btf == Self.btf([(8, 2, []), (10, 1, [])]))
        #expect(BTFCheck.problem(btf[...]) == "BTF type 1 starts a cycle of typedefs and modifiers")
        btf[24 + 12 + 8] = 0                           // [2] CONST -> void: the chain ends
        #expect(BTFCheck.problem(btf[...]) == nil)
        btf[24 + 8] = 9                                // [1] TYPEDEF -> 9: no such type
        #expect(BTFCheck.problem(btf[...]) == "BTF type 1 refers to type 9, but the object has 2 types")
    }

    /// Cycles reached from a chain, self-loops and cycles after sound chains are all found.
    @Test func btfCyclesAfterChainsAreRefused() {
        // [1] INT, [2] TYPEDEF -> 1, [3] CONST -> 2 (sound), [4] VOLATILE -> 5, [5] TYPEDEF -> 6, [6] CONST -> 5
        let tail = Self.btf([(1, 4, [32]), (8, 1, []), (10, 2, []), (9, 5, []), (8, 6, []), (10, 5, [])])
        #expect(BTFCheck.problem(tail[...]) == "BTF type 4 starts a cycle of typedefs and modifiers")
        let selfLoop = Self.btf([(1, 4, [32]), (18, 2, [])])   // [2] TYPE_TAG -> itself
        #expect(BTFCheck.problem(selfLoop[...]) == "BTF type 2 starts a cycle of typedefs and modifiers")
        // Many chains into one shared sound chain: each type is walked once.
        let shared = Self.btf([(1, 4, [32]), (8, 1, []), (8, 2, []), (10, 2, []), (11, 3, []), (9, 4, [])])
        #expect(BTFCheck.problem(shared[...]) == nil)
    }

    /// A chain of 100,000 typedefs (about 1.2 MB of BTF): the old cycle check walked every
    /// chain from every type, N^2/2 steps, and hung `object inspect`; now it is linear.
    @Test func longTypedefChainIsCheckedQuickly() {
        let n = 100_000
        // [1] INT, [2] TYPEDEF -> 1, [k] TYPEDEF -> k-1 ... (each walk starts at a type whose
        // chain the ids before it already finished), then the same chain written backwards:
        // [k] TYPEDEF -> k+1, the last -> 1 (the first walk covers the whole chain).
        let forwards = Self.btf([(1, 4, [32])] + (2...n).map { (8, $0 - 1, [Int]()) })
        let backwards = Self.btf([(1, 4, [32])] + (2...n).map { (8, $0 == n ? 1 : $0 + 1, [Int]()) })
        var cyclic = backwards
        cyclic[cyclic.count - 1 - 4] = UInt8(2 & 0xff)          // the last typedef -> [2]: a cycle of n-1
        for (name, bytes, expected) in [("forwards", forwards, nil), ("backwards", backwards, nil),
                                        ("cyclic", cyclic, "BTF type 2 starts a cycle of typedefs and modifiers")] {
            let start = Date()
            #expect(BTFCheck.problem(bytes[...]) == expected, "\(name)")
            let seconds = Date().timeIntervalSince(start)
            #expect(seconds < 5, "\(name): \(n) typedefs took \(seconds) s")
        }
    }

    /// A kind this check does not know (20 and up; BTF_KIND_ENUM64 = 19 is the last it knows)
    /// ends the check with no finding, even when later bytes would look broken: objects made
    /// for newer kernels are left to libbpf. Problems before the unknown kind are still found.
    @Test func unknownBTFKindIsAccepted() {
        let unknown = Self.btf([(1, 4, [32]), (20, 1, [7, 7, 7]), (8, 99, [])])
        #expect(BTFCheck.problem(unknown[...]) == nil)
        let kindZero = Self.btf([(0, 0, [])])
        #expect(BTFCheck.problem(kindZero[...]) == nil)
        let cycleFirst = Self.btf([(8, 1, []), (20, 0, [])])
        #expect(BTFCheck.problem(cycleFirst[...]) == nil, "the check stops at the unknown kind")
    }
}

enum TestPaths {
    /// Tests/NetBPFUnitTests/FuzzRegressionTests.swift -> the repository root.
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
}
