import Foundation
import NetBPFControllers

/// The operator's side (`netbpf fleet`): writes desired state, reads what the nodes report.
/// Every value is validated here with the agent's own parser before it is written, so the
/// operator sees a bad rate at once; the agents check again (etcd may be written by others).
public struct FleetOperator: Sendable {
    /// The client it reads and writes with.
    public let etcd: EtcdClient
    /// Where the fleet's keys are in etcd.
    public let layout: KeyLayout

    /// An operator on `etcd`'s keys under `layout`.
    public init(etcd: EtcdClient, layout: KeyLayout) { self.etcd = etcd; self.layout = layout }

    /// The key name a prefix is stored under: "10.1.0.0/16" -> "10.1.0.0_16".
    public static func name(for prefix: AddressPrefix) -> String { prefix.description.replacingOccurrences(of: "/", with: "_") }

    /// Sets the limit of `prefix` on the nodes `nodes` selects (a glob over node names, "*" all),
    /// or on one node only (`node`). Returns the etcd revision of the change.
    @discardableResult
    public func setLimit(prefix: String, rate: String, burst: String?, nodes: String = "*", node: String? = nil) async throws -> Int64 {
        let p = try AddressPrefix(prefix)
        var o: [String: String] = ["prefix": p.description, "rate": rate]
        if let burst { o["burst"] = burst }
        if node == nil { o["nodes"] = nodes }
        return try await write("ratelimit/" + Self.name(for: p), o, node: node)
    }

    /// Sets the default limit (nil: remove it).
    @discardableResult
    public func setDefault(rate: String?, burst: String?, nodes: String = "*", node: String? = nil) async throws -> Int64 {
        guard let rate else { return try await remove("ratelimit/default", node: node) }
        var o: [String: String] = ["rate": rate]
        if let burst { o["burst"] = burst }
        if node == nil { o["nodes"] = nodes }
        return try await write("ratelimit/default", o, node: node)
    }

    /// Removes the limit of `prefix` from desired/all/, or from one node's desired state
    /// (`node`). Returns the revision of the delete.
    /// - Throws: `FleetError` when no limit of `prefix` is set there, for a bad node name, or
    ///   from etcd; what `AddressPrefix.init` throws for a bad prefix.
    @discardableResult
    public func removeLimit(prefix: String, node: String? = nil) async throws -> Int64 {
        try await remove("ratelimit/" + Self.name(for: try AddressPrefix(prefix)), node: node)
    }

    /// The key name of an HTTP block: "path-%2Fadmin" for path /admin, "host-example.com"
    /// ('%' and '/' percent-encoded, so the name is one key segment and names never collide).
    public static func name(for block: HTTPBlockEntry) -> String {
        block.kind.rawValue + "-" + block.value.replacingOccurrences(of: "%", with: "%25").replacingOccurrences(of: "/", with: "%2F")
    }

    /// The key name of a VLAN client: its MAC with dashes, "02-00-00-00-00-01".
    public static func name(for mac: EthernetAddress) -> String { mac.description.replacingOccurrences(of: ":", with: "-") }

    /// Blocks HTTP requests by path prefix or Host on the nodes `nodes` selects, or on one node
    /// (`node`). Returns the etcd revision of the change.
    /// - Throws: `ControllerError` for a malformed path or host; `FleetError` from etcd.
    @discardableResult
    public func block(_ entry: HTTPBlockEntry, nodes: String = "*", node: String? = nil) async throws -> Int64 {
        var o: [String: String] = [entry.kind.rawValue: entry.value]
        if node == nil { o["nodes"] = nodes }
        return try await write("http/" + Self.name(for: entry), o, node: node)
    }

    /// Removes a block set with `block` (from desired/all/, or from one node's desired state).
    /// - Throws: `FleetError` when no such block is set there, or from etcd.
    @discardableResult
    public func unblock(_ entry: HTTPBlockEntry, node: String? = nil) async throws -> Int64 {
        try await remove("http/" + Self.name(for: entry), node: node)
    }

    /// Maps a VLAN client MAC to a worker interface on the nodes `nodes` selects, or on one node.
    /// - Throws: `FleetError` for a malformed value, or from etcd.
    @discardableResult
    public func mapVLANClient(_ mac: EthernetAddress, worker: String, nodes: String = "*", node: String? = nil) async throws -> Int64 {
        var o: [String: String] = ["mac": mac.description, "worker": worker]
        if node == nil { o["nodes"] = nodes }
        return try await write("vlan/" + Self.name(for: mac), o, node: node)
    }

    /// Removes a VLAN client mapping set with `mapVLANClient`.
    /// - Throws: `FleetError` when no such mapping is set there, or from etcd.
    @discardableResult
    public func unmapVLANClient(_ mac: EthernetAddress, node: String? = nil) async throws -> Int64 {
        try await remove("vlan/" + Self.name(for: mac), node: node)
    }

