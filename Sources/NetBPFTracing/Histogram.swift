import Glibc

/// A log2 histogram as BPF programs fill it: slot i counts values v with floor(log2(v)) == i
/// (slot 0 also takes 0), i.e. the range [2^i, 2^(i+1) - 1]; `netbpf_log2l()` in netbpf.h.
public struct Log2Histogram: Sendable, Equatable, Encodable {
    /// What is counted, printed as the column header ("usecs", "bytes").
    public var unit: String
    /// The counts, slot i for [2^i, 2^(i+1) - 1].
    public var slots: [UInt64]

    /// A histogram of `slots` as a BPF program left them.
    public init(unit: String, slots: [UInt64]) { self.unit = unit; self.slots = slots }

    /// The sum of all slots (wrapping).
    public var total: UInt64 { slots.reduce(0, &+) }

    /// Adds another histogram's counts (per-CPU slots, several keys).
    public mutating func add(_ other: [UInt64]) {
        if other.count > slots.count { slots += Array(repeating: 0, count: other.count - slots.count) }
        for (i, v) in other.enumerated() { slots[i] &+= v }
    }

    /// The range slot `i` covers.
    public static func range(_ i: Int) -> (low: UInt64, high: UInt64) {
        let low: UInt64 = i == 0 ? 0 : UInt64(1) << UInt64(i)
        let high: UInt64 = i >= 63 ? UInt64.max : (UInt64(1) << UInt64(i + 1)) - 1
        return (low, high)
    }

    /// BCC's layout (python bcc table.print_log2_hist): a header
    /// `     usecs               : count     distribution`, then one row per slot up to the last
    /// non-empty one, with a 40-column star bar (20 and wider columns past slot 32).
    /// Empty string when every slot is 0, as BCC prints nothing then. `libbpfTools` heads the
    /// counts `count    distribution` (4 spaces), as libbpf-tools' print_log2_hist does; the
    /// rows are the same in both.
    public func formatted() -> String { formatted(libbpfTools: false) }

    /// `formatted()`, or with `libbpfTools` the header libbpf-tools prints (see above).
    public func formatted(libbpfTools: Bool) -> String {
        guard let last = slots.lastIndex(where: { $0 > 0 }) else { return "" }
        let maxValue = slots.max() ?? 0
        let wide = last > 32
        let barWidth = wide ? 20 : 40
        var out = wide ? String(repeating: " ", count: 15) + pad(unit, 29) : String(repeating: " ", count: 5) + pad(unit, 19)
        out += libbpfTools ? " : count    distribution\n" : " : count     distribution\n"
        for i in 0...last {
            let (low, high) = Self.range(i)
            let w = wide ? 20 : 10
            out += leftPad(String(low), w) + " -> " + pad(String(high), w) + " : " + pad(String(slots[i]), 8) + " |"
            out += pad(stars(slots[i], max: maxValue, width: barWidth), barWidth) + "|\n"
        }
        return out
    }

    /// JSON-ready buckets up to the last non-empty one.
    public var buckets: [HistogramBucket] {
        guard let last = slots.lastIndex(where: { $0 > 0 }) else { return [] }
        return (0...last).map { i in let r = Self.range(i); return HistogramBucket(low: r.low, high: r.high, count: slots[i]) }
    }

    enum CodingKeys: String, CodingKey { case unit, buckets, total }
    /// Encodes `unit`, `buckets` and `total`, not the raw slots.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(unit, forKey: .unit)
        try c.encode(buckets, forKey: .buckets)
        try c.encode(total, forKey: .total)
    }
}

/// A linear histogram: slot i counts values in [start + i*step, start + (i+1)*step - 1].
public struct LinearHistogram: Sendable, Equatable, Encodable {
    /// What is counted, printed as the column header.
    public var unit: String
    /// The lowest value of slot 0.
    public var start: UInt64
    /// The width of each slot.
    public var step: UInt64
    /// The counts, in slot order.
    public var slots: [UInt64]

    /// A histogram of `slots` as a BPF program left them.
    public init(unit: String, start: UInt64 = 0, step: UInt64 = 1, slots: [UInt64]) {
        self.unit = unit; self.start = start; self.step = step; self.slots = slots
    }

    /// BCC's layout (table.print_linear_hist): `     usecs         : count     distribution`
    /// and rows `        0      : 3        |****   |`.
    public func formatted() -> String {
        guard let last = slots.lastIndex(where: { $0 > 0 }) else { return "" }
        let maxValue = slots.max() ?? 0
        var out = String(repeating: " ", count: 5) + pad(unit, 13) + " : count     distribution\n"
        for i in 0...last {
            out += String(repeating: " ", count: 8) + pad(String(start + UInt64(i) * step), 6) + " : " + pad(String(slots[i]), 8) + " |"
            out += pad(stars(slots[i], max: maxValue, width: 40), 40) + "|\n"
        }
        return out
    }

    /// JSON-ready buckets up to the last non-empty one.
    public var buckets: [HistogramBucket] {
        guard let last = slots.lastIndex(where: { $0 > 0 }) else { return [] }
        return (0...last).map { HistogramBucket(low: start + UInt64($0) * step, high: start + UInt64($0 + 1) * step - 1, count: slots[$0]) }
    }

    enum CodingKeys: String, CodingKey { case unit, buckets }
    /// Encodes `unit` and `buckets`, not the raw slots.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(unit, forKey: .unit)
        try c.encode(buckets, forKey: .buckets)
    }
}

/// One slot of a histogram with the values it covers.
public struct HistogramBucket: Sendable, Equatable, Encodable {
    /// The lowest value counted in it.
    public var low: UInt64
    /// The highest value counted in it.
    public var high: UInt64
    /// How many values fell in it.
    public var count: UInt64
}

/// BCC's star bar: floor(width * value / max) stars, a '+' in place of the last one when the
/// value exceeds max (only for clipped scales).
func stars(_ value: UInt64, max: UInt64, width: Int) -> String {
    guard max > 0 else { return "" }
    let n = Int(min(UInt64(width), UInt64(width) * min(value, max) / max))
    var s = String(repeating: "*", count: n)
    if value > max && !s.isEmpty { s.removeLast(); s += "+" }
    return s
}

/// Left-aligned in `width` columns (never truncates), like printf("%-*s").
func pad(_ s: String, _ width: Int) -> String {
    let n = s.count
    return n >= width ? s : s + String(repeating: " ", count: width - n)
}

/// Right-aligned in `width` columns, like printf("%*s").
func leftPad(_ s: String, _ width: Int) -> String {
    let n = s.count
    return n >= width ? s : String(repeating: " ", count: width - n) + s
}
