/// Crafted VXLAN frames for BPF_PROG_TEST_RUN: outer Ethernet (optional VLAN tags), IPv4 or
/// IPv6 (optional extension headers), UDP, VXLAN, inner Ethernet and an inner IPv4/IPv6 ICMP
/// echo, ARP, or any other EtherType. Checksums are left zero (tc programs do not check them).
public struct VXLANFrame: Sendable {
    public var outerDestinationMAC: [UInt8] = [0x02, 0, 0, 0, 0, 0x02]
    public var outerSourceMAC: [UInt8] = [0x02, 0, 0, 0, 0, 0x01]
    public var outerVLANs: [UInt16] = []
    /// 4 bytes: IPv4 outer header, 16 bytes: IPv6.
    public var outerSource: [UInt8] = [172, 16, 1, 100]
    public var outerDestination: [UInt8] = [172, 16, 1, 101]
    /// IPv4 flags + fragment offset (0x4000 = DF).
    public var fragmentField: UInt16 = 0x4000
    public var ipv4HeaderLength = 20
    /// IPv6 extension headers before UDP, by next-header number (0, 43, 60: 8 bytes each;
    /// 44: a fragment header with `ipv6FragmentField`).
    public var ipv6Extensions: [UInt8] = []
    public var ipv6FragmentField: UInt16 = 0
    public var outerProtocol: UInt8 = 17
    public var udpSourcePort: UInt16 = 54321
    public var udpDestinationPort: UInt16 = 4789
    public var vxlanFlags: UInt8 = 0x08
    public var vni: UInt32 = 10000
    public var innerDestinationMAC: [UInt8] = [0x0a, 0, 0, 0, 0, 0x02]
    public var innerSourceMAC: [UInt8] = [0x0a, 0, 0, 0, 0, 0x01]
    public var innerVLANs: [UInt16] = []
    /// 0x0800 (ICMP echo in IPv4), 0x86dd (ICMPv6 echo), 0x0806 (ARP request), else raw bytes.
    public var innerEtherType: UInt16 = 0x0800
    public var innerSource: [UInt8] = [192, 168, 0, 1]
    public var innerDestination: [UInt8] = [192, 168, 0, 2]
    /// ICMP payload bytes (ping -s), or the raw payload size for other EtherTypes.
    public var payload = 56

    public init() {}

    static func be16(_ v: UInt16) -> [UInt8] { [UInt8(v >> 8), UInt8(v & 0xff)] }

    /// The inner Ethernet frame (header, tags, L3).
    public func innerFrame() -> [UInt8] {
        var f = innerDestinationMAC + innerSourceMAC
        for tag in innerVLANs { f += Self.be16(0x8100) + Self.be16(tag) }
        f += Self.be16(innerEtherType)
        switch innerEtherType {
        case 0x0800:
            let total = 20 + 8 + payload
            var ip: [UInt8] = [0x45, 0] + Self.be16(UInt16(total)) + [0, 1, 0x40, 0, 64, 1, 0, 0]
            ip += innerSource + innerDestination
            f += ip + [8, 0, 0, 0, 0, 1, 0, 1] + [UInt8](repeating: 0xab, count: payload)
        case 0x86dd:
            var ip: [UInt8] = [0x60, 0, 0, 0] + Self.be16(UInt16(8 + payload)) + [58, 64]
            ip += innerSource + innerDestination
            f += ip + [128, 0, 0, 0, 0, 1, 0, 1] + [UInt8](repeating: 0xab, count: payload)
        case 0x0806:
            f += [0, 1, 0x08, 0, 6, 4, 0, 1] + innerSourceMAC + innerSource + [0, 0, 0, 0, 0, 0] + innerDestination
        default:
            f += [UInt8](repeating: 0x5a, count: payload)
        }
        return f
    }

    /// The whole frame as it is on the wire (no FCS); `inner` replaces the inner Ethernet frame
    /// (a VXLAN frame inside one, say).
    public func bytes(inner override: [UInt8]? = nil) -> [UInt8] {
        let inner = override ?? innerFrame()
        let vxlan: [UInt8] = [vxlanFlags, 0, 0, 0, UInt8((vni >> 16) & 0xff), UInt8((vni >> 8) & 0xff), UInt8(vni & 0xff), 0]
        let udpLength = 8 + vxlan.count + inner.count
        let udp = Self.be16(udpSourcePort) + Self.be16(udpDestinationPort) + Self.be16(UInt16(udpLength)) + [0, 0]
        var f = outerDestinationMAC + outerSourceMAC
        for tag in outerVLANs { f += Self.be16(0x8100) + Self.be16(tag) }
        if outerSource.count == 4 {
            f += Self.be16(0x0800)
            let total = ipv4HeaderLength + udpLength
            var ip: [UInt8] = [UInt8(0x40 | (ipv4HeaderLength / 4)), 0] + Self.be16(UInt16(total)) + [0x12, 0x34]
            ip += Self.be16(fragmentField) + [64, outerProtocol, 0, 0] + outerSource + outerDestination
            ip += [UInt8](repeating: 1, count: max(ipv4HeaderLength - 20, 0)) // NOP options
            f += ip
        } else {
            f += Self.be16(0x86dd)
            var ext: [UInt8] = []
            let chain = ipv6Extensions + [outerProtocol]
            for (i, kind) in ipv6Extensions.enumerated() {
                let next = chain[i + 1]
                if kind == 44 { ext += [next, 0] + Self.be16(ipv6FragmentField) + [0, 0, 0, 1] }
                else { ext += [next, 0, 1, 4, 0, 0, 0, 0] } // PadN over the 6 option bytes
            }
            let first = chain[0]
            var ip: [UInt8] = [0x60, 0, 0, 0] + Self.be16(UInt16(ext.count + udpLength)) + [first, 64]
            ip += outerSource + outerDestination
            f += ip + ext
        }
        return f + udp + vxlan + inner
    }

    /// The same conversation the other way round.
    public func reversed() -> VXLANFrame {
        var r = self
        swap(&r.outerSource, &r.outerDestination)
        swap(&r.outerSourceMAC, &r.outerDestinationMAC)
        swap(&r.innerSource, &r.innerDestination)
        swap(&r.innerSourceMAC, &r.innerDestinationMAC)
        return r
    }

    /// Bytes the headers add to an inner IPv4 ICMP payload: what `ping -s N` puts on the wire.
    public static func wireLength(icmpPayload n: Int, outerIPv6: Bool = false) -> Int {
        n + 8 + 20 + 14 + 8 + 8 + (outerIPv6 ? 40 : 20) + 14
    }
}
