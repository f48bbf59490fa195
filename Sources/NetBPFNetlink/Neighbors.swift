internal import CMnl
import Glibc

/// Static neighbour entries (RTM_NEWNEIGH, NUD_PERMANENT): `ip neigh add ADDR lladdr MAC dev X`.
/// Simulations and tests use them to keep ARP/ND traffic off links whose packets they count.
extension NetlinkSocket {
    package static func neighborRequest(type: UInt16, flags: Int32, ifindex: Int32, address: IPAddress,
                                        mac: MACAddress?) -> NetlinkRequest {
        let req = NetlinkRequest(type: type, flags: flags)
        var nd = ndmsg()
        nd.ndm_family = address.addressFamily
        nd.ndm_ifindex = ifindex
        nd.ndm_state = UInt16(NUD_PERMANENT)
        req.putHeader(nd)
        req.put(UInt16(NDA_DST), bytes: address.bytes)
        if let mac { req.put(UInt16(NDA_LLADDR), bytes: mac.bytes) }
        return req
    }

    /// Adds (or replaces) a permanent neighbour entry.
    public func addNeighbor(_ address: IPAddress, mac: MACAddress, on interface: Interface) throws {
        let index = try interfaceIndex(interface)
        let req = Self.neighborRequest(type: UInt16(RTM_NEWNEIGH), flags: NLM_F_CREATE | NLM_F_REPLACE,
                                       ifindex: index, address: address, mac: mac)
        _ = try execute(req, subject: "\(address) dev \(interface)")
    }

    /// Deletes a neighbour entry.
    public func deleteNeighbor(_ address: IPAddress, on interface: Interface) throws {
        let index = try interfaceIndex(interface)
        let req = Self.neighborRequest(type: UInt16(RTM_DELNEIGH), flags: 0, ifindex: index, address: address, mac: nil)
        _ = try execute(req, subject: "\(address) dev \(interface)")
    }
}
