internal import CMnl
import Glibc

/// What a VXLAN device is created with (IFLA_INFO_DATA of kind "vxlan", kernel 3.7;
/// collect-metadata/external mode 4.3).
public struct VXLANOptions: Sendable, Equatable {
    /// The VXLAN network identifier (IFLA_VXLAN_ID). Must be nil in external mode.
    public var vni: UInt32?
    /// Unicast remote VTEP (IFLA_VXLAN_GROUP/GROUP6, as `ip link ... remote`).
    public var remote: IPAddress?
    /// Multicast group (same attribute as `remote`; needs `underlay`).
    public var group: IPAddress?
    /// Source address (IFLA_VXLAN_LOCAL/LOCAL6).
    public var local: IPAddress?
    /// UDP destination port (IFLA_VXLAN_PORT). The kernel's own default is 8472 (Linux's
    /// pre-IANA port); this type defaults to the IANA port 4789.
    public var port: UInt16 = 4789
    /// Underlay device (IFLA_VXLAN_LINK).
    public var underlay: Interface?
    /// MAC learning (IFLA_VXLAN_LEARNING).
    public var learning: Bool = true
    /// Flow-based mode (IFLA_VXLAN_COLLECT_METADATA): no fixed VNI or remote; BPF sets the
    /// tunnel key per packet (bpf_skb_set_tunnel_key).
    public var external: Bool = false
    /// Outer TTL (IFLA_VXLAN_TTL); nil = kernel default (inherit).
    public var ttl: UInt8?

    /// Options; each parameter sets the property of the same name. `createVXLAN` checks the combination.
    public init(vni: UInt32? = nil, remote: IPAddress? = nil, group: IPAddress? = nil, local: IPAddress? = nil,
                port: UInt16 = 4789, underlay: Interface? = nil, learning: Bool = true, external: Bool = false,
                ttl: UInt8? = nil) {
        self.vni = vni
        self.remote = remote
        self.group = group
        self.local = local
        self.port = port
        self.underlay = underlay
        self.learning = learning
        self.external = external
        self.ttl = ttl
    }
}

/// Creating interfaces: RTM_NEWLINK with NLM_F_CREATE|NLM_F_EXCL and IFLA_LINKINFO
/// (IFLA_INFO_KIND + IFLA_INFO_DATA). Never replaces an existing interface.
extension NetlinkSocket {
    /// The RTM_NEWLINK request creating `name` of `kind`; `data` fills IFLA_INFO_DATA.
    package static func newLinkRequest(name: String, kind: String, mtu: UInt32? = nil,
                                       data: ((NetlinkRequest) -> Void)? = nil) -> NetlinkRequest {
        let req = NetlinkRequest(type: UInt16(RTM_NEWLINK), flags: NLM_F_CREATE | NLM_F_EXCL)
        var ifi = ifinfomsg()
        ifi.ifi_family = UInt8(AF_UNSPEC)
        req.putHeader(ifi)
        req.put(UInt16(IFLA_IFNAME), string: name)
        if let mtu { req.put(UInt16(IFLA_MTU), u32: mtu) }
        req.nest(UInt16(IFLA_LINKINFO)) {
            req.put(UInt16(IFLA_INFO_KIND), string: kind)
            if let data { req.nest(UInt16(IFLA_INFO_DATA)) { data(req) } }
        }
        return req
    }

    /// Creates a veth pair `name` <-> `peer` (kind "veth", kernel 2.6.24). The peer is created
    /// directly in `peerNamespace` when given (IFLA_NET_NS_FD inside VETH_INFO_PEER, 3.0), so
    /// its name only has to be free there. Returns the index of `name`.
    /// - Throws: `NetlinkError` `.invalidArgument` for an invalid name; `.exists` when either
    ///   name is taken (EEXIST).
    @discardableResult
    public func createVeth(_ name: String, peer: String, peerNamespace: NetworkNamespace? = nil,
                           mtu: UInt32? = nil) throws -> Int32 {
        try validateInterfaceName(name, operation: "RTM_NEWLINK")
        try validateInterfaceName(peer, operation: "RTM_NEWLINK")
        let req = Self.vethRequest(name: name, peer: peer, peerNamespaceFD: peerNamespace?.rawDescriptor, mtu: mtu)
        try create(req, name: name, kind: "veth",
                   alsoNamed: peer + (peerNamespace.map { " in network namespace '\($0.displayName)'" } ?? ""))
        return try interfaceIndex(.name(name))
    }

    /// The veth request: VETH_INFO_PEER holds a whole ifinfomsg followed by the peer's attributes.
    package static func vethRequest(name: String, peer: String, peerNamespaceFD: Int32?, mtu: UInt32?) -> NetlinkRequest {
        newLinkRequest(name: name, kind: "veth", mtu: mtu) { req in
            req.nest(UInt16(VETH_INFO_PEER)) {
                var peerIfi = ifinfomsg()
                peerIfi.ifi_family = UInt8(AF_UNSPEC)
                req.putHeader(peerIfi)
                req.put(UInt16(IFLA_IFNAME), string: peer)
                if let mtu { req.put(UInt16(IFLA_MTU), u32: mtu) }
                if let fd = peerNamespaceFD { req.put(UInt16(IFLA_NET_NS_FD), u32: UInt32(bitPattern: fd)) }
            }
        }
    }

