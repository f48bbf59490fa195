/// Where the fleet keeps its state in etcd (docs/fleet.md). Everything is under one prefix
/// (default `/netbpf`), so one etcd serves several fleets and a role grant is a key range.
///
/// ```
/// PREFIX/nodes/NODE                          lease-bound: the agent is alive (metrics address)
/// PREFIX/status/NODE                         what the agent applied: revision, time, errors
/// PREFIX/desired/all/ratelimit/NAME          a limit for every node (or those matching "nodes")
/// PREFIX/desired/node/NODE/ratelimit/NAME    a limit for one node; overrides the same NAME in all
/// NAME "default"                             the limit of addresses without one
/// ```
public struct KeyLayout: Sendable, Equatable {
    public var prefix: String

    public init(prefix: String = "/netbpf") throws {
        var p = prefix
        while p.hasSuffix("/") { p.removeLast() }
        guard p.hasPrefix("/"), !p.isEmpty, !p.contains("//") else { throw FleetError("key prefix '\(prefix)' must start with / (e.g. /netbpf)") }
        self.prefix = p
    }

    public var nodes: String { prefix + "/nodes/" }
    public var status: String { prefix + "/status/" }
    public var desired: String { prefix + "/desired/" }
    public var desiredAll: String { prefix + "/desired/all/" }
    public func node(_ name: String) -> String { nodes + name }
    public func status(_ name: String) -> String { status + name }
    public func desiredNode(_ name: String) -> String { prefix + "/desired/node/\(name)/" }

    /// Node names become key segments and role names: letters, digits, '-', '_', '.'.
    public static func checkNodeName(_ name: String) throws {
        let ok = !name.isEmpty && name.count <= 64 && name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }
        guard ok else { throw FleetError("'\(name)' is not a node name", hint: "letters, digits, '-', '_' and '.', at most 64") }
    }
}
