internal import CMnl
import Glibc

/// One interface as RTM_NEWLINK describes it (the reply to RTM_GETLINK, kernel 2.6+).
public struct InterfaceInfo: Sendable, Equatable {
    /// The ifindex, unique within its namespace.
    public var index: Int32
    /// IFLA_IFNAME.
    public var name: String
    /// IFLA_INFO_KIND: "veth", "bridge", "vxlan", ...; nil for devices without rtnl_link_ops (loopback, NICs).
    public var kind: String?
    /// IFLA_INFO_SLAVE_KIND: "bridge" for a bridge port.
    public var portKind: String?
    /// IFLA_MTU.
    public var mtu: UInt32
    /// IFLA_ADDRESS (Ethernet devices).
    public var macAddress: MACAddress?
    /// ifi_flags (IFF_UP, IFF_RUNNING, IFF_LOWER_UP, ...).
    public var flags: LinkFlags
    /// IFLA_OPERSTATE (RFC 2863).
    public var operState: OperState
    /// IFLA_MASTER: the bridge (or bond) this interface is attached to.
    public var masterIndex: Int32?
    /// IFLA_LINK: the peer of a veth or the lower device, possibly in another namespace (see `linkNetnsID`).
    public var parentIndex: Int32?
    /// IFLA_LINK_NETNSID: the namespace id `parentIndex` lives in, when not this one.
    public var linkNetnsID: Int32?
    /// The XDP program(s) attached through netlink (IFLA_XDP).
    public var xdp: XDPStatus
    /// VXLAN settings (IFLA_INFO_DATA), when `kind == "vxlan"`.
    public var vxlan: VXLANInfo?

    /// Whether it is administratively up (IFF_UP; the carrier may still be down, see `operState`).
    public var isUp: Bool { flags.contains(.up) }

    /// Parses an RTM_NEWLINK message.
    package init?(_ m: NetlinkMessage) {
        guard m.type == UInt16(RTM_NEWLINK), let ifi = m.familyHeader(ifinfomsg.self) else { return nil }
        let a = m.attributes(after: ifinfomsg.self)
        index = ifi.ifi_index
        flags = LinkFlags(rawValue: ifi.ifi_flags)
        name = a.string(UInt16(IFLA_IFNAME)) ?? ""
        mtu = a.u32(UInt16(IFLA_MTU)) ?? 0
        macAddress = a.bytes(UInt16(IFLA_ADDRESS)).flatMap { MACAddress(bytes: $0) }
        operState = OperState(rawValue: a.u8(UInt16(IFLA_OPERSTATE)) ?? 0) ?? .unknown
        masterIndex = a.u32(UInt16(IFLA_MASTER)).map { Int32(bitPattern: $0) }
        parentIndex = a.u32(UInt16(IFLA_LINK)).map { Int32(bitPattern: $0) }
        linkNetnsID = a.s32(UInt16(IFLA_LINK_NETNSID))
        xdp = a.nested(UInt16(IFLA_XDP)).map(XDPStatus.init(attributes:)) ?? XDPStatus()
        let info = a.nested(UInt16(IFLA_LINKINFO))
        kind = info?.string(UInt16(IFLA_INFO_KIND))
        portKind = info?.string(UInt16(IFLA_INFO_SLAVE_KIND))
        if kind == "vxlan", let data = info?.nested(UInt16(IFLA_INFO_DATA)) {
            vxlan = VXLANInfo(attributes: data)
        }
    }
}

