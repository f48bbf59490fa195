internal import CMnl
import Glibc

/// Changing and deleting interfaces: RTM_NEWLINK on an existing ifi_index (no NLM_F_CREATE; what
/// `ip link set` sends) and RTM_DELLINK.
extension NetlinkSocket {
    /// A change request for `ifindex`; `body` adds the attributes.
    package static func setLinkRequest(ifindex: Int32, flags: UInt32 = 0, change: UInt32 = 0,
                                       _ body: (NetlinkRequest) -> Void = { _ in }) -> NetlinkRequest {
        let req = NetlinkRequest(type: UInt16(RTM_NEWLINK), flags: 0)
        var ifi = ifinfomsg()
        ifi.ifi_family = UInt8(AF_UNSPEC)
        ifi.ifi_index = ifindex
        ifi.ifi_flags = flags
        ifi.ifi_change = change
        req.putHeader(ifi)
        body(req)
        return req
    }

    /// Sets IFF_UP (ifi_flags/ifi_change), `ip link set X up|down`.
    public func setLinkUp(_ interface: Interface, _ up: Bool = true) throws {
        let up32 = UInt32(IFF_UP)
        try change(interface) { Self.setLinkRequest(ifindex: $0, flags: up ? up32 : 0, change: up32) }
    }

    /// Clears IFF_UP.
    public func setLinkDown(_ interface: Interface) throws { try setLinkUp(interface, false) }

    /// Sets the MTU (IFLA_MTU).
    public func setMTU(_ interface: Interface, _ mtu: UInt32) throws {
        try change(interface) { Self.setLinkRequest(ifindex: $0) { $0.put(UInt16(IFLA_MTU), u32: mtu) } }
    }

    /// Sets the Ethernet address (IFLA_ADDRESS).
    public func setMACAddress(_ interface: Interface, _ mac: MACAddress) throws {
        try change(interface) { Self.setLinkRequest(ifindex: $0) { $0.put(UInt16(IFLA_ADDRESS), bytes: mac.bytes) } }
    }

    /// Attaches `interface` to the bridge `master` (IFLA_MASTER), or detaches it with nil (IFLA_MASTER 0).
    public func setMaster(_ interface: Interface, _ master: Interface?) throws {
        let masterIndex = try master.map { try interfaceIndex($0) } ?? 0
        try change(interface) {
            Self.setLinkRequest(ifindex: $0) { $0.put(UInt16(IFLA_MASTER), u32: UInt32(bitPattern: masterIndex)) }
        }
    }

    /// Moves `interface` into `namespace` (IFLA_NET_NS_FD, kernel 3.0). It keeps its name there
    /// (the kernel refuses with EEXIST if the name is taken) and loses its addresses.
    public func moveLink(_ interface: Interface, to namespace: NetworkNamespace) throws {
        let fd = UInt32(bitPattern: namespace.rawDescriptor)
        try change(interface) { Self.setLinkRequest(ifindex: $0) { $0.put(UInt16(IFLA_NET_NS_FD), u32: fd) } }
    }

    /// Deletes `interface` (RTM_DELLINK); deleting one end of a veth deletes both.
    public func deleteLink(_ interface: Interface) throws {
        try change(interface) { index in
            let req = NetlinkRequest(type: UInt16(RTM_DELLINK), flags: 0)
            var ifi = ifinfomsg()
            ifi.ifi_family = UInt8(AF_UNSPEC)
            ifi.ifi_index = index
            req.putHeader(ifi)
            return req
        }
    }

    private func change(_ interface: Interface, _ make: (Int32) -> NetlinkRequest) throws {
        let index = try interfaceIndex(interface)
        let req = make(index)
        do {
            _ = try execute(req, subject: interface.description)
        } catch let e as NetlinkError where e.errno == ENODEV {
            throw interfaceNotFound(interface, operation: req.operation, kernelMessage: e.kernelMessage)
        }
    }
}