    /// Places a controller (`placement/NAME`) on the nodes `nodes` selects, or on one node
    /// (`node`): their agents attach it (or adopt the one pinned there) and fill its maps.
    /// - Throws: `FleetError` for a bad name or value, or from etcd.
    @discardableResult
    public func place(_ placement: Placement, name: String? = nil, nodes: String = "*", node: String? = nil) async throws -> Int64 {
        let n = try Self.check(placement, name: name)
        return try await write("placement/" + n, placement.value(nodes: node == nil ? nodes : nil), node: node)
    }

    /// Removes a placement: the agents detach the controller they attached for it.
    /// - Throws: `FleetError` when no such placement is set there, or from etcd.
    @discardableResult
    public func unplace(name: String, node: String? = nil) async throws -> Int64 {
        try Self.checkName(name)
        return try await remove("placement/" + name, node: node)
    }

    /// Checks a placement and its name (default `placement.defaultName`) as the agents will,
    /// without etcd; returns the name.
    /// - Throws: `FleetError` saying what is wrong (the value first, then the name).
    @discardableResult
    public static func check(_ placement: Placement, name: String?) throws -> String {
        _ = try DesiredState.parse(relativeKey: "placement/p", value: try JSONSerialization.data(withJSONObject: placement.value(nodes: nil)))
        let n = name ?? placement.defaultName
        try checkName(n)
        return n
    }

    /// A key NAME: one key segment of letters, digits, '-', '_' and '.'.
    /// - Throws: `FleetError` when `name` is not one.
    public static func checkName(_ name: String) throws {
        guard !name.isEmpty, name.utf8.count <= 100, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }) else {
            throw FleetError("'\(name)' is not a placement name", hint: "letters, digits, '-', '_' and '.'")
        }
    }

    func base(node: String?) throws -> String {
        if let node { try KeyLayout.checkNodeName(node); return layout.desiredNode(node) }
        return layout.desiredAll
    }

    func write(_ rel: String, _ o: [String: String], node: String?) async throws -> Int64 {
        let data = try JSONSerialization.data(withJSONObject: o, options: [.sortedKeys])
        _ = try DesiredState.parse(relativeKey: rel, value: data)
        return try await etcd.put(try base(node: node) + rel, data)
    }

    func remove(_ rel: String, node: String?) async throws -> Int64 {
        let key = try base(node: node) + rel
        // The delete's own revision: a range after it could return a later one (an agent's
        // status write in between), which the agents never report as applied.
        let (deleted, revision) = try await etcd.deleteReportingRevision(key)
        guard deleted > 0 else { throw FleetError("nothing is set at \(key)", hint: "netbpf fleet show") }
        return revision
    }

    /// Every desired-state key (relative to desired/) with its value as text.
    public func desired() async throws -> [(key: String, value: String, revision: Int64)] {
        try await etcd.range(layout.desired, prefix: true).kvs.map {
            (String($0.key.dropFirst(layout.desired.count)), String(decoding: $0.value, as: UTF8.self), $0.modRevision)
        }
    }

    /// One node as the fleet sees it: registered (lease alive) or not, and its last status.
    public struct NodeView: Sendable, Encodable {
        /// The node's name.
        public var node: String
        /// Whether its node key exists: its lease is alive.
        public var alive: Bool
        /// The metrics URL its registration names, if any.
        public var metrics: String?
        /// Its last status; nil when it wrote none (or it does not decode).
        public var status: AgentHealth?
        /// A view of `node`.
        public init(node: String, alive: Bool, metrics: String? = nil, status: AgentHealth? = nil) {
            self.node = node; self.alive = alive; self.metrics = metrics; self.status = status
        }
    }

    /// Every node that is registered or has a status, sorted by name: alive when registered,
    /// with its metrics URL and last status.
    /// - Throws: `FleetError` from the etcd reads (`/v3/kv/range`).
    public func status() async throws -> [NodeView] {
        let nodes = try await etcd.range(layout.nodes, prefix: true).kvs
        let statuses = try await etcd.range(layout.status, prefix: true).kvs
        var views: [String: NodeView] = [:]
        for kv in nodes {
            let name = String(kv.key.dropFirst(layout.nodes.count))
            let o = (try? JSONSerialization.jsonObject(with: kv.value)) as? [String: Any]
            views[name] = NodeView(node: name, alive: true, metrics: o?["metrics"] as? String)
        }
        for kv in statuses {
            let name = String(kv.key.dropFirst(layout.status.count))
            var v = views[name] ?? NodeView(node: name, alive: false)
            v.status = try? AgentHealth.decode(kv.value)
            views[name] = v
        }
        return views.values.sorted { $0.node < $1.node }
    }

    /// A Prometheus configuration scraping every registered node's /metrics.
    public static func prometheusConfig(nodes: [NodeView], interval: Int = 5) -> String {
        var out = "# written by netbpf fleet prometheus-config\nglobal:\n  scrape_interval: \(interval)s\n  evaluation_interval: \(interval)s\nscrape_configs:\n  - job_name: netbpf-agents\n    static_configs:\n"
        for n in nodes where n.alive {
            guard let m = n.metrics, let url = URL(string: m), let host = url.host, let port = url.port else { continue }
            let target = host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
            out += "      - targets: ['\(target)']\n        labels: {node: '\(n.node)'}\n"
        }
        return out
    }
}
