import Foundation
import Testing
import NetBPF
@testable import NetBPFControllers
import NetBPFTestSupport

/// The tunnel monitor's parser on crafted frames (BPF_PROG_TEST_RUN): what is counted, where,
/// with which key and bytes, and what each malformed frame is counted as. Every run must
/// return TC_ACT_UNSPEC (-1: pass, and let the next program run) and bump exactly one outcome
/// besides `seen`.
@Suite(.serialized, .enabled(if: TestEnvironment.isRoot, "requires root: loads BPF programs (BPF_PROG_TEST_RUN)"))
struct TunnelParserTests {
    /// TC_ACT_UNSPEC as the test-run's u32 return value.
    static let pass = UInt32(bitPattern: -1)

    final class Harness {
        let object: BPFObject
        let ingress: BPFProgram
        let egress: BPFProgram
        var runs = 0

        init(ports: [UInt16] = [4789], maxConversations: Int = 1024) throws {
            object = try TunnelMonitor.load(ports: ports, maxConversations: maxConversations)
            ingress = try object.program(named: "tunnel_ingress")
            egress = try object.program(named: "tunnel_egress")
        }

        /// Runs one frame through a hook; `gsoSegments` sets __sk_buff.gso_segs (offset 164).
        @discardableResult
        func run(_ frame: [UInt8], ingress isIngress: Bool = true, gsoSegments: UInt32? = nil) throws -> UInt32 {
            var context: [UInt8]?
            if let g = gsoSegments {
                var ctx = [UInt8](repeating: 0, count: 192)
                withUnsafeBytes(of: g.littleEndian) { for i in 0..<4 { ctx[164 + i] = $0[i] } }
                withUnsafeBytes(of: UInt32(1400).littleEndian) { for i in 0..<4 { ctx[176 + i] = $0[i] } } // gso_size
                context = ctx
            }
            runs += 1
            let r = try (isIngress ? ingress : egress).testRun(data: frame, context: context)
            return r.returnValue
        }

        func conversations() throws -> [TMKey: TMCounters] {
            try TunnelMonitor.sumPerCPU(object.map(named: "conversations"), key: TMKey.self, value: TMCounters.self) { $0.add($1) }
        }

        func floods() throws -> [TMFloodKey: TMFloodCounters] {
            try TunnelMonitor.sumPerCPU(object.map(named: "floods"), key: TMFloodKey.self, value: TMFloodCounters.self) { $0.add($1) }
        }

        func stats() throws -> TMStats {
            var total = TMStats()
            for s in try PerCPUArrayMap<TMStats>(object.map(named: "stats")).get(0) { total.add(s) }
            return total
        }

        /// seen == the frames run, and every frame landed in exactly one outcome.
        func checkAccounting(sourceLocation: SourceLocation = #_sourceLocation) throws {
            let s = try stats()
            #expect(s[.seen] == UInt64(runs), sourceLocation: sourceLocation)
            let outcomes = TMStat.allCases.filter { $0 != .seen }.map { s[$0] }.reduce(0, +)
            #expect(outcomes == s[.seen], "outcomes \(outcomes) != seen \(s[.seen])", sourceLocation: sourceLocation)
        }
    }

    static let v4Key = TMKey(outerA: [172, 16, 1, 100], outerB: [172, 16, 1, 101], innerA: [192, 168, 0, 1], innerB: [192, 168, 0, 2],
                             vni: 10000, innerProto: 0x0800)

