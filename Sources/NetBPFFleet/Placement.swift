import Foundation
import NetBPF
import NetBPFControllers

/// Which controller runs on which interface of a node, as the fleet's desired state says
/// (`desired/all/placement/NAME`, `desired/node/NODE/placement/NAME`; docs/fleet.md):
/// `{"controller": "ratelimit", "interface": "eth0", "netns": "ns1", "direction": "egress",
/// "key": "destination", "nodes": "edge-*"}` or `{"controller": "http-block", "interface": "eth0"}`.
public struct Placement: Sendable, Equatable, Codable {
    /// The controllers a placement can start.
    public enum Controller: String, Sendable, Codable, CaseIterable {
        /// `RateLimiter` (programs/ratelimit.bpf.c), pinned.
        case ratelimit
        /// `HTTPBlocker` (programs/http_block.bpf.c) on the interface's ingress, pinned.
        case httpBlock = "http-block"
        /// `VLANLearner` (programs/vlan_learning.bpf.c): the interface is the trunk, with
        /// `workers`; attached for the agent's lifetime (not pinned).
        case vlanLearning = "vlan-learning"
    }

    /// The controller.
    public var controller: Controller
    /// The interface it runs on.
    public var interface: String
    /// Its network namespace (/run/netns/NAME); nil: the agent's own.
    public var netns: String?
    /// The tc hook (the rate limiter; HTTP blocking is always ingress).
    public var direction: TCDirection
    /// Which address picks a limit (the rate limiter only).
    public var keyOn: RateLimiter.KeyOn
    /// The worker interfaces clients can be sent to (VLAN learning only).
    public var workers: [String]

    /// A placement of `controller` on `interface`; HTTP blocking and VLAN learning take
    /// ingress whatever `direction` says.
    public init(controller: Controller, interface: String, netns: String? = nil, direction: TCDirection = .egress,
                keyOn: RateLimiter.KeyOn = .destination, workers: [String] = []) {
        self.controller = controller; self.interface = interface; self.netns = netns
        self.direction = controller == .ratelimit ? direction : .ingress
        self.keyOn = keyOn
        self.workers = controller == .vlanLearning ? workers : []
    }

