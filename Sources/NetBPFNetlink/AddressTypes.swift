import Glibc

/// An IPv4 or IPv6 address as its network-order bytes (4 or 16), the form rtnetlink carries in
/// IFA_ADDRESS, RTA_GATEWAY, IFLA_VXLAN_GROUP, ... Parsed and printed with inet_pton/inet_ntop.
public struct IPAddress: Hashable, Sendable, CustomStringConvertible, LosslessStringConvertible {
    /// An address family.
    public enum Family: Sendable, Hashable {
        /// IPv4 (AF_INET).
        case v4
        /// IPv6 (AF_INET6).
        case v6
    }

    /// 4 bytes (IPv4) or 16 bytes (IPv6), network byte order.
    public let bytes: [UInt8]

    /// IPv4 for 4 bytes, IPv6 for 16.
    public var family: Family { bytes.count == 4 ? .v4 : .v6 }
    /// AF_INET or AF_INET6, for the family fields of ifaddrmsg/rtmsg.
    package var addressFamily: UInt8 { UInt8(bytes.count == 4 ? AF_INET : AF_INET6) }

    /// From raw bytes; nil unless there are exactly 4 or 16.
    public init?(bytes: [UInt8]) {
        guard bytes.count == 4 || bytes.count == 16 else { return nil }
        self.bytes = bytes
    }

    /// Parses "10.0.0.1" or "fd00::1".
    public init?(_ text: String) {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            bytes = withUnsafeBytes(of: &v4) { Array($0) }
            return
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 {
            bytes = withUnsafeBytes(of: &v6) { Array($0) }
            return
        }
        return nil
    }

    /// The address as inet_ntop writes it ("10.0.0.1", "fd00::1").
    public var description: String {
        var out = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        let af = bytes.count == 4 ? AF_INET : AF_INET6
        let ok = bytes.withUnsafeBytes { inet_ntop(af, $0.baseAddress, &out, socklen_t(out.count)) } != nil
        return ok ? String(cString: out) : bytes.map { String($0) }.joined(separator: ".")
    }

    /// Whether this is a multicast address (224.0.0.0/4 or ff00::/8): a VXLAN group rather than a remote.
    public var isMulticast: Bool { bytes.count == 4 ? bytes[0] & 0xF0 == 0xE0 : bytes[0] == 0xFF }
}

/// An address with a prefix length: "10.0.0.1/24", "fd00::1/64". Used for interface addresses
/// (the host part is kept) and route destinations.
public struct IPPrefix: Hashable, Sendable, CustomStringConvertible, LosslessStringConvertible {
    /// The address, host bits included ("10.0.0.1" of "10.0.0.1/24"); see `network`.
    public var address: IPAddress
    /// Leading bits that make up the network: 0...32 for IPv4, 0...128 for IPv6.
    public var prefixLength: UInt8

    /// - Precondition: `prefixLength` is at most 32 (IPv4) or 128 (IPv6); larger values are clamped.
    public init(_ address: IPAddress, prefixLength: UInt8) {
        self.address = address
        self.prefixLength = min(prefixLength, UInt8(address.bytes.count * 8))
    }

    /// Parses "10.0.0.1/24"; without "/N" the prefix is the full length (a host).
    public init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1).map(String.init)
        guard let first = parts.first, let address = IPAddress(first) else { return nil }
        let maxLength = address.bytes.count * 8
        var length = maxLength
        if parts.count == 2 {
            guard let n = Int(parts[1]), (0...maxLength).contains(n) else { return nil }
            length = n
        }
        self.address = address
        self.prefixLength = UInt8(length)
    }

    /// "ADDRESS/LENGTH", always with the length.
    public var description: String { "\(address)/\(prefixLength)" }

    /// The network address: host bits cleared.
    public var network: IPAddress {
        var b = address.bytes
        for i in 0..<b.count {
            let bitsHere = max(0, min(8, Int(prefixLength) - i * 8))
            b[i] &= bitsHere == 0 ? 0 : UInt8(truncatingIfNeeded: 0xFF << (8 - bitsHere))
        }
        return IPAddress(bytes: b)!
    }

    /// The IPv4 broadcast address (host bits set), what `ip addr add ... brd +` computes.
    public var broadcast: IPAddress? {
        guard address.family == .v4, prefixLength < 31 else { return nil }
        var b = address.bytes
        for i in 0..<4 {
            let bitsHere = max(0, min(8, Int(prefixLength) - i * 8))
            b[i] |= bitsHere == 8 ? 0 : UInt8(truncatingIfNeeded: 0xFF >> bitsHere)
        }
        return IPAddress(bytes: b)
    }
}

/// A 6-byte Ethernet address, "02:00:00:00:00:01" (IFLA_ADDRESS, NDA_LLADDR).
public struct MACAddress: Hashable, Sendable, CustomStringConvertible, LosslessStringConvertible {
    /// The 6 bytes, in wire order.
    public let bytes: [UInt8]

    /// From raw bytes; nil unless there are exactly 6.
    public init?(bytes: [UInt8]) {
        guard bytes.count == 6 else { return nil }
        self.bytes = bytes
    }

    /// Parses "aa:bb:cc:dd:ee:ff" (also with '-').
    public init?(_ text: String) {
        let parts = text.split(whereSeparator: { $0 == ":" || $0 == "-" })
        guard parts.count == 6 else { return nil }
        var b: [UInt8] = []
        for p in parts {
            guard p.count <= 2, let v = UInt8(p, radix: 16) else { return nil }
            b.append(v)
        }
        bytes = b
    }

    /// Lowercase hex pairs joined by ':' ("02:00:00:00:00:01").
    public var description: String {
        bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined(separator: ":")
    }
}
