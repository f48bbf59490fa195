/// Builds Ethernet frames carrying TCP segments, with the variations the HTTP filter must
/// handle: VLAN tags, IPv4 options and fragments, IPv6 extension headers, TCP options. Used by
/// the tests (unit and BPF_PROG_TEST_RUN), the benchmarks, and fuzzing.
package struct HTTPFrameBuilder: Sendable {
    package enum IPv6Extension: Sendable, Equatable {
        /// Hop-by-hop or destination options of (1 + units) * 8 bytes.
        case hopByHop(units: UInt8)
        case destination(units: UInt8)
        case routing(units: UInt8)
        /// offset in 8-byte units.
        case fragment(offset: UInt16, more: Bool)
        /// Authentication header of (units + 2) * 4 bytes.
        case authentication(units: UInt8)
    }

    package var sourceMAC: [UInt8] = [0x02, 0, 0, 0, 0, 0x02]
    package var destinationMAC: [UInt8] = [0x02, 0, 0, 0, 0, 0x01]
    /// VLAN ids, outermost first; with two, the outer is 802.1ad (0x88a8), the inner 802.1Q.
    package var vlans: [UInt16] = []
    package var source: HTTPEndpoint
    package var destination: HTTPEndpoint
    package var sequence: UInt32 = 1000
    package var acknowledgement: UInt32 = 1
    package var flags: UInt8 = 0x18
    /// IPv4 options (padded to 4 bytes).
    package var ipv4Options: [UInt8] = []
    /// IPv4 fragment offset in 8-byte units, and the more-fragments bit.
    package var fragmentOffset: UInt16 = 0
    package var moreFragments = false
    package var ipv6Extensions: [IPv6Extension] = []
    /// TCP options (padded to 4 bytes).
    package var tcpOptions: [UInt8] = []
    /// Bytes after the IP packet (Ethernet padding).
    package var trailer: [UInt8] = []

    package init(source: HTTPEndpoint, destination: HTTPEndpoint) {
        self.source = source
        self.destination = destination
    }

    /// 10.0.0.2:40000 -> 10.0.0.1:8000.
    package static func ipv4(sourcePort: UInt16 = 40000, destinationPort: UInt16 = 8000) -> HTTPFrameBuilder {
        HTTPFrameBuilder(source: HTTPEndpoint(address: [10, 0, 0, 2], port: sourcePort),
                         destination: HTTPEndpoint(address: [10, 0, 0, 1], port: destinationPort))
    }

    /// [fd00::2]:40000 -> [fd00::1]:8000.
    package static func ipv6(sourcePort: UInt16 = 40000, destinationPort: UInt16 = 8000) -> HTTPFrameBuilder {
        let base: [UInt8] = [0xfd] + [UInt8](repeating: 0, count: 14)
        return HTTPFrameBuilder(source: HTTPEndpoint(address: base + [2], port: sourcePort),
                                destination: HTTPEndpoint(address: base + [1], port: destinationPort))
    }

    static func be16(_ v: UInt16) -> [UInt8] { [UInt8(v >> 8), UInt8(v & 0xff)] }
    static func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8((v >> 16) & 0xff), UInt8((v >> 8) & 0xff), UInt8(v & 0xff)] }
    static func padded(_ b: [UInt8]) -> [UInt8] { b + [UInt8](repeating: 0, count: (4 - b.count % 4) % 4) }

    static func checksum(_ b: [UInt8]) -> UInt16 {
        var sum: UInt32 = 0
        var i = 0
        while i + 1 < b.count { sum += UInt32(b[i]) << 8 | UInt32(b[i + 1]); i += 2 }
        if i < b.count { sum += UInt32(b[i]) << 8 }
        while sum >> 16 != 0 { sum = (sum & 0xffff) + (sum >> 16) }
        return ~UInt16(sum)
    }

    /// The TCP header and payload.
    package func tcp(payload: [UInt8]) -> [UInt8] {
        let options = Self.padded(tcpOptions)
        let offset = UInt8((20 + options.count) / 4)
        return Self.be16(source.port) + Self.be16(destination.port) + Self.be32(sequence) + Self.be32(acknowledgement)
            + [offset << 4, flags] + Self.be16(65535) + [0, 0, 0, 0] + options + payload
    }

    /// The whole frame: Ethernet, tags, IP, TCP, payload, trailer.
    package func frame(payload: [UInt8]) -> [UInt8] {
        frame(transport: tcp(payload: payload), protocol: 6)
    }

    /// A frame with another transport (e.g. UDP, protocol 17) and its bytes as given.
    package func frame(transport: [UInt8], protocol proto: UInt8) -> [UInt8] {
        let v6 = source.address.count == 16
        var eth = destinationMAC + sourceMAC
        for (i, vlan) in vlans.enumerated() {
            eth += Self.be16(vlans.count > 1 && i == 0 ? 0x88a8 : 0x8100) + Self.be16(vlan & 0x0fff)
        }
        if v6 {
            var ext: [UInt8] = []
            var kinds: [UInt8] = []
            var bodies: [[UInt8]] = []
            for e in ipv6Extensions {
                switch e {
                case .hopByHop(let u): kinds.append(0); bodies.append([UInt8](repeating: 0, count: (Int(u) + 1) * 8))
                case .destination(let u): kinds.append(60); bodies.append([UInt8](repeating: 0, count: (Int(u) + 1) * 8))
                case .routing(let u): kinds.append(43); bodies.append([UInt8](repeating: 0, count: (Int(u) + 1) * 8))
                case .fragment(let offset, let more):
                    kinds.append(44)
                    bodies.append([0, 0] + Self.be16(offset << 3 | (more ? 1 : 0)) + [0, 0, 0, 1])
                case .authentication(let u): kinds.append(51); bodies.append([UInt8](repeating: 0, count: (Int(u) + 2) * 4))
                }
            }
            for (i, var body) in bodies.enumerated() {
                body[0] = i + 1 < kinds.count ? kinds[i + 1] : proto
                switch ipv6Extensions[i] {
                case .fragment: break
                case .authentication(let u): body[1] = u
                case .hopByHop(let u), .destination(let u), .routing(let u): body[1] = u
                }
                ext += body
            }
            let payloadLength = UInt16(truncatingIfNeeded: ext.count + transport.count)
            let header: [UInt8] = [0x60, 0, 0, 0] + Self.be16(payloadLength) + [kinds.first ?? proto, 64] + source.address + destination.address
            return eth + Self.be16(0x86dd) + header + ext + transport + trailer
        }
        let options = Self.padded(ipv4Options)
        let ihl = UInt8((20 + options.count) / 4)
        let total = UInt16(truncatingIfNeeded: 20 + options.count + transport.count)
        var header: [UInt8] = [0x40 | ihl, 0] + Self.be16(total) + [0x12, 0x34]
            + Self.be16((moreFragments ? 0x2000 : 0) | (fragmentOffset & 0x1fff)) + [64, proto, 0, 0]
            + source.address.prefix(4) + destination.address.prefix(4) + options
        let sum = Self.checksum(header)
        header[10] = UInt8(sum >> 8)
        header[11] = UInt8(sum & 0xff)
        return eth + Self.be16(0x0800) + header + transport + trailer
    }

    /// BPF_PROG_TEST_RUN starts socket filters at the network header (it strips one Ethernet
    /// header), while on an AF_PACKET socket they start at the Ethernet header: a dummy
    /// Ethernet header in front makes a test run see what a packet socket would.
    package static func forSocketFilterTestRun(_ frame: [UInt8]) -> [UInt8] {
        [UInt8](repeating: 0, count: 12) + (frame.count >= 14 ? Array(frame[12..<14]) : [0x08, 0x00]) + frame
    }
}
