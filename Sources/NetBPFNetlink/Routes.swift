internal import CMnl
import Glibc

/// A route to add or delete: destination (nil = default route), gateway, output interface,
/// table (main by default) and metric.
public struct RouteSpec: Sendable, Equatable {
    /// nil for the default route (0.0.0.0/0 or ::/0).
    public var destination: IPPrefix?
    /// The next hop (RTA_GATEWAY); nil for a route straight out of `interface`.
    public var gateway: IPAddress?
    /// The output interface (RTA_OIF); nil lets the kernel pick it from the gateway.
    public var interface: Interface?
    /// RT_TABLE_MAIN (254) unless set.
    public var table: UInt32 = 254
    /// RTA_PRIORITY.
    public var metric: UInt32?
    /// Preferred source address (RTA_PREFSRC).
    public var source: IPAddress?

    /// A route; each parameter sets the property of the same name.
    public init(destination: IPPrefix? = nil, gateway: IPAddress? = nil, interface: Interface? = nil,
                table: UInt32 = 254, metric: UInt32? = nil, source: IPAddress? = nil) {
        self.destination = destination
        self.gateway = gateway
        self.interface = interface
        self.table = table
        self.metric = metric
        self.source = source
    }

    /// The family the route belongs to (from destination or gateway; IPv4 if neither says).
    public var family: IPAddress.Family { destination?.address.family ?? gateway?.family ?? source?.family ?? .v4 }
}

/// A route as RTM_NEWROUTE reports it.
public struct RouteInfo: Sendable, Equatable {
    /// IPv4 or IPv6 (rtm_family).
    public var family: IPAddress.Family
    /// nil for a default route.
    public var destination: IPPrefix?
    /// RTA_GATEWAY, when the route has a next hop.
    public var gateway: IPAddress?
    /// RTA_OIF.
    public var outputInterfaceIndex: Int32?
    /// The routing table (RTA_TABLE, else rtm_table): 254 main, 255 local.
    public var table: UInt32
    /// RTA_PRIORITY.
    public var metric: UInt32?
    /// RTA_PREFSRC.
    public var preferredSource: IPAddress?
    /// rtm_protocol: 2 kernel, 3 boot, 4 static, ...
    public var routeProtocol: UInt8
    /// rtm_scope: 0 universe, 253 link, 254 host.
    public var scope: UInt8
    /// rtm_type: 1 unicast, 2 local, 3 broadcast, ...
    public var type: UInt8

    /// Whether this is a default route (no destination).
    public var isDefault: Bool { destination == nil }

    package init?(_ m: NetlinkMessage) {
        guard m.type == UInt16(RTM_NEWROUTE), let rtm = m.familyHeader(rtmsg.self) else { return nil }
        guard rtm.rtm_family == UInt8(AF_INET) || rtm.rtm_family == UInt8(AF_INET6) else { return nil }
        let a = m.attributes(after: rtmsg.self)
        family = rtm.rtm_family == UInt8(AF_INET) ? .v4 : .v6
        if let dst = a.bytes(UInt16(RTA_DST.rawValue)).flatMap({ IPAddress(bytes: $0) }) {
            destination = IPPrefix(dst, prefixLength: rtm.rtm_dst_len)
        } else if rtm.rtm_dst_len != 0 {
            return nil
        }
        gateway = a.bytes(UInt16(RTA_GATEWAY.rawValue)).flatMap { IPAddress(bytes: $0) }
        outputInterfaceIndex = a.u32(UInt16(RTA_OIF.rawValue)).map { Int32(bitPattern: $0) }
        table = a.u32(UInt16(RTA_TABLE.rawValue)) ?? UInt32(rtm.rtm_table)
        metric = a.u32(UInt16(RTA_PRIORITY.rawValue))
        preferredSource = a.bytes(UInt16(RTA_PREFSRC.rawValue)).flatMap { IPAddress(bytes: $0) }
        routeProtocol = rtm.rtm_protocol
        scope = rtm.rtm_scope
        type = rtm.rtm_type
    }
}

