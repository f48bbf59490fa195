import NetBPFControllers

/// What the agent changes: the maps of a running rate limiter. `RateLimiter` is the real one;
/// unit tests use an in-memory one.
public protocol RateLimitTarget: Sendable {
    /// Configured limits (prefix text, rate, burst); the special names "default" and "neighbors" included.
    func currentLimits() throws -> [(name: String, rate: UInt64, burst: UInt64)]
    /// Sets (or changes) the limit of `prefix`; `burstBytes` nil: the target's default burst.
    /// For `RateLimiter`, a live LPM trie update (BPF_MAP_UPDATE_ELEM).
    /// - Throws: when the target refuses the limit.
    func add(_ prefix: AddressPrefix, rateBitsPerSecond: UInt64, burstBytes: UInt64?) throws
    /// Removes the limit of exactly `prefix`.
    /// - Throws: when the target has no such limit or refuses the change.
    func remove(_ prefix: AddressPrefix) throws
    /// Sets the limit of addresses without one of their own (`rateBitsPerSecond` nil: none).
    /// - Throws: when the target refuses the change.
    func setDefault(rateBitsPerSecond: UInt64?, burstBytes: UInt64?) throws
}

extension RateLimiter: RateLimitTarget {
    /// `entries()` as (prefix text or special name, rate, burst).
    /// - Throws: `BPFError` from the map reads.
    public func currentLimits() throws -> [(name: String, rate: UInt64, burst: UInt64)] {
        try entries().map { ($0.prefix, $0.rateBitsPerSecond, $0.burstBytes) }
    }
}

/// Makes a limiter's maps hold an effective state, changing only what differs (a limit that
/// stays keeps its bucket and counters). Each change is one map update: no re-attach.
public enum LimitApplier {
    /// What `apply` changed, and what the target refused.
    public struct Outcome: Sendable, Equatable {
        /// Limits added, changed (rate or burst) and removed.
        public var added = 0, changed = 0, removed = 0
        /// Whether the default limit was set, changed or removed.
        public var defaultChanged = false
        /// Prefix (or "default") -> why the target refused its change.
        public var errors: [String: String] = [:]   // prefix -> reason (a map update the kernel refused)
        /// Whether any limit or the default changed.
        public var changedAnything: Bool { added + changed + removed > 0 || defaultChanged }
    }

    /// Makes `target` hold `state`: adds the limits it lacks, changes those whose rate or burst
    /// differ (bursts left nil compared as `RateLimiter.defaultBurst`), removes those `state` does
    /// not have, sets the default when it differs. A refused change is reported in
    /// `Outcome.errors` and the rest still applies.
    /// - Throws: what `currentLimits()` throws; nothing is changed then.
    public static func apply(_ state: EffectiveState, to target: RateLimitTarget) throws -> Outcome {
        var out = Outcome()
        let current = try target.currentLimits()
        var have: [AddressPrefix: (UInt64, UInt64)] = [:]
        var defaultNow: (UInt64, UInt64)?
        for c in current {
            if c.name == "default" { defaultNow = (c.rate, c.burst); continue }
            if let p = try? AddressPrefix(c.name) { have[p] = (c.rate, c.burst) }
        }
        for (prefix, limit) in state.limits.sorted(by: { $0.key.description < $1.key.description }) {
            let burst = limit.burstBytes ?? RateLimiter.defaultBurst(rateBitsPerSecond: limit.rateBitsPerSecond)
            if let h = have[prefix], h.0 == limit.rateBitsPerSecond / 8 * 8, h.1 == burst { continue }
            do {
                try target.add(prefix, rateBitsPerSecond: limit.rateBitsPerSecond, burstBytes: burst)
                if have[prefix] == nil { out.added += 1 } else { out.changed += 1 }
            } catch {
                out.errors[prefix.description] = "\(error)"
            }
        }
        for prefix in have.keys where state.limits[prefix] == nil {
            do { try target.remove(prefix); out.removed += 1 } catch { out.errors[prefix.description] = "\(error)" }
        }
        let wantBurst = state.defaultRate.map { state.defaultBurst ?? RateLimiter.defaultBurst(rateBitsPerSecond: $0) }
        let same = (defaultNow == nil && state.defaultRate == nil)
            || (defaultNow.map { $0.0 == (state.defaultRate ?? 0) / 8 * 8 && $0.1 == wantBurst } ?? false)
        if !same {
            do { try target.setDefault(rateBitsPerSecond: state.defaultRate, burstBytes: wantBurst); out.defaultChanged = true }
            catch { out.errors["default"] = "\(error)" }
        }
        return out
    }
}
