import Foundation
import Glibc
import NetBPFControllers

/// One rate limit of the desired state, validated.
public struct DesiredLimit: Sendable, Equatable {
    /// The address or prefix limited.
    public var prefix: AddressPrefix
    /// The rate, bits per second.
    public var rateBitsPerSecond: UInt64
    /// The bucket's size, bytes; nil: the limiter's default for the rate
    /// (`RateLimiter.defaultBurst(rateBitsPerSecond:)`).
    public var burstBytes: UInt64?
    /// A limit from values already checked (`DesiredState.parse` checks them).
    public init(prefix: AddressPrefix, rateBitsPerSecond: UInt64, burstBytes: UInt64?) {
        self.prefix = prefix; self.rateBitsPerSecond = rateBitsPerSecond; self.burstBytes = burstBytes
    }
}

/// A node's effective desired state: what the agent makes its maps hold.
public struct EffectiveState: Sendable, Equatable {
    /// The limit of each prefix, at most one per prefix.
    public var limits: [AddressPrefix: DesiredLimit] = [:]
    /// The rate of addresses without a limit of their own, bits per second; nil: no default
    /// limit.
    public var defaultRate: UInt64?
    /// The default's bucket size, bytes; nil: the limiter's default for the rate.
    public var defaultBurst: UInt64?
    /// HTTP requests the node's blocking program drops (paths and hosts).
    public var blocks: Set<HTTPBlockEntry> = []
    /// VLAN learning: client MAC -> the worker interface its frames go to.
    public var vlanClients: [EthernetAddress: String] = [:]
    /// Which desired key each entry came from (`DesiredState.entryID` -> key relative to
    /// desired/), so that a map update the kernel refuses is reported under its key.
    public var origin: [String: String] = [:]
    /// No limits, no default, no blocks, no VLAN clients.
    public init() {}
}

/// Parses desired-state values (JSON objects) and folds them into a node's effective state.
/// A bad value is refused alone, with its reason, and the rest still applies.
public enum DesiredState {
    /// `{"prefix": "10.1.0.0/16", "rate": "10mbit", "burst": "256k", "nodes": "edge-*"}`;
    /// under the name `default`, no prefix.
    public struct Item: Sendable, Equatable {
        /// The key's NAME (`default` for the default limit).
        public var name: String
        /// The limit of a prefix; nil for the default.
        public var limit: DesiredLimit?        // nil for the default
        /// The default's rate, bits per second (the default only).
        public var defaultRate: UInt64?
        /// The default's bucket size, bytes, when given (the default only).
        public var defaultBurst: UInt64?
        /// The glob of node names the item applies to when under desired/all/ (`*` when absent).
        public var nodes: String
        /// The controller: `ratelimit`, `http` or `vlan` (the key's first segment).
        public var controller = "ratelimit"
        /// An HTTP block (`http/NAME`).
        public var block: HTTPBlockEntry?
        /// A VLAN client mapping (`vlan/NAME`): the client's MAC and its worker interface.
        public var vlanClient: (mac: EthernetAddress, worker: String)?
        /// Which controller runs on which interface (`placement/NAME`).
        public var placement: Placement?
        /// `CONTROLLER/NAME`: the key relative to desired/all/ or desired/node/NODE/.
        public var key: String { controller + "/" + name }

        public static func == (a: Item, b: Item) -> Bool {
            a.name == b.name && a.limit == b.limit && a.defaultRate == b.defaultRate && a.defaultBurst == b.defaultBurst
                && a.nodes == b.nodes && a.controller == b.controller && a.block == b.block
                && a.vlanClient?.mac == b.vlanClient?.mac && a.vlanClient?.worker == b.vlanClient?.worker && a.placement == b.placement
        }
    }

    /// The controllers whose desired state an agent applies (the key's first segment), and
    /// `placement`: which controller runs on which interface.
    public static let controllers = ["http", "placement", "ratelimit", "vlan"]
    static let limitKeys: Set<String> = ["prefix", "rate", "burst", "nodes"]
    static let defaultKeys: Set<String> = ["rate", "burst", "nodes"]
    static let httpKeys: Set<String> = ["path", "host", "nodes"]
    static let vlanKeys: Set<String> = ["mac", "worker", "nodes"]

