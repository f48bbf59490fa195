import Foundation
import NetBPFNetlink

/// One end of a veth link, resolved to the namespace node and interface name it becomes.
public struct ResolvedEnd: Sendable, Equatable {
    /// The host or standalone bridge whose namespace holds this end; nil = the root namespace.
    public var node: String?
    /// The interface's name in that namespace (with the root prefix for root ends).
    public var interface: String
    /// The bridge this end is enslaved to (bridge endpoints).
    public var bridge: String?
}

/// What kind of thing a namespace node is.
public enum NodeKind: String, Sendable, Codable {
    /// A host from `hosts:`.
    case host
    /// The namespace of a bridge declared without `host:`.
    case `switch`
}

extension Topology {
    /// Bridges that get a namespace of their own.
    public var standaloneBridges: [Topology.Bridge] { bridges.filter { $0.host == nil } }

    /// Every namespace node in build order: hosts, then standalone bridges.
    public var nodes: [(name: String, kind: NodeKind)] {
        hosts.map { ($0.name, NodeKind.host) } + standaloneBridges.map { ($0.name, NodeKind.switch) }
    }

    /// The host called `name`, or nil.
    public func host(named name: String) -> Topology.Host? { hosts.first { $0.name == name } }
    /// The bridge called `name`, or nil.
    public func bridge(named name: String) -> Topology.Bridge? { bridges.first { $0.name == name } }

    /// The node (namespace) a bridge lives in.
    public func node(of bridge: Topology.Bridge) -> String { bridge.host ?? bridge.name }

    /// The name of an interface in the root namespace: prefix + name.
    public var rootInterfacePrefix: String { Topology.rootInterfacePrefix(simulation: name) }

    /// Both ends of a link, resolved.
    public func resolve(_ link: Topology.Link) -> (ResolvedEnd, ResolvedEnd) {
        (resolve(link.a, other: link.b), resolve(link.b, other: link.a))
    }

    func resolve(_ end: Topology.Endpoint, other: Topology.Endpoint) -> ResolvedEnd {
        switch end {
        case .host(let h, let i):
            return ResolvedEnd(node: h, interface: i, bridge: nil)
        case .root(let n):
            return ResolvedEnd(node: nil, interface: rootInterfacePrefix + n, bridge: nil)
        case .bridge(let b, let port):
            let node = bridge(named: b).map { self.node(of: $0) } ?? b
            return ResolvedEnd(node: node, interface: port ?? Self.defaultPortName(facing: other), bridge: b)
        }
    }

    /// The bridge-side name of a link to BRIDGE when the file does not give one:
    /// HOST-IFNAME for a host, the other bridge's name, or root-NAME.
    static func defaultPortName(facing other: Topology.Endpoint) -> String {
        switch other {
        case .host(let h, let i): return "\(h)-\(i)"
        case .bridge(let b, _): return b
        case .root(let n): return "root-\(n)"
        }
    }

    /// Every interface each node will have, with what creates it (for validation and status).
    func interfaceTable() -> [String: [(name: String, origin: InterfaceOrigin)]] {
        var table: [String: [(String, InterfaceOrigin)]] = [:]
        for (i, link) in links.enumerated() {
            let (a, b) = resolve(link)
            if let n = a.node { table[n, default: []].append((a.interface, .veth(link: i, bridge: a.bridge))) }
            if let n = b.node { table[n, default: []].append((b.interface, .veth(link: i, bridge: b.bridge))) }
        }
        for h in hosts { for v in h.vxlans { table[h.name, default: []].append((v.name, .vxlan)) } }
        for b in bridges { table[node(of: b), default: []].append((b.name, .bridge)) }
        return table
    }
}

/// What creates an interface.
enum InterfaceOrigin: Equatable {
    case veth(link: Int, bridge: String?)
    case vxlan
    case bridge
    case loopback

    var text: String {
        switch self {
        case .veth(let i, _): return "links[\(i)]"
        case .vxlan: return "a VXLAN device"
        case .bridge: return "a bridge"
        case .loopback: return "the loopback device"
        }
    }
}