    /// Creates a bridge (RTM_NEWLINK kind "bridge"; no VLAN filtering here). Returns its index.
    /// - Throws: `NetlinkError` `.exists` when the name is taken; `.unsupported` on a kernel
    ///   without the bridge driver.
    @discardableResult
    public func createBridge(_ name: String, mtu: UInt32? = nil) throws -> Int32 {
        try validateInterfaceName(name, operation: "RTM_NEWLINK")
        try create(Self.newLinkRequest(name: name, kind: "bridge", mtu: mtu), name: name, kind: "bridge")
        return try interfaceIndex(.name(name))
    }

    /// Creates a VXLAN device (RTM_NEWLINK kind "vxlan", kernel 3.7; external mode 4.3). Returns its index.
    /// - Throws: `.invalidArgument` for a VNI in external mode, no VNI otherwise, a multicast
    ///   group without an underlay device, or mixed address families.
    @discardableResult
    public func createVXLAN(_ name: String, _ options: VXLANOptions, mtu: UInt32? = nil) throws -> Int32 {
        try validateInterfaceName(name, operation: "RTM_NEWLINK")
        func invalid(_ why: String) -> NetlinkError {
            NetlinkError(.invalidArgument, operation: "RTM_NEWLINK", subject: name, errno: EINVAL, message: why)
        }
        if options.external && options.vni != nil { throw invalid("a VNI and external (collect-metadata) mode are mutually exclusive") }
        if !options.external && options.vni == nil { throw invalid("a VNI is required unless the device is external") }
        if let vni = options.vni, vni >= 1 << 24 { throw invalid("VNI \(vni) does not fit in 24 bits") }
        if options.remote != nil && options.group != nil { throw invalid("give either a remote or a multicast group, not both") }
        if let g = options.group, !g.isMulticast { throw invalid("group \(g) is not a multicast address") }
        if options.group != nil && options.underlay == nil { throw invalid("a multicast group needs an underlay device") }
        if let r = options.remote, r.isMulticast { throw invalid("remote \(r) is multicast: pass it as group") }
        let peer = options.remote ?? options.group
        if let peer, let local = options.local, peer.family != local.family {
            throw invalid("remote/group and local must be the same address family")
        }
        let underlayIndex = try options.underlay.map { try interfaceIndex($0) }
        let req = Self.vxlanRequest(name: name, options, underlayIndex: underlayIndex, mtu: mtu)
        try create(req, name: name, kind: "vxlan")
        return try interfaceIndex(.name(name))
    }

    package static func vxlanRequest(name: String, _ o: VXLANOptions, underlayIndex: Int32?, mtu: UInt32?) -> NetlinkRequest {
        newLinkRequest(name: name, kind: "vxlan", mtu: mtu) { req in
            if let vni = o.vni { req.put(UInt16(IFLA_VXLAN_ID), u32: vni) }
            if let peer = o.remote ?? o.group {
                req.put(UInt16(peer.family == .v4 ? IFLA_VXLAN_GROUP : IFLA_VXLAN_GROUP6), bytes: peer.bytes)
            }
            if let local = o.local {
                req.put(UInt16(local.family == .v4 ? IFLA_VXLAN_LOCAL : IFLA_VXLAN_LOCAL6), bytes: local.bytes)
            }
            if let underlayIndex { req.put(UInt16(IFLA_VXLAN_LINK), u32: UInt32(bitPattern: underlayIndex)) }
            if let ttl = o.ttl { req.put(UInt16(IFLA_VXLAN_TTL), u8: ttl) }
            req.put(UInt16(IFLA_VXLAN_LEARNING), u8: o.learning ? 1 : 0)
            req.put(UInt16(IFLA_VXLAN_PORT), be16: o.port)
            if o.external { req.put(UInt16(IFLA_VXLAN_COLLECT_METADATA), u8: 1) }
        }
    }

    private func create(_ req: NetlinkRequest, name: String, kind: String, alsoNamed other: String? = nil) throws {
        do {
            _ = try execute(req, subject: name)
        } catch var e as NetlinkError {
            switch e.errno {
            case EEXIST:
                e.message = "an interface named '\(name)'\(other.map { " or '\($0)'" } ?? "") already exists in \(namespaceDescription) (EEXIST)"
            case EOPNOTSUPP:
                e.code = .unsupported
                e.message = "this kernel has no '\(kind)' link type (EOPNOTSUPP)"
                e.hint = "the kernel was built without the driver for '\(kind)'"
            default: break
            }
            throw e
        }
    }
}