    /// The identity of an effective entry, as `EffectiveState.origin` and the appliers' errors
    /// name it: "ratelimit PREFIX", "ratelimit default", "http path /x", "http host h", "vlan MAC".
    public static func entryID(limit prefix: AddressPrefix?) -> String { "ratelimit " + (prefix?.description ?? "default") }
    /// The identity of a block entry (see `entryID(limit:)`).
    public static func entryID(block: HTTPBlockEntry) -> String { "http \(block)" }
    /// The identity of a VLAN client (see `entryID(limit:)`).
    public static func entryID(vlan mac: EthernetAddress) -> String { "vlan \(mac)" }

    /// Parses the value at `key` (relative to desired/all/ or desired/node/NODE/, e.g.
    /// `ratelimit/office`). Throws the reason it is refused.
    public static func parse(relativeKey key: String, value: Data) throws -> Item {
        let parts = key.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 2, !parts[1].isEmpty else { throw FleetError("key must be CONTROLLER/NAME, e.g. ratelimit/office") }
        guard controllers.contains(parts[0]) else {
            throw FleetError("controller '\(parts[0])' is not managed by this agent", hint: "known: " + controllers.joined(separator: ", "))
        }
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: value) } catch {
            throw FleetError("value is not JSON: \(String(decoding: value.prefix(40), as: UTF8.self))")
        }
        guard let o = object as? [String: Any] else { throw FleetError("value must be a JSON object") }
        let name = parts[1]
        let known = parts[0] == "http" ? httpKeys : parts[0] == "vlan" ? vlanKeys : parts[0] == "placement" ? Placement.keys
            : name == "default" ? defaultKeys : limitKeys
        if let unknown = o.keys.sorted().first(where: { !known.contains($0) }) {
            throw FleetError("unknown key '\(unknown)'", hint: "known: " + known.sorted().joined(separator: ", "))
        }
        let nodes = try string(o, "nodes") ?? "*"
        if parts[0] == "http" { return try parseBlock(name: name, o, nodes: nodes) }
        if parts[0] == "vlan" { return try parseVLAN(name: name, o, nodes: nodes) }
        if parts[0] == "placement" {
            var item = Item(name: name, limit: nil, defaultRate: nil, defaultBurst: nil, nodes: nodes)
            item.controller = "placement"
            item.placement = try Placement.parse(o)
            return item
        }
        guard let rateText = try string(o, "rate") else { throw FleetError("'rate' is required (e.g. \"10mbit\")") }
        let rate: UInt64
        do { rate = try RateParsing.bitsPerSecond(rateText) } catch { throw FleetError("rate: \(error)") }
        var burst: UInt64?
        if let b = try string(o, "burst") {
            do { burst = try RateParsing.bytes(b) } catch { throw FleetError("burst: \(error)") }
        }
        if name == "default" {
            if o["prefix"] != nil { throw FleetError("the default limit has no prefix") }
            return Item(name: name, limit: nil, defaultRate: rate, defaultBurst: burst, nodes: nodes)
        }
        guard let prefixText = try string(o, "prefix") else { throw FleetError("'prefix' is required (e.g. \"10.1.0.0/16\")") }
        let prefix: AddressPrefix
        do { prefix = try AddressPrefix(prefixText) } catch { throw FleetError("prefix: \(error)") }
        return Item(name: name, limit: DesiredLimit(prefix: prefix, rateBitsPerSecond: rate, burstBytes: burst), nodes: nodes)
    }

    /// `{"path": "/admin"}` or `{"host": "example.com"}` (exactly one), as `netbpf http-filter
    /// block add` takes them.
    static func parseBlock(name: String, _ o: [String: Any], nodes: String) throws -> Item {
        let path = try string(o, "path"), host = try string(o, "host")
        guard (path == nil) != (host == nil) else { throw FleetError("give exactly one of 'path' (e.g. \"/admin\") and 'host'") }
        var item = Item(name: name, limit: nil, defaultRate: nil, defaultBurst: nil, nodes: nodes)
        item.controller = "http"
        do { item.block = try path.map(HTTPBlockEntry.path) ?? HTTPBlockEntry.host(host ?? "") } catch let e as ControllerError {
            throw FleetError((path != nil ? "path: " : "host: ") + e.message, hint: e.hint)
        }
        return item
    }

    /// `{"mac": "02:00:00:00:00:01", "worker": "w1"}`: the client's frames go to that worker
    /// interface (one the node's learner is attached to; the agent checks that).
    static func parseVLAN(name: String, _ o: [String: Any], nodes: String) throws -> Item {
        guard let macText = try string(o, "mac") else { throw FleetError("'mac' is required (e.g. \"02:00:00:00:00:01\")") }
        guard let worker = try string(o, "worker") else { throw FleetError("'worker' is required (a worker interface, e.g. \"w1\")") }
        let mac: EthernetAddress
        do { mac = try EthernetAddress(macText) } catch let e as ControllerError { throw FleetError("mac: " + e.message, hint: e.hint) }
        guard !mac.isGroup, !mac.isZero else { throw FleetError("mac: \(mac) is not a unicast address; a client MAC must be unicast") }
        guard !worker.isEmpty, worker.utf8.count < 16, worker.allSatisfy({ $0.isASCII && !$0.isWhitespace && $0 != "/" && $0 != ":" }) else {
            throw FleetError("worker: '\(worker)' is not an interface name", hint: "1 to 15 bytes, no spaces, '/' or ':'")
        }
        var item = Item(name: name, limit: nil, defaultRate: nil, defaultBurst: nil, nodes: nodes)
        item.controller = "vlan"
        item.vlanClient = (mac, worker)
        return item
    }

    static func string(_ o: [String: Any], _ key: String) throws -> String? {
        guard let v = o[key] else { return nil }
        if let s = v as? String { return s }
        throw FleetError("'\(key)' must be a string")
    }

    /// Does the glob `pattern` (fnmatch: `*`, `?`, `[...]`) select `node`?
    public static func matches(_ pattern: String, node: String) -> Bool { fnmatch(pattern, node, 0) == 0 }

    /// The effective state of `node` from the items under desired/all/ and desired/node/NODE/
    /// (already parsed): node items override all items of the same CONTROLLER/NAME; two names
    /// for one prefix, or for one VLAN client MAC, refuse the later name (sorted), reported in
    /// `errors`. Two names for one HTTP block are one block. Placements are left out: see
    /// `placements(node:all:own:)`.
    public static func effective(node: String, all: [Item], own: [Item]) -> (EffectiveState, [String: String]) {
        var byName: [String: (Item, String)] = [:]
        for item in all where matches(item.nodes, node: node) { byName[item.key] = (item, "all/" + item.key) }
        for item in own { byName[item.key] = (item, "node/\(node)/" + item.key) }
        var state = EffectiveState()
        var errors: [String: String] = [:]
        var owner: [AddressPrefix: String] = [:]
        var macOwner: [EthernetAddress: String] = [:]
        for (_, (item, key)) in byName.sorted(by: { $0.key < $1.key }) where item.placement == nil {
            if let block = item.block {
                state.blocks.insert(block)
                state.origin[entryID(block: block)] = state.origin[entryID(block: block)] ?? key
            } else if let client = item.vlanClient {
                if let other = macOwner[client.mac] {
                    errors[key] = "client \(client.mac) is already mapped by '\(other)'"
                    continue
                }
                macOwner[client.mac] = item.name
                state.vlanClients[client.mac] = client.worker
                state.origin[entryID(vlan: client.mac)] = key
            } else if let limit = item.limit {
                if let other = owner[limit.prefix] {
                    errors[key] = "prefix \(limit.prefix) is already limited by '\(other)'"
                    continue
                }
                owner[limit.prefix] = item.name
                state.limits[limit.prefix] = limit
                state.origin[entryID(limit: limit.prefix)] = key
            } else {
                state.defaultRate = item.defaultRate
                state.defaultBurst = item.defaultBurst
                state.origin[entryID(limit: nil)] = key
            }
        }
        return (state, errors)
    }
}