    @Test func ipv4FrameCountedWithItsLengthBothDirectionsOneKey() throws {
        let h = try Harness()
        let f = VXLANFrame()
        let bytes = f.bytes()
        #expect(bytes.count == VXLANFrame.wireLength(icmpPayload: 56)) // 56 + 8 + 20 + 14 + 8 + 8 + 20 + 14 = 148
        #expect(try h.run(bytes, ingress: false) == Self.pass)         // egress a->b (tx)
        #expect(try h.run(f.reversed().bytes(), ingress: true) == Self.pass) // ingress b->a (rx)
        #expect(try h.run(f.reversed().bytes(), ingress: true) == Self.pass)
        let c = try h.conversations()
        #expect(c.count == 1)
        let v = try #require(c[Self.v4Key], "keys: \(c.keys.map { TunnelKeyNames($0) })")
        #expect(v[packets: .egressAToB] == 1 && v[bytes: .egressAToB] == 148)
        #expect(v[packets: .ingressBToA] == 2 && v[bytes: .ingressBToA] == 296)
        #expect(v[packets: .egressBToA] == 0 && v[packets: .ingressAToB] == 0)
        #expect(v.txPackets == 1 && v.rxPackets == 2)
        let s = try h.stats()
        #expect(s[.counted] == 3)
        try h.checkAccounting()
    }

    @Test func keyIsOrderedByOuterThenInnerAddress() throws {
        let h = try Harness()
        var f = VXLANFrame()
        f.outerSource = [10, 0, 0, 9]; f.outerDestination = [10, 0, 0, 2] // higher outer sends: b -> a
        try h.run(f.bytes(), ingress: false)
        var same = VXLANFrame()
        same.outerSource = [10, 0, 0, 5]; same.outerDestination = [10, 0, 0, 5]
        same.innerSource = [192, 168, 0, 9]; same.innerDestination = [192, 168, 0, 3]
        try h.run(same.bytes(), ingress: true)
        let c = try h.conversations()
        let k1 = TMKey(outerA: [10, 0, 0, 2], outerB: [10, 0, 0, 9], innerA: [192, 168, 0, 2], innerB: [192, 168, 0, 1], vni: 10000, innerProto: 0x0800)
        #expect(c[k1]?[packets: .egressBToA] == 1)
        let k2 = TMKey(outerA: [10, 0, 0, 5], outerB: [10, 0, 0, 5], innerA: [192, 168, 0, 3], innerB: [192, 168, 0, 9], vni: 10000, innerProto: 0x0800)
        #expect(c[k2]?[packets: .ingressBToA] == 1)
        try h.checkAccounting()
    }

    /// Malformed and foreign frames, each with the outcome it must be counted as. Used here with
    /// BPF_PROG_TEST_RUN and by TunnelTrafficTests, which sends them over a veth.
    static func badFrames() -> [(String, [UInt8], TMStat)] {
        let good = VXLANFrame().bytes()
        var cases: [(String, [UInt8], TMStat)] = []
        cases.append(("outer IPv4 cut short", Array(good.prefix(14 + 10)), .outerTruncated))
        var badIHL = good; badIHL[14] = 0x44
        cases.append(("outer IHL 4", badIHL, .outerTruncated))
        cases.append(("UDP header cut short", Array(good.prefix(14 + 20 + 4)), .outerTruncated))
        cases.append(("VXLAN header cut short", Array(good.prefix(14 + 20 + 8 + 5)), .vxlanTruncated))
        var noI = VXLANFrame(); noI.vxlanFlags = 0x00
        cases.append(("VXLAN without the I flag", noI.bytes(), .vxlanFlags))
        var gpe = VXLANFrame(); gpe.vxlanFlags = 0x04
        cases.append(("VXLAN with only another flag", gpe.bytes(), .vxlanFlags))
        cases.append(("inner Ethernet cut short", Array(good.prefix(50 + 10)), .innerTruncated))
        cases.append(("inner IPv4 cut short", Array(good.prefix(50 + 14 + 12)), .innerTruncated))
        var innerBadIHL = good; innerBadIHL[64] = 0x43
        cases.append(("inner IHL 3", innerBadIHL, .innerTruncated))
        var innerVLANShort = VXLANFrame(); innerVLANShort.innerVLANs = [7]
        cases.append(("inner VLAN tag cut short", Array(innerVLANShort.bytes().prefix(50 + 14 + 2)), .innerTruncated))
        var arpShort = VXLANFrame(); arpShort.innerEtherType = 0x0806
        cases.append(("inner ARP cut short", Array(arpShort.bytes().prefix(50 + 14 + 20)), .innerTruncated))
        var tcp = VXLANFrame(); tcp.outerProtocol = 6
        cases.append(("outer TCP", tcp.bytes(), .notVXLAN))
        var port = VXLANFrame(); port.udpDestinationPort = 4790
        cases.append(("UDP to 4790", port.bytes(), .notVXLAN))
        var arp = [UInt8](repeating: 0, count: 42); arp[12] = 0x08; arp[13] = 0x06
        cases.append(("outer ARP", arp, .notVXLAN))
        var mf = VXLANFrame(); mf.fragmentField = 0x2000
        cases.append(("outer first fragment (MF)", mf.bytes(), .outerFragment))
        var later = VXLANFrame(); later.fragmentField = 0x00b9
        cases.append(("outer later fragment", later.bytes(), .outerFragment))
        var v6frag = VXLANFrame(); v6frag.outerSource = Array(repeating: 0xfd, count: 1) + Array(repeating: 0, count: 14) + [1]
        v6frag.outerDestination = Array(repeating: 0xfd, count: 1) + Array(repeating: 0, count: 14) + [2]
        v6frag.ipv6Extensions = [44]; v6frag.ipv6FragmentField = 0x0009 // offset 1, M
        cases.append(("outer IPv6 fragment", v6frag.bytes(), .outerFragment))
        var v6short = v6frag; v6short.ipv6Extensions = []
        cases.append(("outer IPv6 cut short", Array(v6short.bytes().prefix(14 + 30)), .outerTruncated))
        return cases
    }

