import Foundation
import Testing
@testable import NetBPF
import NetBPFKit
import NetBPFTestSupport

/// `PacketSummary` (the lines of `netbpf attach socket`) on VXLAN: one level decoded, the rest
/// plain UDP; truncated and flagless headers said so. Frames from NetBPFTestSupport's VXLANFrame.
@Suite struct PacketSummaryTests {
    static let outer = "IPv4 172.16.1.100.54321 > 172.16.1.101.4789: "
    static let inner = "IPv4 192.168.0.1 > 192.168.0.2: ICMP echo request, length 84"

    static func v6(_ last: UInt8, prefix: UInt8 = 0) -> [UInt8] { [0xfd, prefix] + [UInt8](repeating: 0, count: 13) + [last] }

    @Test func plainFramesAreUnchanged() {
        var f = VXLANFrame()
        f.udpDestinationPort = 53
        #expect(PacketSummary.describe(f.bytes()) == "IPv4 172.16.1.100.54321 > 172.16.1.101.53: UDP, length 134")
        #expect(PacketSummary.describe(f.innerFrame()) == Self.inner)
        #expect(PacketSummary.describe([]) == "truncated Ethernet frame (0 bytes)")
    }

    @Test func ipv4InVXLANOverIPv4() {
        #expect(PacketSummary.describe(VXLANFrame().bytes()) == Self.outer + "VXLAN, vni 10000: " + Self.inner)
        var f = VXLANFrame()
        f.outerSource = [172, 16, 1, 1]
        f.outerDestination = [172, 16, 1, 2]
        f.udpSourcePort = 40000
        f.vni = 42
        #expect(PacketSummary.describe(f.bytes()) ==
            "IPv4 172.16.1.1.40000 > 172.16.1.2.4789: VXLAN, vni 42: IPv4 192.168.0.1 > 192.168.0.2: ICMP echo request, length 84")
        f.vni = 0xffffff
        f.innerEtherType = 0x0806
        #expect(PacketSummary.describe(f.bytes()) == "IPv4 172.16.1.1.40000 > 172.16.1.2.4789: VXLAN, vni 16777215: ARP, length 28")
    }

    @Test func ipv6InVXLANOverIPv6() {
        var f = VXLANFrame()
        f.outerSource = Self.v6(1)
        f.outerDestination = Self.v6(2)
        #expect(PacketSummary.describe(f.bytes()) ==
            "IPv6 fd00:0:0:0:0:0:0:1.54321 > fd00:0:0:0:0:0:0:2.4789: VXLAN, vni 10000: " + Self.inner)
        f.innerEtherType = 0x86dd
        f.innerSource = Self.v6(1, prefix: 1)
        f.innerDestination = Self.v6(2, prefix: 1)
        #expect(PacketSummary.describe(f.bytes()) == "IPv6 fd00:0:0:0:0:0:0:1.54321 > fd00:0:0:0:0:0:0:2.4789: VXLAN, vni 10000: "
            + "IPv6 fd01:0:0:0:0:0:0:1 > fd01:0:0:0:0:0:0:2: ICMP6 echo request, length 104")
    }

    /// 8472 too (Linux's default before 4789); other ports, and 4789 as the source, are plain UDP.
    @Test func ports() {
        var f = VXLANFrame()
        f.udpDestinationPort = 8472
        #expect(PacketSummary.describe(f.bytes()) == "IPv4 172.16.1.100.54321 > 172.16.1.101.8472: VXLAN, vni 10000: " + Self.inner)
        f.udpDestinationPort = 4790
        #expect(PacketSummary.describe(f.bytes()) == "IPv4 172.16.1.100.54321 > 172.16.1.101.4790: UDP, length 134")
        f.udpSourcePort = 4789
        f.udpDestinationPort = 54321
        #expect(PacketSummary.describe(f.bytes()) == "IPv4 172.16.1.100.4789 > 172.16.1.101.54321: UDP, length 134")
    }

    @Test func vlanTagsOutsideAndInside() {
        var f = VXLANFrame()
        f.outerVLANs = [5]
        f.innerVLANs = [10, 20]
        #expect(PacketSummary.describe(f.bytes()) == "vlan 5, " + Self.outer + "VXLAN, vni 10000: vlan 10, vlan 20, " + Self.inner)
    }

    @Test func headerWithoutTheIFlagIsNotVXLAN() {
        var f = VXLANFrame()
        f.vxlanFlags = 0
        #expect(PacketSummary.describe(f.bytes()) == Self.outer + "UDP, length 134 (not VXLAN: no I flag)")
        f.vxlanFlags = 0xf7
        #expect(PacketSummary.describe(f.bytes()) == Self.outer + "UDP, length 134 (not VXLAN: no I flag)")
        f.vxlanFlags = 0x0c // I plus VXLAN-GPE's P: the VNI is still valid
        #expect(PacketSummary.describe(f.bytes()) == Self.outer + "VXLAN, vni 10000: " + Self.inner)
    }

    /// Only the first fragment of an outer IPv4 datagram has the UDP and VXLAN headers.
    @Test func laterFragmentsAreNotDecapsulated() {
        var f = VXLANFrame()
        f.fragmentField = 0x2000 // MF, offset 0
        #expect(PacketSummary.describe(f.bytes()) == Self.outer + "VXLAN, vni 10000: " + Self.inner)
        f.fragmentField = 0x0001 // offset 8 bytes
        #expect(PacketSummary.describe(f.bytes()) == Self.outer + "UDP, length 134")
    }

    /// A VXLAN frame inside a VXLAN frame: the inner one is plain UDP, however deep it goes.
    @Test func nestedVXLANIsShownAsUDP() {
        var innermost = VXLANFrame()
        innermost.vni = 3
        var middle = VXLANFrame()
        middle.vni = 2
        middle.outerSource = [172, 16, 2, 1]
        middle.outerDestination = [172, 16, 2, 2]
        var outer = VXLANFrame()
        outer.vni = 1
        let two = outer.bytes(inner: middle.bytes())
        #expect(PacketSummary.describe(two) == Self.outer + "VXLAN, vni 1: IPv4 172.16.2.1.54321 > 172.16.2.2.4789: UDP, length 134")
        let three = outer.bytes(inner: middle.bytes(inner: innermost.bytes()))
        #expect(PacketSummary.describe(three) == Self.outer + "VXLAN, vni 1: IPv4 172.16.2.1.54321 > 172.16.2.2.4789: UDP, length 184")
    }

    /// Every prefix of a VXLAN frame (148 bytes: 42 outer, 8 VXLAN, 98 inner) has a summary that
    /// says how far it got.
    @Test func truncatedAtEveryLength() {
        let frame = VXLANFrame().bytes()
        #expect(frame.count == 148)
        for n in 0...frame.count {
            let s = PacketSummary.describe(Array(frame.prefix(n)))
            let vxlan = Self.outer + "VXLAN, vni 10000: "
            switch n {
            case ..<14: #expect(s == "truncated Ethernet frame (\(n) bytes)")
            case ..<34: #expect(s == "IPv4, truncated or malformed")
            case ..<42: #expect(s == "IPv4 172.16.1.100 > 172.16.1.101: protocol 17, length 134")
            case ..<50: #expect(s == Self.outer + "VXLAN, truncated (\(n - 42) of 8 header bytes)", "\(n) bytes")
            case ..<64: #expect(s == vxlan + "truncated Ethernet frame (\(n - 50) bytes)")
            case ..<84: #expect(s == vxlan + "IPv4, truncated or malformed", "\(n) bytes")
            case 84: #expect(s == vxlan + "IPv4 192.168.0.1 > 192.168.0.2: protocol 1, length 84")
            default: #expect(s == vxlan + Self.inner, "\(n) bytes")
            }
        }
    }

    /// The other shapes cut everywhere: no trap, and past the UDP header the outer part stays.
    @Test func otherShapesTruncatedAtEveryLength() {
        var v6 = VXLANFrame()
        v6.outerSource = Self.v6(1)
        v6.outerDestination = Self.v6(2)
        v6.innerVLANs = [10]
        var tagged = VXLANFrame()
        tagged.outerVLANs = [5, 6]
        let nested = VXLANFrame().bytes(inner: VXLANFrame().bytes())
        for (frame, udpEnd) in [(v6.bytes(), 14 + 40 + 8), (tagged.bytes(), 22 + 20 + 8), (nested, 42)] {
            for n in 0...frame.count {
                let s = PacketSummary.describe(Array(frame.prefix(n)))
                #expect(!s.isEmpty)
                if n >= udpEnd { #expect(s.contains("54321 > ") && s.contains(".4789: VXLAN, "), "\(n) bytes: \(s)") }
            }
        }
    }

    /// The fuzzer's VXLAN seeds (fuzz/corpus/packet/vxlan-*) are what their names say.
    @Test func fuzzSeeds() throws {
        func seed(_ name: String) throws -> String {
            let url = TestPaths.repositoryRoot.appendingPathComponent("fuzz/corpus/packet/" + name)
            return PacketSummary.describe([UInt8](try Data(contentsOf: url)))
        }
        #expect(try seed("vxlan-ipv4") ==
            "IPv4 172.16.1.1.40000 > 172.16.1.2.4789: VXLAN, vni 42: IPv4 192.168.0.1 > 192.168.0.2: ICMP echo request, length 36")
        #expect(try seed("vxlan-ipv6-8472-vlan") == "IPv6 fd00:0:0:0:0:0:0:1.40000 > fd00:0:0:0:0:0:0:2.8472: VXLAN, vni 7: "
            + "vlan 10, IPv4 192.168.0.1 > 192.168.0.2: ICMP echo request, length 36")
        #expect(try seed("vxlan-nested") ==
            "IPv4 172.16.1.1.40000 > 172.16.1.2.4789: VXLAN, vni 1: IPv4 172.16.2.1.40001 > 172.16.2.2.4789: UDP, length 78")
    }
}