/// Interface flags from ifi_flags (<linux/if.h> IFF_*).
public struct LinkFlags: OptionSet, Sendable, Hashable {
    /// ifi_flags as the kernel sends them.
    public let rawValue: UInt32
    /// Flags by value, for ones without a static member here.
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// Administratively up (IFF_UP, `ip link set X up`).
    public static let up = LinkFlags(rawValue: UInt32(IFF_UP))
    /// Has a broadcast address (IFF_BROADCAST).
    public static let broadcast = LinkFlags(rawValue: UInt32(IFF_BROADCAST))
    /// The loopback device (IFF_LOOPBACK).
    public static let loopback = LinkFlags(rawValue: UInt32(IFF_LOOPBACK))
    /// A point-to-point link (IFF_POINTOPOINT).
    public static let pointToPoint = LinkFlags(rawValue: UInt32(IFF_POINTOPOINT))
    /// Operationally up, as RFC 2863 up or unknown (IFF_RUNNING).
    public static let running = LinkFlags(rawValue: UInt32(IFF_RUNNING))
    /// No ARP on this link (IFF_NOARP).
    public static let noARP = LinkFlags(rawValue: UInt32(IFF_NOARP))
    /// Receives every frame (IFF_PROMISC).
    public static let promiscuous = LinkFlags(rawValue: UInt32(IFF_PROMISC))
    /// Supports multicast (IFF_MULTICAST).
    public static let multicast = LinkFlags(rawValue: UInt32(IFF_MULTICAST))
    /// Carrier is up (IFF_LOWER_UP, 1 << 16).
    public static let lowerUp = LinkFlags(rawValue: 1 << 16)
}

/// IFLA_OPERSTATE values (RFC 2863).
public enum OperState: UInt8, Sendable {
    /// IF_OPER_UNKNOWN: the driver does not say (loopback, some virtual devices).
    case unknown = 0
    /// IF_OPER_NOTPRESENT: hardware missing.
    case notPresent
    /// IF_OPER_DOWN.
    case down
    /// IF_OPER_LOWERLAYERDOWN: a device it depends on is down (a VLAN's parent, a veth's peer).
    case lowerLayerDown
    /// IF_OPER_TESTING.
    case testing
    /// IF_OPER_DORMANT: up but waiting for an external event (802.1X).
    case dormant
    /// IF_OPER_UP: can pass packets.
    case up
}

/// The VXLAN attributes read back from IFLA_INFO_DATA (IFLA_VXLAN_*).
public struct VXLANInfo: Sendable, Equatable {
    /// IFLA_VXLAN_ID; absent (nil) in external mode.
    public var vni: UInt32?
    /// IFLA_VXLAN_GROUP/GROUP6: the unicast remote or the multicast group.
    public var remote: IPAddress?
    /// IFLA_VXLAN_LOCAL/LOCAL6.
    public var local: IPAddress?
    /// IFLA_VXLAN_PORT (UDP destination port, host order).
    public var port: UInt16?
    /// IFLA_VXLAN_LINK: the underlay device index.
    public var underlayIndex: Int32?
    /// IFLA_VXLAN_LEARNING.
    public var learning: Bool
    /// IFLA_VXLAN_COLLECT_METADATA: external (flow-based) mode, for BPF tunnel keys.
    public var external: Bool
    /// IFLA_VXLAN_TTL (0 = inherit).
    public var ttl: UInt8?

    init(attributes a: AttributeTable) {
        let vniValue = a.u32(UInt16(IFLA_VXLAN_ID))
        external = (a.u8(UInt16(IFLA_VXLAN_COLLECT_METADATA)) ?? 0) != 0
        vni = (external && vniValue == 0) ? nil : vniValue
        remote = (a.bytes(UInt16(IFLA_VXLAN_GROUP)) ?? a.bytes(UInt16(IFLA_VXLAN_GROUP6))).flatMap { IPAddress(bytes: $0) }
        local = (a.bytes(UInt16(IFLA_VXLAN_LOCAL)) ?? a.bytes(UInt16(IFLA_VXLAN_LOCAL6))).flatMap { IPAddress(bytes: $0) }
        port = a.be16(UInt16(IFLA_VXLAN_PORT))
        underlayIndex = a.u32(UInt16(IFLA_VXLAN_LINK)).flatMap { $0 == 0 ? nil : Int32(bitPattern: $0) }
        learning = (a.u8(UInt16(IFLA_VXLAN_LEARNING)) ?? 0) != 0
        ttl = a.u8(UInt16(IFLA_VXLAN_TTL))
    }
}