    /// Malformed and foreign frames: counted by reason, never in a conversation. The kernel's
    /// test-run refuses an IPv4 frame shorter than 34 bytes or an IPv6 one shorter than 54 (it
    /// wants the whole L3 header): those are sent over a real veth by TunnelTrafficTests.
    @Test func badFramesAreCountedByReason() throws {
        let h = try Harness()
        let cases = Self.badFrames().filter { _, f, _ in
            let type = UInt16(f[12]) << 8 | UInt16(f[13])
            return !(type == 0x0800 && f.count < 34) && !(type == 0x86dd && f.count < 54)
        }
        #expect(cases.count == Self.badFrames().count - 2)
        for (name, frame, expected) in cases {
            let before = try h.stats()
            #expect(try h.run(frame) == Self.pass, "\(name): not TC_ACT_UNSPEC")
            let after = try h.stats()
            for s in TMStat.allCases where s != .seen {
                #expect(after[s] - before[s] == (s == expected ? 1 : 0), "\(name): \(s.name) went \(before[s]) -> \(after[s]), expected \(expected.name)")
            }
        }
        #expect(try h.conversations().isEmpty)
        #expect(try h.floods().isEmpty)
        try h.checkAccounting()
    }

    @Test func reservedFlagBitsBesideIAreIgnored() throws {
        let h = try Harness()
        var f = VXLANFrame(); f.vxlanFlags = 0x0c
        try h.run(f.bytes())
        #expect(try h.conversations()[Self.v4Key] != nil)
    }

    @Test func nonIPInnerCountedWithEtherTypeAndNoAddresses() throws {
        let h = try Harness()
        var lldp = VXLANFrame(); lldp.innerEtherType = 0x88cc; lldp.payload = 40
        try h.run(lldp.bytes(), ingress: false)
        var arp = VXLANFrame(); arp.innerEtherType = 0x0806
        try h.run(arp.bytes(), ingress: false)
        let c = try h.conversations()
        let k = TMKey(outerA: [172, 16, 1, 100], outerB: [172, 16, 1, 101], innerA: [], innerB: [], vni: 10000, innerProto: 0x88cc)
        #expect(c[k]?[bytes: .egressAToB] == UInt64(lldp.bytes().count))
        #expect(TunnelKeyNames(k).innerA == "-" && TunnelKeyNames(k).innerProto == "0x88cc")
        let ka = TMKey(outerA: [172, 16, 1, 100], outerB: [172, 16, 1, 101], innerA: [192, 168, 0, 1], innerB: [192, 168, 0, 2], vni: 10000, innerProto: 0x0806)
        #expect(c[ka]?[packets: .egressAToB] == 1, "ARP sender/target addresses are the inner addresses")
        #expect(c[ka]?[bytes: .egressAToB] == 50 + 42)
        try h.checkAccounting()
    }

