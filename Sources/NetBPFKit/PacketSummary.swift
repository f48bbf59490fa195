/// One-line summaries of Ethernet frames, like tcpdump's: `IPv4 10.0.0.1 > 10.0.0.2: ICMP echo
/// request, length 84`. Reads only within the bytes given: a malformed or truncated frame gets
/// a summary that says so, never a crash (this parser sees untrusted input).
/// VXLAN (UDP to port 4789 or 8472) is decoded one level deep: `...: VXLAN, vni 42: ` and the
/// inner frame's summary, in which a VXLAN datagram is plain UDP (this bounds the work per frame).
public enum PacketSummary {
    /// UDP destination ports read as VXLAN: 4789 (IANA) and 8472 (Linux's old default).
    static let vxlanPorts: Set<UInt16> = [4789, 8472]

    /// The summary of one Ethernet frame (VLAN tags, IPv4/IPv6, TCP/UDP/ICMP, ARP, VXLAN).
    public static func describe(_ frame: [UInt8]) -> String { describe(frame, decapsulate: true) }

    /// `decapsulate`: whether a VXLAN datagram's inner frame is summarised (false inside one).
    static func describe(_ frame: [UInt8], decapsulate: Bool) -> String {
        guard frame.count >= 14 else { return "truncated Ethernet frame (\(frame.count) bytes)" }
        var offset = 12
        var etherType = be16(frame, offset)
        var vlan = ""
        while (etherType == 0x8100 || etherType == 0x88a8), frame.count >= offset + 6 {
            vlan += "vlan \(be16(frame, offset + 2) & 0x0fff), "
            offset += 4
            etherType = be16(frame, offset)
        }
        let payload = offset + 2
        switch etherType {
        case 0x0800: return vlan + ipv4(frame, payload, decapsulate: decapsulate)
        case 0x86dd: return vlan + ipv6(frame, payload, decapsulate: decapsulate)
        case 0x0806: return vlan + "ARP, length \(frame.count - payload)"
        default: return vlan + "ethertype 0x" + String(etherType, radix: 16) + ", length \(frame.count)"
        }
    }

    static func be16(_ b: [UInt8], _ o: Int) -> UInt16 { o + 1 < b.count ? UInt16(b[o]) << 8 | UInt16(b[o + 1]) : 0 }

    static func ipv4(_ b: [UInt8], _ o: Int, decapsulate: Bool) -> String {
        guard b.count >= o + 20, b[o] >> 4 == 4 else { return "IPv4, truncated or malformed" }
        let ihl = Int(b[o] & 0x0f) * 4
        guard ihl >= 20, b.count >= o + ihl else { return "IPv4, bad header length" }
        // Not `map(String.init)`: for UInt8 that picks this module's String(format2:), two hex digits.
        let src = b[(o + 12)..<(o + 16)].map { String($0) }.joined(separator: ".")
        let dst = b[(o + 16)..<(o + 20)].map { String($0) }.joined(separator: ".")
        let total = Int(be16(b, o + 2))
        // A fragment after the first carries no UDP header: never read as VXLAN.
        let first = be16(b, o + 6) & 0x1fff == 0
        return transport(b, o + ihl, protocol: b[o + 9], src: src, dst: dst, length: total, decapsulate: decapsulate && first)
    }

    static func ipv6(_ b: [UInt8], _ o: Int, decapsulate: Bool) -> String {
        guard b.count >= o + 40, b[o] >> 4 == 6 else { return "IPv6, truncated or malformed" }
        func addr(_ s: Int) -> String {
            stride(from: s, to: s + 16, by: 2).map { String(be16(b, $0), radix: 16) }.joined(separator: ":")
        }
        return transport(b, o + 40, protocol: b[o + 6], src: addr(o + 8), dst: addr(o + 24), length: Int(be16(b, o + 4)) + 40, v6: true,
                         decapsulate: decapsulate)
    }

    static func transport(_ b: [UInt8], _ o: Int, protocol p: UInt8, src: String, dst: String, length: Int, v6: Bool = false,
                          decapsulate: Bool) -> String {
        let family = v6 ? "IPv6" : "IPv4"
        switch p {
        case 6 where b.count >= o + 14:
            let flags = b[o + 13]
            let names = [(0x02, "S"), (0x10, "."), (0x08, "P"), (0x01, "F"), (0x04, "R")].filter { Int(flags) & $0.0 != 0 }.map(\.1).joined()
            return "\(family) \(src).\(be16(b, o)) > \(dst).\(be16(b, o + 2)): TCP [\(names)], length \(length)"
        case 17 where b.count >= o + 8:
            let ports = "\(family) \(src).\(be16(b, o)) > \(dst).\(be16(b, o + 2)): "
            if decapsulate, vxlanPorts.contains(be16(b, o + 2)) { return ports + vxlan(b, o + 8, length: length) }
            return ports + "UDP, length \(length)"
        case 1 where b.count >= o + 1:
            let kind = [0: "echo reply", 8: "echo request", 3: "unreachable", 11: "time exceeded"][Int(b[o])] ?? "type \(b[o])"
            return "\(family) \(src) > \(dst): ICMP \(kind), length \(length)"
        case 58 where b.count >= o + 1:
            let kind = [128: "echo request", 129: "echo reply", 135: "neighbor solicitation", 136: "neighbor advertisement"][Int(b[o])] ?? "type \(b[o])"
            return "\(family) \(src) > \(dst): ICMP6 \(kind), length \(length)"
        default:
            return "\(family) \(src) > \(dst): protocol \(p), length \(length)"
        }
    }

    /// The VXLAN header at `o` (RFC 7348: flags, where I = 0x08 says the VNI is valid; 3 reserved
    /// bytes; the 24-bit VNI; 1 reserved byte), then the inner Ethernet frame up to the end of the
    /// bytes, summarised without decapsulating again. `length`: the outer IP length, for plain UDP.
    static func vxlan(_ b: [UInt8], _ o: Int, length: Int) -> String {
        guard b.count >= o + 8 else { return "VXLAN, truncated (\(b.count - o) of 8 header bytes)" }
        guard b[o] & 0x08 != 0 else { return "UDP, length \(length) (not VXLAN: no I flag)" }
        let vni = Int(b[o + 4]) << 16 | Int(b[o + 5]) << 8 | Int(b[o + 6])
        return "VXLAN, vni \(vni): " + describe(Array(b[(o + 8)...]), decapsulate: false)
    }
}
