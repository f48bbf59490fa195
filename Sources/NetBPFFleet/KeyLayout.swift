/// Where the fleet keeps its state in etcd (docs/fleet.md). Everything is under one prefix
/// (default `/netbpf`), so one etcd serves several fleets and a role grant is a key range.
///
/// ```
/// PREFIX/nodes/NODE                          lease-bound: the agent is alive (metrics address)
/// PREFIX/status/NODE                         what the agent applied: revision, time, errors
/// PREFIX/desired/all/ratelimit/NAME          a limit for every node (or those matching "nodes")
/// PREFIX/desired/node/NODE/ratelimit/NAME    a limit for one node; overrides the same NAME in all
/// NAME "default"                             the limit of addresses without one
/// PREFIX/desired/all/placement/NAME          which controller runs on which interface
/// PREFIX/desired/node/NODE/placement/NAME    the same for one node (overrides NAME in all)
/// (and http/NAME, vlan/NAME under both: see docs/fleet.md)
/// ```
public struct KeyLayout: Sendable, Equatable {
    /// The prefix every key is under: starts with `/`, no trailing `/`.
    public var prefix: String

    /// A layout under `prefix` (trailing slashes dropped).
    /// - Throws: `FleetError` when `prefix` does not start with `/`, is only slashes or
    ///   contains `//`.
    public init(prefix: String = "/netbpf") throws {
        var p = prefix
        while p.hasSuffix("/") { p.removeLast() }
        guard p.hasPrefix("/"), !p.isEmpty, !p.contains("//") else { throw FleetError("key prefix '\(prefix)' must start with / (e.g. /netbpf)") }
        self.prefix = p
    }

    /// `PREFIX/nodes/`: the registration keys.
    public var nodes: String { prefix + "/nodes/" }
    /// `PREFIX/status/`: the agents' status keys.
    public var status: String { prefix + "/status/" }
    /// `PREFIX/desired/`: all desired state.
    public var desired: String { prefix + "/desired/" }
    /// `PREFIX/desired/all/`: the desired state of every node.
    public var desiredAll: String { prefix + "/desired/all/" }
    /// `PREFIX/nodes/NODE`: the node's registration (lease-bound).
    public func node(_ name: String) -> String { nodes + name }
    /// `PREFIX/status/NODE`: what the node applied.
    public func status(_ name: String) -> String { status + name }
    /// `PREFIX/desired/node/NODE/`: the desired state of that node only.
    public func desiredNode(_ name: String) -> String { prefix + "/desired/node/\(name)/" }

    /// Node names become key segments and role names: letters, digits, '-', '_', '.'.
    public static func checkNodeName(_ name: String) throws {
        let ok = !name.isEmpty && name.count <= 64 && name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }
        guard ok else { throw FleetError("'\(name)' is not a node name", hint: "letters, digits, '-', '_' and '.', at most 64") }
    }
}
