import Foundation
import Glibc

/// An IPv4 or IPv6 address with a prefix length ("10.0.0.2", "10.0.0.0/24", "fd00::/64").
public struct AddressPrefix: Sendable, Hashable, CustomStringConvertible, Codable {
    /// 4 or 16 bytes, network order, host bits cleared.
    public var address: [UInt8] // 4 or 16 bytes, host bits cleared
    /// The prefix length in bits (32 or 128 for one address).
    public var length: Int

    /// True for a 16-byte address.
    public var isIPv6: Bool { address.count == 16 }

    /// Parses "ADDRESS" or "ADDRESS/LENGTH" (inet_pton), clearing the host bits.
    /// - Throws: `ControllerError` for text that is not an address or has a bad length.
    public init(_ text: String) throws {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let addrText = parts.first.map(String.init) else { throw ControllerError("'\(text)' is not an address or prefix") }
        var bytes = [UInt8](repeating: 0, count: 16)
        if inet_pton(AF_INET, addrText, &bytes) == 1 {
            bytes = Array(bytes.prefix(4))
        } else if inet_pton(AF_INET6, addrText, &bytes) == 1 {
        } else {
            throw ControllerError("'\(text)' is not an IPv4 or IPv6 address", hint: "e.g. 10.0.0.2, 10.0.0.0/24 or fd00::/64")
        }
        let maxLength = bytes.count * 8
        var length = maxLength
        if parts.count == 2 {
            guard let l = Int(parts[1]), l >= 0, l <= maxLength else {
                throw ControllerError("'\(text)' has a bad prefix length", hint: "0 to \(maxLength)")
            }
            length = l
        }
        for bit in length..<maxLength { bytes[bit / 8] &= ~(UInt8(0x80) >> UInt8(bit % 8)) }
        address = bytes
        self.length = length
    }

    init(address: [UInt8], length: Int) {
        self.address = address
        self.length = length
    }

    /// "10.0.0.2" for one address, "10.0.0.0/24" for a prefix (inet_ntop).
    public var description: String {
        var buf = [CChar](repeating: 0, count: 64)
        _ = address.withUnsafeBytes { inet_ntop(isIPv6 ? AF_INET6 : AF_INET, $0.baseAddress, &buf, socklen_t(buf.count)) }
        let text = String(cString: buf)
        return length == address.count * 8 ? text : "\(text)/\(length)"
    }
}
