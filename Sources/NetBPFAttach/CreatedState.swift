import NetBPFNetlink

/// Kernel state an attach makes besides attaching its program (a shaper's HTB root qdisc, a
/// bridge's VXLAN device and multicast route). The attachment record names it before it is
/// made, so whoever undoes the record (detach, `netbpf doctor --fix`, the next attach meeting a
/// stale record) removes it too, also after a SIGKILL.
public enum CreatedState: Codable, Sendable, Equatable, CustomStringConvertible {
    /// An HTB root qdisc with handle `major:` on the record's interface, with its classes.
    case htbRoot(major: UInt16)
    /// A device of the record's namespace, by name.
    case link(name: String)
    /// A route to `destination` (an IP prefix) over `device`, main table.
    case route(destination: String, device: String)

    /// "htb root qdisc 1:", "device vx0", "route 10.0.0.0/8 dev eth0".
    public var description: String {
        switch self {
        case .htbRoot(let major): return "htb root qdisc \(String(major, radix: 16)):"
        case .link(let name): return "device \(name)"
        case .route(let destination, let device): return "route \(destination) dev \(device)"
        }
    }

    /// Whether it is there already. A device or a route that is there is used as it is; a root
    /// qdisc is refused (`Creation.claim`): its classes are not netbpf's to change.
    func isPresent(_ netlink: NetlinkSocket, interface: String) throws -> Bool {
        switch self {
        case .htbRoot:
            return try netlink.qdiscs(on: .name(interface)).contains { $0.kind == "htb" && $0.parent == .root }
        case .link(let name):
            return try netlink.interfaceExists(.name(name))
        case .route(let destination, _):
            // Any route as wide or wider (but not the default route) already carries the prefix.
            guard let wanted = IPPrefix(destination) else { return false }
            return try netlink.routes(family: wanted.address.family).contains { r in
                guard let d = r.destination, d.prefixLength > 0, d.prefixLength <= wanted.prefixLength else { return false }
                return d.network == IPPrefix(wanted.address, prefixLength: d.prefixLength).network
            }
        }
    }

    /// Removes it; one already gone is not an error.
    func remove(_ netlink: NetlinkSocket, interface: String) {
        switch self {
        case .htbRoot(let major):
            try? netlink.deleteQdisc(on: .name(interface), parent: .root, handle: TCHandle(major: major, minor: 0), kind: "htb")
        case .link(let name):
            try? netlink.deleteLink(.name(name))
        case .route(let destination, let device):
            guard let prefix = IPPrefix(destination) else { return }
            try? netlink.deleteRoute(RouteSpec(destination: prefix, interface: .name(device)))
        }
    }
}

/// A `CreatedState` an attach is asked to make (`TCAttachOptions.creations`) and how. The
/// attach makes it under the hook's lock, after the duplicate check (which removes a stale
/// record's state first) and after its pending record names it.
public struct Creation: Sendable {
    /// What is made, as the record names it (and as it is removed).
    public var state: CreatedState
    /// Makes it, on a netlink socket of the record's namespace.
    public var make: @Sendable (NetlinkSocket) throws -> Void

    /// A creation of `state` by `make`, which runs on the attach's thread in the record's namespace.
    public init(_ state: CreatedState, make: @escaping @Sendable (NetlinkSocket) throws -> Void) {
        self.state = state
        self.make = make
    }

    /// An HTB root qdisc `major:` on `interface` whose unclassified traffic goes unshaped
    /// (default class 0). Kernel 2.4.20 (RTM_NEWQDISC).
    public static func htbRoot(on interface: String, major: UInt16 = 1) -> Creation {
        Creation(.htbRoot(major: major)) { netlink in
            try netlink.addQdisc(.htb(HTBOptions(defaultClass: 0)), on: .name(interface), parent: .root, handle: TCHandle(major: major, minor: 0))
        }
    }

    /// The states among `creations` that are missing (those this attach makes and owns).
    /// - Throws: `AttachError(.alreadyAttached)` for a root qdisc someone else made.
    static func claim(_ creations: [Creation], netlink: NetlinkSocket, interface: String) throws -> [CreatedState] {
        var missing: [CreatedState] = []
        for c in creations {
            guard try c.state.isPresent(netlink, interface: interface) else { missing.append(c.state); continue }
            if case .htbRoot = c.state {
                throw AttachError(.alreadyAttached, "\(interface) already has an htb root qdisc that netbpf did not make",
                                  hint: "remove it with the tool that made it (tc qdisc del dev \(interface) root)")
            }
        }
        return missing
    }
}