    enum CodingKeys: String, CodingKey { case controller, interface, netns, direction, keyOn = "key", workers }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(controller: try c.decode(Controller.self, forKey: .controller), interface: try c.decode(String.self, forKey: .interface),
                  netns: try c.decodeIfPresent(String.self, forKey: .netns),
                  direction: TCDirection(rawValue: try c.decodeIfPresent(String.self, forKey: .direction) ?? "egress") ?? .egress,
                  keyOn: try c.decodeIfPresent(RateLimiter.KeyOn.self, forKey: .keyOn) ?? .destination,
                  workers: try c.decodeIfPresent([String].self, forKey: .workers) ?? [])
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(controller, forKey: .controller)
        try c.encode(interface, forKey: .interface)
        try c.encodeIfPresent(netns, forKey: .netns)
        if controller == .ratelimit {
            try c.encode(direction.rawValue, forKey: .direction)
            try c.encode(keyOn, forKey: .keyOn)
        }
        if controller == .vlanLearning { try c.encode(workers, forKey: .workers) }
    }

    /// "ratelimit on eth0 egress (netns ns1)", "vlan-learning on trunk (workers w0, w1)".
    public var place: String {
        "\(controller.rawValue) on \(interface)" + (controller == .ratelimit ? " \(direction.rawValue)" : "")
            + (controller == .vlanLearning ? " (workers \(workers.joined(separator: ", ")))" : "") + (netns.map { " (netns \($0))" } ?? "")
    }

    /// The JSON keys a placement value may have.
    static let keys: Set<String> = ["controller", "interface", "netns", "direction", "key", "workers", "nodes"]

    /// Parses a placement value (already a JSON object, unknown keys refused by the caller).
    /// - Throws: `FleetError` saying what is wrong (controller, interface, netns, direction, key).
    static func parse(_ o: [String: Any]) throws -> Placement {
        guard let name = try DesiredState.string(o, "controller") else {
            throw FleetError("'controller' is required", hint: "one of: " + Controller.allCases.map(\.rawValue).joined(separator: ", "))
        }
        guard let controller = Controller(rawValue: name) else {
            throw FleetError("controller '\(name)' cannot be placed", hint: "one of: " + Controller.allCases.map(\.rawValue).joined(separator: ", "))
        }
        guard let interface = try DesiredState.string(o, "interface") else { throw FleetError("'interface' is required (e.g. \"eth0\")") }
        guard Self.isInterfaceName(interface) else { throw FleetError("interface: '\(interface)' is not an interface name", hint: "1 to 15 bytes, no spaces, '/' or ':'") }
        let netns = try DesiredState.string(o, "netns")
        if let netns, netns.isEmpty || netns.contains("/") || netns.hasPrefix(".") || netns.utf8.count > 64 {
            throw FleetError("netns: '\(netns)' is not a network namespace name (as in /run/netns/NAME)")
        }
        let directionText = try DesiredState.string(o, "direction"), keyText = try DesiredState.string(o, "key")
        let workers = try workerList(o["workers"])
        if controller != .vlanLearning && !workers.isEmpty { throw FleetError("'workers' is a VLAN learning setting; \(name) has none") }
        if controller == .vlanLearning {
            if directionText != nil || keyText != nil { throw FleetError("VLAN learning takes no 'direction' or 'key' (the trunk's and workers' ingress)") }
            guard !workers.isEmpty else { throw FleetError("'workers' is required for vlan-learning (e.g. \"w0,w1\")") }
            if let bad = workers.first(where: { !isInterfaceName($0) }) { throw FleetError("workers: '\(bad)' is not an interface name") }
            if workers.contains(interface) { throw FleetError("workers: the trunk '\(interface)' cannot be a worker too") }
            guard Set(workers).count == workers.count else { throw FleetError("workers: an interface is named twice") }
            return Placement(controller: .vlanLearning, interface: interface, netns: netns, workers: workers)
        }
        if controller == .httpBlock {
            if directionText.map({ $0 != "ingress" }) ?? false { throw FleetError("HTTP blocking runs on ingress only ('direction' may only be \"ingress\")") }
            if keyText != nil { throw FleetError("'key' is a rate limiter setting; http-block has none") }
            return Placement(controller: .httpBlock, interface: interface, netns: netns)
        }
        guard let direction = TCDirection(rawValue: directionText ?? "egress") else {
            throw FleetError("direction: '\(directionText ?? "")' is not \"ingress\" or \"egress\"")
        }
        guard let keyOn = RateLimiter.KeyOn(rawValue: keyText ?? "destination") else {
            throw FleetError("key: '\(keyText ?? "")' is not \"source\" or \"destination\"")
        }
        return Placement(controller: .ratelimit, interface: interface, netns: netns, direction: direction, keyOn: keyOn)
    }

    /// `"w0,w1"` or `["w0", "w1"]`; absent: none.
    static func workerList(_ v: Any?) throws -> [String] {
        guard let v else { return [] }
        if let s = v as? String { return s.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
        if let a = v as? [Any], let s = a as? [String] { return s }
        throw FleetError("'workers' must be a string (\"w0,w1\") or a list of strings")
    }

    /// What the kernel takes as an interface name (IFNAMSIZ 16 with the NUL, dev_valid_name()).
    static func isInterfaceName(_ s: String) -> Bool {
        !s.isEmpty && s.utf8.count < 16 && s != "." && s != ".." && s.allSatisfy { $0.isASCII && !$0.isWhitespace && $0 != "/" && $0 != ":" }
    }

    /// The value `netbpf fleet place` writes (with `nodes` for desired/all/).
    public func value(nodes: String?) -> [String: String] {
        var o = ["controller": controller.rawValue, "interface": interface]
        if let netns { o["netns"] = netns }
        if controller == .ratelimit { o["direction"] = direction.rawValue; o["key"] = keyOn.rawValue }
        if controller == .vlanLearning { o["workers"] = workers.joined(separator: ",") }
        if let nodes { o["nodes"] = nodes }
        return o
    }

    /// The name `netbpf fleet place` gives a placement without --name: "ratelimit-eth0",
    /// "http-block-ns1-eth0".
    public var defaultName: String { ([controller.rawValue] + (netns.map { [$0] } ?? []) + [interface]).joined(separator: "-") }
}

extension DesiredState {
    /// The placements of `node` from the parsed items under desired/all/ and desired/node/NODE/:
    /// name -> (placement, key relative to desired/). A node item overrides the all item of the
    /// same name. One controller of each kind per node: a second placement of the same
    /// controller (by sort order of key) is refused in the errors.
    public static func placements(node: String, all: [Item], own: [Item]) -> ([String: (Placement, String)], [String: String]) {
        var byName: [String: (Placement, String)] = [:]
        for item in all where matches(item.nodes, node: node) { if let p = item.placement { byName[item.name] = (p, "all/" + item.key) } }
        for item in own { if let p = item.placement { byName[item.name] = (p, "node/\(node)/" + item.key) } }
        var out: [String: (Placement, String)] = [:]
        var errors: [String: String] = [:]
        var kindOwner: [Placement.Controller: String] = [:]
        for (name, (p, key)) in byName.sorted(by: { $0.value.1 < $1.value.1 }) {
            if let other = kindOwner[p.controller] {
                errors[key] = "this node already has a \(p.controller.rawValue) placement ('\(other)'): one per controller on a node"
                continue
            }
            kindOwner[p.controller] = name
            out[name] = (p, key)
        }
        return (out, errors)
    }
}