    @Test func ipv6OuterWithExtensionHeadersAndIPv6Inner() throws {
        let h = try Harness()
        let a: [UInt8] = [0xfd, 0] + Array(repeating: 0, count: 13) + [1], b: [UInt8] = [0xfd, 0] + Array(repeating: 0, count: 13) + [2]
        var f = VXLANFrame(); f.outerSource = b; f.outerDestination = a
        try h.run(f.bytes())
        var ext = f; ext.ipv6Extensions = [0, 60]; ext.vni = 10001
        try h.run(ext.bytes())
        var inner6 = f; inner6.vni = 10002; inner6.innerEtherType = 0x86dd
        inner6.innerSource = [0xfe, 0x80] + Array(repeating: 0, count: 13) + [9]; inner6.innerDestination = [0xfe, 0x80] + Array(repeating: 0, count: 13) + [8]
        try h.run(inner6.bytes())
        let c = try h.conversations()
        #expect(c.count == 3)
        let k = TMKey(outerA: a, outerB: b, innerA: [192, 168, 0, 2], innerB: [192, 168, 0, 1], vni: 10000, innerProto: 0x0800)
        #expect(c[k]?[packets: .ingressBToA] == 1)
        #expect(c[k]?[bytes: .ingressBToA] == UInt64(VXLANFrame.wireLength(icmpPayload: 56, outerIPv6: true)))
        let k1 = TMKey(outerA: a, outerB: b, innerA: [192, 168, 0, 2], innerB: [192, 168, 0, 1], vni: 10001, innerProto: 0x0800)
        #expect(c[k1]?[bytes: .ingressBToA] == UInt64(ext.bytes().count))
        let k2 = TMKey(outerA: a, outerB: b, innerA: inner6.innerDestination, innerB: inner6.innerSource, vni: 10002, innerProto: 0x86dd)
        #expect(c[k2]?[packets: .ingressBToA] == 1)
        #expect(TunnelAddress.text(k2.innerA) == "fe80::8")
        try h.checkAccounting()
    }

    @Test func vlanTagsOutsideAndInsideAndIPOptions() throws {
        let h = try Harness()
        var f = VXLANFrame(); f.outerVLANs = [100, 200]; f.innerVLANs = [7]; f.ipv4HeaderLength = 28
        let bytes = f.bytes()
        try h.run(bytes)
        #expect(try h.conversations()[Self.v4Key]?[bytes: .ingressAToB] == UInt64(bytes.count))
    }

