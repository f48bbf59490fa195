internal import CMnl
import Glibc

/// Reading interfaces: RTM_GETLINK for one (by IFLA_IFNAME or ifi_index) or a dump of all.
extension NetlinkSocket {
    /// RTEXT_FILTER_SKIP_STATS (kernel 5.x; ignored by older ones): replies without the 64-bit
    /// counters, which nobody here reads.
    static let skipStats: UInt32 = 1 << 3

    /// The RTM_GETLINK request for one interface.
    package static func getLinkRequest(_ interface: Interface) -> NetlinkRequest {
        let req = NetlinkRequest(type: UInt16(RTM_GETLINK), flags: 0)
        var ifi = ifinfomsg()
        ifi.ifi_family = UInt8(AF_UNSPEC)
        if case .index(let i) = interface { ifi.ifi_index = i }
        req.putHeader(ifi)
        if case .name(let n) = interface { req.put(UInt16(IFLA_IFNAME), string: n) }
        req.put(UInt16(IFLA_EXT_MASK), u32: skipStats)
        return req
    }

    /// One interface by name or index (RTM_GETLINK).
    /// - Throws: `.notFound`: "interface 'veth9' not found in network namespace 'ns1' (ENODEV)".
    public func interface(_ interface: Interface) throws -> InterfaceInfo {
        if case .name(let n) = interface { try validateInterfaceName(n, operation: "RTM_GETLINK") }
        do {
            let replies = try execute(Self.getLinkRequest(interface), subject: interface.description)
            guard let info = replies.lazy.compactMap(InterfaceInfo.init).first else {
                throw NetlinkError(.protocolError, operation: "RTM_GETLINK", subject: interface.description,
                                   message: "the kernel acknowledged but sent no RTM_NEWLINK")
            }
            return info
        } catch let e as NetlinkError where e.errno == ENODEV || (e.errno == EINVAL && interface.isIndexZero) {
            throw interfaceNotFound(interface, operation: "RTM_GETLINK", kernelMessage: e.kernelMessage)
        }
    }

    /// Whether an interface with this name or index exists here.
    public func interfaceExists(_ interface: Interface) throws -> Bool {
        do {
            _ = try self.interface(interface)
            return true
        } catch let e as NetlinkError where e.code == .notFound {
            return false
        }
    }

    /// Every interface in this socket's namespace, by index (RTM_GETLINK dump).
    public func interfaces() throws -> [InterfaceInfo] {
        let req = NetlinkRequest(type: UInt16(RTM_GETLINK), flags: 0)
        var ifi = ifinfomsg()
        ifi.ifi_family = UInt8(AF_UNSPEC)
        req.putHeader(ifi)
        req.put(UInt16(IFLA_EXT_MASK), u32: Self.skipStats)
        return try dump(req, subject: namespaceName).compactMap(InterfaceInfo.init).sorted { $0.index < $1.index }
    }
}

extension Interface {
    var isIndexZero: Bool { if case .index(0) = self { return true } else { return false } }
}
