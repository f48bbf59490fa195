internal import CMnl
import Glibc

/// An interface address as RTM_NEWADDR reports it.
public struct AddressInfo: Sendable, Equatable {
    /// The interface it is on (ifa_index).
    public var interfaceIndex: Int32
    /// The address with its prefix length (IFA_LOCAL, or IFA_ADDRESS when there is no local).
    public var prefix: IPPrefix
    /// IFA_ADDRESS when it differs from the local address (the peer of a point-to-point link).
    public var peer: IPAddress?
    /// IFA_BROADCAST (IPv4).
    public var broadcast: IPAddress?
    /// IFA_LABEL (IPv4).
    public var label: String?
    /// ifa_scope: 0 universe, 253 link, 254 host.
    public var scope: UInt8
    /// IFA_FLAGS (32-bit, kernel 3.14) or ifa_flags: IFA_F_PERMANENT, IFA_F_NODAD, IFA_F_TENTATIVE, ...
    public var flags: UInt32

    package init?(_ m: NetlinkMessage) {
        guard m.type == UInt16(RTM_NEWADDR), let ifa = m.familyHeader(ifaddrmsg.self) else { return nil }
        let a = m.attributes(after: ifaddrmsg.self)
        let local = a.bytes(UInt16(IFA_LOCAL)).flatMap { IPAddress(bytes: $0) }
        let address = a.bytes(UInt16(IFA_ADDRESS)).flatMap { IPAddress(bytes: $0) }
        guard let primary = local ?? address else { return nil }
        interfaceIndex = Int32(bitPattern: ifa.ifa_index)
        prefix = IPPrefix(primary, prefixLength: ifa.ifa_prefixlen)
        peer = (local != nil && address != nil && address != local) ? address : nil
        broadcast = a.bytes(UInt16(IFA_BROADCAST)).flatMap { IPAddress(bytes: $0) }
        label = a.string(UInt16(IFA_LABEL))
        scope = ifa.ifa_scope
        flags = a.u32(UInt16(IFA_FLAGS)) ?? UInt32(ifa.ifa_flags)
    }

    /// IFA_F_TENTATIVE: IPv6 duplicate address detection still running.
    public var isTentative: Bool { flags & UInt32(IFA_F_TENTATIVE) != 0 }
}

/// Interface addresses: RTM_NEWADDR / RTM_DELADDR / RTM_GETADDR (IPv4 and IPv6).
extension NetlinkSocket {
    package static func addressRequest(type: UInt16, flags: Int32, ifindex: Int32, _ prefix: IPPrefix,
                                       noDAD: Bool) -> NetlinkRequest {
        let req = NetlinkRequest(type: type, flags: flags)
        var ifa = ifaddrmsg()
        ifa.ifa_family = prefix.address.addressFamily
        ifa.ifa_prefixlen = prefix.prefixLength
        ifa.ifa_index = UInt32(bitPattern: ifindex)
        req.putHeader(ifa)
        // As `ip addr add`: IFA_LOCAL and IFA_ADDRESS both carry the address when there is no peer.
        req.put(UInt16(IFA_LOCAL), bytes: prefix.address.bytes)
        req.put(UInt16(IFA_ADDRESS), bytes: prefix.address.bytes)
        if type == UInt16(RTM_NEWADDR) {
            if let brd = prefix.broadcast { req.put(UInt16(IFA_BROADCAST), bytes: brd.bytes) }
            if noDAD && prefix.address.family == .v6 { req.put(UInt16(IFA_FLAGS), u32: UInt32(IFA_F_NODAD)) }
        }
        return req
    }

    /// Adds `prefix` (e.g. "10.0.0.1/24") to `interface`, with the IPv4 broadcast address
    /// computed as `brd +` does. IPv6 addresses skip duplicate address detection by default
    /// (IFA_F_NODAD, kernel 3.14) so they are usable at once, as a simulated network wants.
    /// - Throws: `NetlinkError` `.exists` if the address is already there; `.notFound` for a
    ///   missing interface.
    public func addAddress(_ prefix: IPPrefix, to interface: Interface, skipDAD: Bool = true) throws {
        let index = try interfaceIndex(interface)
        let req = Self.addressRequest(type: UInt16(RTM_NEWADDR), flags: NLM_F_CREATE | NLM_F_EXCL,
                                      ifindex: index, prefix, noDAD: skipDAD)
        try run(req, interface: interface, what: prefix.description)
    }

    /// Removes `prefix` from `interface` (RTM_DELADDR).
    /// - Throws: `NetlinkError` `.notFound` when the address is not there (EADDRNOTAVAIL) or the
    ///   interface does not exist.
    public func deleteAddress(_ prefix: IPPrefix, from interface: Interface) throws {
        let index = try interfaceIndex(interface)
        let req = Self.addressRequest(type: UInt16(RTM_DELADDR), flags: 0, ifindex: index, prefix, noDAD: false)
        try run(req, interface: interface, what: prefix.description)
    }

    /// The addresses in this namespace, optionally of one interface and one family (RTM_GETADDR dump).
    public func addresses(on interface: Interface? = nil, family: IPAddress.Family? = nil) throws -> [AddressInfo] {
        let index = try interface.map { try interfaceIndex($0) }
        let req = NetlinkRequest(type: UInt16(RTM_GETADDR), flags: 0)
        var ifa = ifaddrmsg()
        ifa.ifa_family = family.map { UInt8($0 == .v4 ? AF_INET : AF_INET6) } ?? UInt8(AF_UNSPEC)
        ifa.ifa_index = UInt32(bitPattern: index ?? 0)   // a filter under NETLINK_GET_STRICT_CHK
        req.putHeader(ifa)
        return try dump(req, subject: interface?.description ?? namespaceName)
            .compactMap(AddressInfo.init)
            .filter { index == nil || $0.interfaceIndex == index }
    }

    private func run(_ req: NetlinkRequest, interface: Interface, what: String) throws {
        do {
            _ = try execute(req, subject: "\(what) dev \(interface)")
        } catch var e as NetlinkError {
            if e.errno == ENODEV { throw interfaceNotFound(interface, operation: e.operation, kernelMessage: e.kernelMessage) }
            if e.errno == EEXIST { e.message = "address \(what) already exists on '\(interface)' (EEXIST)" }
            if e.errno == EADDRNOTAVAIL { e.code = .notFound; e.message = "address \(what) is not on '\(interface)' (EADDRNOTAVAIL)" }
            throw e
        }
    }
}
