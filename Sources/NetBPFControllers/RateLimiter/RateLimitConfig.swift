import Foundation
import NetBPF
import Yams

/// `netbpf ratelimit run --config FILE`: where to attach and which limits, in YAML.
///
/// ```yaml
/// interface: veth0          # required
/// netns: ns1                # optional
/// direction: egress         # ingress | egress (default egress)
/// key: destination          # source | destination (default destination)
/// shape: false              # true: HTB classes instead of drops (egress only)
/// default: 100mbit          # limit for unknown addresses (omit: unlimited)
/// neighbors: 10mbit         # limit for addresses learned on learn_on ports
/// learn_on: [port1, ns2/port2]  # interfaces (NETNS/IFACE for another namespace) whose ingress
///                           # source addresses are "neighbors"
/// limits:
///   - {address: 10.0.0.2, rate: 10mbit, burst: 64k}
///   - {address: 10.1.0.0/16, rate: 1mbit}
/// ```
public struct RateLimitConfig: Sendable {
    /// One per-address or per-prefix limit.
    public struct Limit: Sendable {
        /// The address or prefix limited (the longest matching prefix applies).
        public var prefix: AddressPrefix
        /// Bits per second.
        public var rate: UInt64
        /// Bucket size in bytes (nil: `RateLimiter.defaultBurst(rateBitsPerSecond:)`).
        public var burst: UInt64?
        /// A limit of `rate` bits per second on `prefix`.
        public init(prefix: AddressPrefix, rate: UInt64, burst: UInt64? = nil) {
            self.prefix = prefix
            self.rate = rate
            self.burst = burst
        }
    }
    /// The interface the limiter is attached to.
    public var interface: String
    /// Its network namespace (nil: the caller's).
    public var namespace: String?
    /// The tc hook: egress (the default) or ingress.
    public var direction: TCDirection = .egress
    /// Which address of a packet picks its limit.
    public var keyOn: RateLimiter.KeyOn = .destination
    /// Shape with HTB classes instead of dropping (egress only).
    public var shape = false
    /// Bits per second for addresses without a limit (nil: unlimited).
    public var defaultRate: UInt64?
    /// Bits per second for addresses learned on the `learnOn` ports.
    public var neighborRate: UInt64?
    /// Ports ("IFACE" or "NETNS/IFACE") whose ingress source addresses are neighbors.
    public var learnOn: [String] = []
    /// The per-address and per-prefix limits.
    public var limits: [Limit] = []

    /// A config for `interface` with the defaults: egress, keyed on the destination, policing,
    /// no limits.
    public init(interface: String) { self.interface = interface }

    static let keys: Set<String> = ["interface", "netns", "direction", "key", "shape", "default", "neighbors", "learn_on", "limits"]

    /// Parses and validates the whole file before anything is attached; errors name the file,
    /// the key and the bad value.
    /// - Throws: `ControllerError` naming the file, the key and the bad value.
    public static func load(path: String) throws -> RateLimitConfig {
        guard let data = FileManager.default.contents(atPath: path) else { throw ControllerError("\(path): cannot read the file") }
        func fail(_ key: String, _ message: String, hint: String? = nil) -> ControllerError { ControllerError("\(path): \(key): \(message)", hint: hint) }
        let node: Any?
        do { node = try Yams.load(yaml: String(decoding: data, as: UTF8.self)) } catch {
            throw ControllerError("\(path): not valid YAML: \(String(describing: error).split(separator: "\n").first ?? "")")
        }
        guard let root = node as? [String: Any] else { throw ControllerError("\(path): the top level must be a mapping") }
        for key in root.keys where !keys.contains(key) {
            throw fail(key, "unknown key", hint: "known keys: " + keys.sorted().joined(separator: ", "))
        }
        guard let interface = root["interface"] as? String, !interface.isEmpty, interface.utf8.count < 16 else {
            throw fail("interface", "required: the interface name (at most 15 bytes)")
        }
        var config = RateLimitConfig(interface: interface)
        config.namespace = root["netns"] as? String
        if let d = root["direction"] {
            guard let s = d as? String, let dir = TCDirection(rawValue: s) else { throw fail("direction", "'\(d)' is not ingress or egress") }
            config.direction = dir
        }
        if let k = root["key"] {
            guard let s = k as? String, let key = RateLimiter.KeyOn(rawValue: s) else { throw fail("key", "'\(k)' is not source or destination") }
            config.keyOn = key
        }
        if let s = root["shape"] {
            guard let b = s as? Bool else { throw fail("shape", "'\(s)' is not true or false") }
            config.shape = b
        }
        func rate(_ key: String, _ value: Any?) throws -> UInt64? {
            guard let value else { return nil }
            do { return try RateParsing.bitsPerSecond("\(value)") } catch let e as ControllerError { throw fail(key, e.message, hint: e.hint) }
        }
        config.defaultRate = try rate("default", root["default"])
        config.neighborRate = try rate("neighbors", root["neighbors"])
        if let l = root["learn_on"] {
            guard let list = l as? [String] else { throw fail("learn_on", "must be a list of interface names") }
            config.learnOn = list
        }
        if let l = root["limits"] {
            guard let list = l as? [[String: Any]] else { throw fail("limits", "must be a list of {address, rate, burst}") }
            for (i, item) in list.enumerated() {
                let where_ = "limits[\(i)]"
                for key in item.keys where !["address", "rate", "burst"].contains(key) { throw fail("\(where_).\(key)", "unknown key") }
                guard let a = item["address"] else { throw fail("\(where_).address", "required") }
                let prefix: AddressPrefix
                do { prefix = try AddressPrefix("\(a)") } catch let e as ControllerError { throw fail("\(where_).address", e.message, hint: e.hint) }
                guard let r = try rate("\(where_).rate", item["rate"]) else { throw fail("\(where_).rate", "required") }
                var burst: UInt64?
                if let b = item["burst"] {
                    do { burst = try RateParsing.bytes("\(b)") } catch let e as ControllerError { throw fail("\(where_).burst", e.message, hint: e.hint) }
                }
                config.limits.append(Limit(prefix: prefix, rate: r, burst: burst))
            }
        }
        if config.shape && config.direction != .egress { throw fail("shape", "shaping needs direction: egress") }
        if !config.learnOn.isEmpty && config.neighborRate == nil { throw fail("learn_on", "given without a neighbors rate") }
        return config
    }
}
