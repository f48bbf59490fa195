/// Decodes captured Ethernet frames into TCP segments: the same layers as the socket filter
/// (programs/include/http_parse.h): up to two 802.1Q/802.1ad tags, IPv4 with options (non-first
/// fragments refused), IPv6 with up to six extension headers, TCP with options. Every read is
/// bounds-checked against the bytes given: any input gives a segment or a reason, never a trap.
package enum HTTPFrameDecoder {
    package enum Failure: String, Error, Sendable, Equatable {
        case truncated, notIP, notTCP, fragment, malformed, noPayload
    }

    package static let maximumIPv6ExtensionHeaders = 6

    package static func decode(_ frame: [UInt8]) -> Result<TCPSegment, Failure> {
        let b = frame
        func u16(_ o: Int) -> Int? { o >= 0 && o + 1 < b.count ? Int(b[o]) << 8 | Int(b[o + 1]) : nil }
        func u32(_ o: Int) -> UInt32? {
            guard o >= 0, o + 3 < b.count else { return nil }
            return UInt32(b[o]) << 24 | UInt32(b[o + 1]) << 16 | UInt32(b[o + 2]) << 8 | UInt32(b[o + 3])
        }
        guard var etherType = u16(12) else { return .failure(.truncated) }
        var offset = 12
        var vlan: UInt16?
        for _ in 0..<2 where etherType == 0x8100 || etherType == 0x88a8 {
            guard let tci = u16(offset + 2), let next = u16(offset + 4) else { return .failure(.truncated) }
            if vlan == nil { vlan = UInt16(tci & 0x0fff) }
            offset += 4
            etherType = next
        }
        let network = offset + 2
        var source: [UInt8], destination: [UInt8]
        var l4: Int, l4End: Int

        switch etherType {
        case 0x0800:
            guard network + 20 <= b.count else { return .failure(.truncated) }
            guard b[network] >> 4 == 4 else { return .failure(.malformed) }
            guard b[network + 9] == 6 else { return .failure(.notTCP) }
            guard let fragment = u16(network + 6) else { return .failure(.truncated) }
            if fragment & 0x1fff != 0 { return .failure(.fragment) }
            let ihl = Int(b[network] & 0x0f) * 4
            guard ihl >= 20 else { return .failure(.malformed) }
            var total = u16(network + 2) ?? 0
            if total == 0 { total = b.count - network } // BIG TCP / TSO with zero length
            guard total >= ihl else { return .failure(.malformed) }
            // A frame shorter than the IP header claims was cut (snap length) or lies.
            guard network + total <= b.count else { return .failure(.truncated) }
            source = Array(b[(network + 12)..<(network + 16)])
            destination = Array(b[(network + 16)..<(network + 20)])
            l4 = network + ihl
            l4End = network + total // Ethernet padding after the IP packet is not payload
        case 0x86dd:
            guard network + 40 <= b.count else { return .failure(.truncated) }
            guard b[network] >> 4 == 6 else { return .failure(.malformed) }
            let payloadLength = u16(network + 4) ?? 0
            l4 = network + 40
            l4End = payloadLength == 0 ? b.count : l4 + payloadLength
            guard l4End <= b.count else { return .failure(.truncated) }
            var next = b[network + 6]
            var headers = 0
            while next != 6 {
                guard headers < maximumIPv6ExtensionHeaders else { return .failure(.notTCP) }
                headers += 1
                guard l4 + 8 <= l4End else { return .failure(.truncated) }
                switch next {
                case 0, 43, 60: // hop-by-hop, routing, destination options
                    let length = (Int(b[l4 + 1]) + 1) * 8
                    next = b[l4]
                    l4 += length
                case 44: // fragment
                    if (u16(l4 + 2) ?? 0) & 0xfff8 != 0 { return .failure(.fragment) }
                    next = b[l4]
                    l4 += 8
                case 51: // authentication header
                    let length = (Int(b[l4 + 1]) + 2) * 4
                    next = b[l4]
                    l4 += length
                default:
                    return .failure(.notTCP)
                }
            }
            guard l4 <= l4End else { return .failure(.truncated) }
            source = Array(b[(network + 8)..<(network + 24)])
            destination = Array(b[(network + 24)..<(network + 40)])
        default:
            return .failure(.notIP)
        }

        guard l4 + 20 <= l4End else { return .failure(.truncated) }
        guard let sport = u16(l4), let dport = u16(l4 + 2), let seq = u32(l4 + 4) else { return .failure(.truncated) }
        let dataOffset = Int(b[l4 + 12] >> 4) * 4
        guard dataOffset >= 20, l4 + dataOffset <= l4End else { return .failure(.malformed) }
        let payloadStart = l4 + dataOffset
        guard payloadStart < l4End else { return .failure(.noPayload) }
        return .success(TCPSegment(source: HTTPEndpoint(address: source, port: UInt16(sport)),
                                   destination: HTTPEndpoint(address: destination, port: UInt16(dport)),
                                   sequence: seq, flags: b[l4 + 13], payload: Array(b[payloadStart..<l4End]), vlan: vlan))
    }
}
