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
    /// No limits and no default.
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
    }

    static let limitKeys: Set<String> = ["prefix", "rate", "burst", "nodes"]
    static let defaultKeys: Set<String> = ["rate", "burst", "nodes"]

    /// Parses the value at `key` (relative to desired/all/ or desired/node/NODE/, e.g.
    /// `ratelimit/office`). Throws the reason it is refused.
    public static func parse(relativeKey key: String, value: Data) throws -> Item {
        let parts = key.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 2, !parts[1].isEmpty else { throw FleetError("key must be CONTROLLER/NAME, e.g. ratelimit/office") }
        guard parts[0] == "ratelimit" else {
            throw FleetError("controller '\(parts[0])' is not managed by this agent", hint: "known: ratelimit")
        }
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: value) } catch {
            throw FleetError("value is not JSON: \(String(decoding: value.prefix(40), as: UTF8.self))")
        }
        guard let o = object as? [String: Any] else { throw FleetError("value must be a JSON object") }
        let name = parts[1]
        let known = name == "default" ? defaultKeys : limitKeys
        if let unknown = o.keys.sorted().first(where: { !known.contains($0) }) {
            throw FleetError("unknown key '\(unknown)'", hint: "known: " + known.sorted().joined(separator: ", "))
        }
        let nodes = try string(o, "nodes") ?? "*"
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

    static func string(_ o: [String: Any], _ key: String) throws -> String? {
        guard let v = o[key] else { return nil }
        if let s = v as? String { return s }
        throw FleetError("'\(key)' must be a string")
    }

    /// Does the glob `pattern` (fnmatch: `*`, `?`, `[...]`) select `node`?
    public static func matches(_ pattern: String, node: String) -> Bool { fnmatch(pattern, node, 0) == 0 }

    /// The effective state of `node` from the items under desired/all/ and desired/node/NODE/
    /// (already parsed): node items override all items of the same name; two names for one
    /// prefix refuse the later name (sorted), reported in `errors`.
    public static func effective(node: String, all: [Item], own: [Item]) -> (EffectiveState, [String: String]) {
        var byName: [String: (Item, String)] = [:]
        for item in all where matches(item.nodes, node: node) { byName[item.name] = (item, "all/ratelimit/" + item.name) }
        for item in own { byName[item.name] = (item, "node/\(node)/ratelimit/" + item.name) }
        var state = EffectiveState()
        var errors: [String: String] = [:]
        var owner: [AddressPrefix: String] = [:]
        for (_, (item, key)) in byName.sorted(by: { $0.key < $1.key }) {
            if let limit = item.limit {
                if let other = owner[limit.prefix] {
                    errors[key] = "prefix \(limit.prefix) is already limited by '\(other)'"
                    continue
                }
                owner[limit.prefix] = item.name
                state.limits[limit.prefix] = limit
            } else {
                state.defaultRate = item.defaultRate
                state.defaultBurst = item.defaultBurst
            }
        }
        return (state, errors)
    }
}
