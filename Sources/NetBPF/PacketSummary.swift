/// One-line summaries of Ethernet frames, like tcpdump's: `IPv4 10.0.0.1 > 10.0.0.2: ICMP echo
/// request, length 84`. Reads only within the bytes given: a malformed or truncated frame gets
/// a summary that says so, never a crash (this parser sees untrusted input).
public enum PacketSummary {
    public static func describe(_ frame: [UInt8]) -> String {
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
        case 0x0800: return vlan + ipv4(frame, payload)
        case 0x86dd: return vlan + ipv6(frame, payload)
        case 0x0806: return vlan + "ARP, length \(frame.count - payload)"
        default: return vlan + "ethertype 0x" + String(etherType, radix: 16) + ", length \(frame.count)"
        }
    }

    static func be16(_ b: [UInt8], _ o: Int) -> UInt16 { o + 1 < b.count ? UInt16(b[o]) << 8 | UInt16(b[o + 1]) : 0 }

    static func ipv4(_ b: [UInt8], _ o: Int) -> String {
        guard b.count >= o + 20, b[o] >> 4 == 4 else { return "IPv4, truncated or malformed" }
        let ihl = Int(b[o] & 0x0f) * 4
        guard ihl >= 20, b.count >= o + ihl else { return "IPv4, bad header length" }
        // Not `map(String.init)`: for UInt8 that picks this module's String(format2:), two hex digits.
        let src = b[(o + 12)..<(o + 16)].map { String($0) }.joined(separator: ".")
        let dst = b[(o + 16)..<(o + 20)].map { String($0) }.joined(separator: ".")
        let total = Int(be16(b, o + 2))
        return transport(b, o + ihl, protocol: b[o + 9], src: src, dst: dst, length: total)
    }

    static func ipv6(_ b: [UInt8], _ o: Int) -> String {
        guard b.count >= o + 40, b[o] >> 4 == 6 else { return "IPv6, truncated or malformed" }
        func addr(_ s: Int) -> String {
            stride(from: s, to: s + 16, by: 2).map { String(be16(b, $0), radix: 16) }.joined(separator: ":")
        }
        return transport(b, o + 40, protocol: b[o + 6], src: addr(o + 8), dst: addr(o + 24), length: Int(be16(b, o + 4)) + 40, v6: true)
    }

    static func transport(_ b: [UInt8], _ o: Int, protocol p: UInt8, src: String, dst: String, length: Int, v6: Bool = false) -> String {
        let family = v6 ? "IPv6" : "IPv4"
        switch p {
        case 6 where b.count >= o + 14:
            let flags = b[o + 13]
            let names = [(0x02, "S"), (0x10, "."), (0x08, "P"), (0x01, "F"), (0x04, "R")].filter { Int(flags) & $0.0 != 0 }.map(\.1).joined()
            return "\(family) \(src).\(be16(b, o)) > \(dst).\(be16(b, o + 2)): TCP [\(names)], length \(length)"
        case 17 where b.count >= o + 8:
            return "\(family) \(src).\(be16(b, o)) > \(dst).\(be16(b, o + 2)): UDP, length \(length)"
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
}