    @Test func floodedDestinationsAreNotConversations() throws {
        let h = try Harness()
        var mcast = VXLANFrame(); mcast.outerDestination = [239, 1, 1, 1]; mcast.outerDestinationMAC = [0x01, 0, 0x5e, 1, 1, 1]
        try h.run(mcast.bytes(), ingress: false)
        try h.run(mcast.bytes(), ingress: true)
        var bcast = VXLANFrame(); bcast.outerDestination = [255, 255, 255, 255]; bcast.vni = 10001
        try h.run(bcast.bytes())
        var groupMAC = VXLANFrame(); groupMAC.outerDestinationMAC = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff]; groupMAC.vni = 10002
        try h.run(groupMAC.bytes())
        var v6 = VXLANFrame(); v6.outerSource = [0xfd] + Array(repeating: 0, count: 14) + [1]
        v6.outerDestination = [0xff, 0x05] + Array(repeating: 0, count: 13) + [0x10]; v6.vni = 10003
        try h.run(v6.bytes())
        #expect(try h.conversations().isEmpty)
        let f = try h.floods()
        let k = TMFloodKey(group: [239, 1, 1, 1], vni: 10000)
        #expect(f[k] == TMFloodCounters(txPackets: 1, rxPackets: 1, txBytes: UInt64(mcast.bytes().count), rxBytes: UInt64(mcast.bytes().count)))
        #expect(f[TMFloodKey(group: [255, 255, 255, 255], vni: 10001)]?.rxPackets == 1)
        #expect(f[TMFloodKey(group: [172, 16, 1, 101], vni: 10002)]?.rxPackets == 1)
        #expect(f[TMFloodKey(group: v6.outerDestination, vni: 10003)]?.rxPackets == 1)
        #expect(try h.stats()[.flooded] == 5)
        try h.checkAccounting()
    }

    @Test func configuredPortsReplaceTheDefault() throws {
        let h = try Harness(ports: [8472, 4790])
        try h.run(VXLANFrame().bytes())
        var linux = VXLANFrame(); linux.udpDestinationPort = 8472
        try h.run(linux.bytes())
        var other = VXLANFrame(); other.udpDestinationPort = 4790; other.vni = 77
        try h.run(other.bytes())
        let c = try h.conversations()
        #expect(c.count == 2)
        #expect(try h.stats()[.notVXLAN] == 1)
        #expect(c.keys.contains { $0.vni == 77 })
    }

    @Test func largeFrameAndGSOAccounting() throws {
        let h = try Harness()
        var big = VXLANFrame(); big.payload = 3000
        let bytes = big.bytes()
        try h.run(bytes, ingress: false)
        #expect(try h.conversations()[Self.v4Key]?[bytes: .egressAToB] == UInt64(bytes.count))
        // A GSO frame of 3 segments: every segment repeats the outer and inner headers
        // (14 + 20 + 8 + 8 + 14 + 20 = 84 bytes here, inner ICMP has no L4 header to repeat).
        var gso = VXLANFrame(); gso.vni = 10001; gso.payload = 2800
        let g = gso.bytes()
        try h.run(g, ingress: false, gsoSegments: 3)
        let k = TMKey(outerA: [172, 16, 1, 100], outerB: [172, 16, 1, 101], innerA: [192, 168, 0, 1], innerB: [192, 168, 0, 2], vni: 10001, innerProto: 0x0800)
        let v = try h.conversations()[k]
        #expect(v?[packets: .egressAToB] == 3)
        #expect(v?[bytes: .egressAToB] == UInt64(g.count + 2 * 84))
    }

    @Test func tableFullIsCountedNotSilent() throws {
        let h = try Harness(maxConversations: 4)
        for i in 0..<6 {
            var f = VXLANFrame(); f.innerDestination = [192, 168, 0, UInt8(10 + i)]
            try h.run(f.bytes())
        }
        #expect(try h.conversations().count == 4)
        #expect(try h.stats()[.tableFull] == 2)
        try h.checkAccounting()
    }

    /// Random cuts and byte flips of valid frames: always passed, every frame accounted once.
    @Test func fuzzedFramesAreAlwaysPassedAndAccounted() throws {
        let h = try Harness()
        var rng = SystemRandomNumberGenerator()
        var seeds: [VXLANFrame] = [VXLANFrame()]
        var v6 = VXLANFrame(); v6.outerSource = [0xfd] + Array(repeating: 0, count: 14) + [1]; v6.outerDestination = [0xfd] + Array(repeating: 0, count: 14) + [2]
        v6.ipv6Extensions = [0, 43, 60]; seeds.append(v6)
        var tagged = VXLANFrame(); tagged.outerVLANs = [5]; tagged.innerVLANs = [6, 7]; tagged.innerEtherType = 0x86dd
        tagged.innerSource = Array(repeating: 1, count: 16); tagged.innerDestination = Array(repeating: 2, count: 16); seeds.append(tagged)
        var arp = VXLANFrame(); arp.innerEtherType = 0x0806; seeds.append(arp)
        for i in 0..<3000 {
            var b = seeds[i % seeds.count].bytes()
            for _ in 0..<Int.random(in: 0...4, using: &rng) {
                b[Int.random(in: 0..<b.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
            // Cuts keep 54 bytes: the kernel's test-run wants a whole IPv4 or IPv6 header.
            if Bool.random(using: &rng) { b = Array(b.prefix(Int.random(in: 54...b.count, using: &rng))) }
            #expect(try h.run(b, ingress: Bool.random(using: &rng)) == Self.pass)
        }
        try h.checkAccounting()
    }
}