/// Routes: RTM_NEWROUTE / RTM_DELROUTE / RTM_GETROUTE (IPv4 and IPv6).
extension NetlinkSocket {
    package static func routeRequest(type: UInt16, flags: Int32, _ r: RouteSpec, oif: Int32?) -> NetlinkRequest {
        let req = NetlinkRequest(type: type, flags: flags)
        var rtm = rtmsg()
        rtm.rtm_family = UInt8(r.family == .v4 ? AF_INET : AF_INET6)
        rtm.rtm_dst_len = r.destination?.prefixLength ?? 0
        rtm.rtm_table = r.table < 256 ? UInt8(r.table) : UInt8(RT_TABLE_UNSPEC.rawValue)
        if type == UInt16(RTM_DELROUTE) {
            // As `ip route del`: match any scope and protocol.
            rtm.rtm_scope = UInt8(RT_SCOPE_NOWHERE.rawValue)
        } else {
            rtm.rtm_protocol = UInt8(RTPROT_BOOT)
            rtm.rtm_type = UInt8(RTN_UNICAST)
            // No gateway: the destination is on the link itself.
            rtm.rtm_scope = UInt8(r.gateway == nil && oif != nil ? RT_SCOPE_LINK.rawValue : RT_SCOPE_UNIVERSE.rawValue)
        }
        req.putHeader(rtm)
        if let d = r.destination, d.prefixLength > 0 { req.put(UInt16(RTA_DST.rawValue), bytes: d.network.bytes) }
        if let g = r.gateway { req.put(UInt16(RTA_GATEWAY.rawValue), bytes: g.bytes) }
        if let oif { req.put(UInt16(RTA_OIF.rawValue), u32: UInt32(bitPattern: oif)) }
        if let m = r.metric { req.put(UInt16(RTA_PRIORITY.rawValue), u32: m) }
        if let s = r.source { req.put(UInt16(RTA_PREFSRC.rawValue), bytes: s.bytes) }
        if r.table >= 256 { req.put(UInt16(RTA_TABLE.rawValue), u32: r.table) }
        return req
    }

    /// Adds a route (`ip route add`): e.g. `RouteSpec(destination: IPPrefix("10.2.0.0/16"),
    /// gateway: IPAddress("10.0.0.1"))`, or the default route `RouteSpec(gateway: ...)`.
    /// - Throws: `.exists` if an identical route exists; `.invalidArgument` without gateway or interface.
    public func addRoute(_ route: RouteSpec) throws {
        guard route.gateway != nil || route.interface != nil else {
            throw NetlinkError(.invalidArgument, operation: "RTM_NEWROUTE", subject: routeText(route), errno: EINVAL,
                               message: "a route needs a gateway or an output interface")
        }
        try runRoute(UInt16(RTM_NEWROUTE), flags: NLM_F_CREATE | NLM_F_EXCL, route)
    }

    /// Deletes a route (`ip route del`, RTM_DELROUTE); gateway/interface narrow the match when given.
    /// - Throws: `NetlinkError` `.notFound` when no route matches (ESRCH).
    public func deleteRoute(_ route: RouteSpec) throws {
        try runRoute(UInt16(RTM_DELROUTE), flags: 0, route)
    }

    /// The unicast routes of `table` (main by default) for a family (RTM_GETROUTE dump).
    public func routes(family: IPAddress.Family = .v4, table: UInt32 = 254) throws -> [RouteInfo] {
        let req = NetlinkRequest(type: UInt16(RTM_GETROUTE), flags: 0)
        var rtm = rtmsg()
        rtm.rtm_family = UInt8(family == .v4 ? AF_INET : AF_INET6)
        req.putHeader(rtm)
        return try dump(req, subject: namespaceName).compactMap(RouteInfo.init).filter { $0.table == table }
    }

    private func runRoute(_ type: UInt16, flags: Int32, _ route: RouteSpec) throws {
        let oif = try route.interface.map { try interfaceIndex($0) }
        let req = Self.routeRequest(type: type, flags: flags, route, oif: oif)
        do {
            _ = try execute(req, subject: routeText(route))
        } catch var e as NetlinkError {
            if e.errno == EEXIST { e.message = "the route exists already (EEXIST)" }
            if e.errno == ESRCH { e.code = .notFound; e.message = "no such route (ESRCH)" }
            if e.errno == ENETUNREACH { e.hint = "the gateway is not on a connected network: add an address on that subnet first" }
            throw e
        }
    }

    private func routeText(_ r: RouteSpec) -> String {
        var s = r.destination?.description ?? "default"
        if let g = r.gateway { s += " via \(g)" }
        if let i = r.interface { s += " dev \(i)" }
        return s
    }
}
