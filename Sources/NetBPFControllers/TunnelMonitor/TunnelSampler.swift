import Foundation

/// The text of a conversation key, formatted once and cached (inet_ntop per address per
/// interval would dominate a report of 100,000 conversations).
public struct TunnelKeyNames: Sendable {
    public var outerA: String, outerB: String, innerA: String, innerB: String, innerProto: String
    init(_ k: TMKey) {
        outerA = TunnelAddress.text(k.outerA)
        outerB = TunnelAddress.text(k.outerB)
        innerA = TunnelAddress.text(k.innerA)
        innerB = TunnelAddress.text(k.innerB)
        innerProto = TunnelAddress.protoName(k.innerProto)
    }
}

/// Turns successive readings into deltas, rates, per-VNI totals and a short rate history.
public final class TunnelSampler: @unchecked Sendable {
    public let interface: String
    public let namespace: String?
    public let ports: [UInt16]
    public let capacity: Int
    public let historyLength: Int
    private var previous: TunnelReading?
    private var started: Double
    private var history: [TunnelHistoryPoint] = []
    private var names: [TMKey: TunnelKeyNames] = [:]

    /// `started`: when counting began (monotonic seconds), for the first sample's rates.
    public init(interface: String, namespace: String?, ports: [UInt16], capacity: Int, historyLength: Int = 300, started: Double? = nil) {
        self.interface = interface
        self.namespace = namespace
        self.ports = ports
        self.capacity = capacity
        self.historyLength = historyLength
        self.started = started ?? monotonicSeconds()
    }

    /// One sample: the reading against the previous one.
    public func sample(_ reading: TunnelReading, wallTime: Double = Date().timeIntervalSince1970) -> TunnelSample {
        let elapsed = max(reading.time - (previous?.time ?? started), 1e-6)
        var deltas: [TMKey: TMCounters] = [:]
        let before = previous?.conversations ?? [:]
        for (k, now) in reading.conversations {
            let d = before[k].map { now.minus($0) } ?? now
            if !d.isZero { deltas[k] = d }
        }
        var floodDeltas: [TMFloodKey: TMFloodCounters] = [:]
        for (k, now) in reading.floods {
            var d = now
            if let b = previous?.floods[k] {
                d = TMFloodCounters(txPackets: now.txPackets &- b.txPackets, rxPackets: now.rxPackets &- b.rxPackets,
                                    txBytes: now.txBytes &- b.txBytes, rxBytes: now.rxBytes &- b.rxBytes)
            }
            if d != TMFloodCounters() { floodDeltas[k] = d }
        }
        var statsDelta = TMStats()
        for s in TMStat.allCases { statsDelta[s] = reading.stats[s] &- (previous?.stats[s] ?? 0) }

        for k in reading.conversations.keys where names[k] == nil { names[k] = TunnelKeyNames(k) }
        if names.count > 2 * max(reading.conversations.count, 1024) {
            names = names.filter { reading.conversations[$0.key] != nil }
        }

        var vnis: [UInt32: TunnelVNISummary] = [:]
        for (k, c) in reading.conversations {
            var v = vnis[k.vni] ?? TunnelVNISummary(vni: k.vni, conversations: 0)
            v.conversations += 1
            v.txPackets &+= c.txPackets; v.txBytes &+= c.txBytes; v.rxPackets &+= c.rxPackets; v.rxBytes &+= c.rxBytes
            vnis[k.vni] = v
        }
        for (k, d) in deltas {
            guard var v = vnis[k.vni] else { continue }
            v.txBitsPerSecond += Double(d.txBytes) * 8 / elapsed
            v.rxBitsPerSecond += Double(d.rxBytes) * 8 / elapsed
            v.txPacketsPerSecond += Double(d.txPackets) / elapsed
            v.rxPacketsPerSecond += Double(d.rxPackets) / elapsed
            vnis[k.vni] = v
        }
        let vniList = vnis.values.sorted { ($0.vni ?? 0) < ($1.vni ?? 0) }
        var totals = TunnelVNISummary(vni: nil, conversations: reading.conversations.count)
        for v in vniList {
            totals.txPackets &+= v.txPackets; totals.txBytes &+= v.txBytes; totals.rxPackets &+= v.rxPackets; totals.rxBytes &+= v.rxBytes
            totals.txBitsPerSecond += v.txBitsPerSecond; totals.rxBitsPerSecond += v.rxBitsPerSecond
            totals.txPacketsPerSecond += v.txPacketsPerSecond; totals.rxPacketsPerSecond += v.rxPacketsPerSecond
        }
        history.append(TunnelHistoryPoint(time: wallTime, vnis: vniList.map {
            .init(vni: $0.vni ?? 0, txBitsPerSecond: $0.txBitsPerSecond, rxBitsPerSecond: $0.rxBitsPerSecond,
                  packetsPerSecond: $0.txPacketsPerSecond + $0.rxPacketsPerSecond)
        }))
        if history.count > historyLength { history.removeFirst(history.count - historyLength) }
        previous = reading
        return TunnelSample(interface: interface, namespace: namespace, ports: ports, capacity: capacity, wallTime: wallTime,
                            elapsed: elapsed, reading: reading, deltas: deltas, floodDeltas: floodDeltas, statsDelta: statsDelta,
                            vnis: vniList, totals: totals, history: history, names: names)
    }
}

/// One interval's result: the counters, what changed, and the rates.
public struct TunnelSample: Sendable {
    public var interface: String
    public var namespace: String?
    public var ports: [UInt16]
    public var capacity: Int
    public var wallTime: Double
    public var elapsed: Double
    public var reading: TunnelReading
    public var deltas: [TMKey: TMCounters]
    public var floodDeltas: [TMFloodKey: TMFloodCounters]
    public var statsDelta: TMStats
    public var vnis: [TunnelVNISummary]
    public var totals: TunnelVNISummary
    public var history: [TunnelHistoryPoint]
    public var names: [TMKey: TunnelKeyNames]

    func names(_ k: TMKey) -> TunnelKeyNames { names[k] ?? TunnelKeyNames(k) }

    /// Bits per second of a conversation over the last interval (0 when it did not change).
    public func rate(_ k: TMKey) -> Double {
        guard let d = deltas[k] else { return 0 }
        return Double(d.totalBytes) * 8 / elapsed
    }

    /// Keys ordered busiest first: by rate over the last interval, then by total bytes.
    public func ranked(limit: Int? = nil) -> [TMKey] {
        struct Row { var recent: UInt64; var total: UInt64; var key: TMKey }
        var rows: [Row] = []
        rows.reserveCapacity(reading.conversations.count)
        for (k, c) in reading.conversations { rows.append(Row(recent: deltas[k]?.totalBytes ?? 0, total: c.totalBytes, key: k)) }
        rows.sort { a, b in
            if a.recent != b.recent { return a.recent > b.recent }
            if a.total != b.total { return a.total > b.total }
            return withUnsafeBytes(of: a.key) { x in withUnsafeBytes(of: b.key) { y in x.lexicographicallyPrecedes(y) } }
        }
        if let limit, limit < rows.count { rows.removeLast(rows.count - limit) }
        return rows.map(\.key)
    }

    func record(_ k: TMKey, _ c: TMCounters, rates d: TMCounters?) -> TunnelConversation {
        let n = names(k)
        func cell(_ x: TMCell) -> TunnelCounter { TunnelCounter(packets: c[packets: x], bytes: c[bytes: x]) }
        let e = elapsed
        return TunnelConversation(
            vni: k.vni, outerA: n.outerA, outerB: n.outerB, innerA: n.innerA, innerB: n.innerB, innerProto: n.innerProto,
            txPackets: c.txPackets, txBytes: c.txBytes, rxPackets: c.rxPackets, rxBytes: c.rxBytes,
            aToBPackets: c.aToBPackets, aToBBytes: c.aToBBytes, bToAPackets: c.bToAPackets, bToABytes: c.bToABytes,
            cells: .init(egressAToB: cell(.egressAToB), egressBToA: cell(.egressBToA), ingressAToB: cell(.ingressAToB), ingressBToA: cell(.ingressBToA)),
            txBitsPerSecond: Double(d?.txBytes ?? 0) * 8 / e, rxBitsPerSecond: Double(d?.rxBytes ?? 0) * 8 / e,
            txPacketsPerSecond: Double(d?.txPackets ?? 0) / e, rxPacketsPerSecond: Double(d?.rxPackets ?? 0) / e,
            aToBBitsPerSecond: Double(d?.aToBBytes ?? 0) * 8 / e, bToABitsPerSecond: Double(d?.bToABytes ?? 0) * 8 / e)
    }

    static func iso(_ t: Double) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.string(from: Date(timeIntervalSince1970: t))
    }

    func floodRecords(_ floods: [TMFloodKey: TMFloodCounters]) -> [TunnelFlood] {
        floods.map { k, v in
            TunnelFlood(vni: k.vni, group: TunnelAddress.text(k.group), txPackets: v.txPackets, txBytes: v.txBytes, rxPackets: v.rxPackets, rxBytes: v.rxBytes)
        }.sorted { ($0.vni, $0.group) < ($1.vni, $1.group) }
    }

    /// Counters since the monitor was attached, with the rates of the last interval; the
    /// busiest `limit` conversations (all when nil).
    public func snapshot(limit: Int? = nil) -> TunnelSnapshot {
        let keys = ranked(limit: limit)
        return TunnelSnapshot(
            kind: "snapshot", interface: interface, namespace: namespace, time: wallTime, isoTime: Self.iso(wallTime),
            intervalSeconds: elapsed, ports: ports, capacity: capacity, conversationCount: reading.conversations.count,
            includedConversations: keys.count, totals: totals, vnis: vnis,
            conversations: keys.map { record($0, reading.conversations[$0]!, rates: deltas[$0]) },
            floods: floodRecords(reading.floods), frames: TunnelFrames(reading.stats), errors: TunnelErrors(reading.stats),
            history: history, readMilliseconds: reading.readSeconds * 1000)
    }

    /// The last interval only: counters are differences, conversations are those that changed.
    public func delta() -> TunnelSnapshot {
        let keys = deltas.keys.sorted { (deltas[$0]!.totalBytes, 0) > (deltas[$1]!.totalBytes, 0) }
        var totals = TunnelVNISummary(vni: nil, conversations: deltas.count)
        var perVNI: [UInt32: TunnelVNISummary] = [:]
        for (k, d) in deltas {
            var v = perVNI[k.vni] ?? TunnelVNISummary(vni: k.vni, conversations: 0)
            v.conversations += 1
            v.txPackets += d.txPackets; v.txBytes += d.txBytes; v.rxPackets += d.rxPackets; v.rxBytes += d.rxBytes
            perVNI[k.vni] = v
        }
        let rateByVNI = Dictionary(uniqueKeysWithValues: vnis.map { ($0.vni ?? 0, $0) })
        var vniList: [TunnelVNISummary] = []
        for var v in perVNI.values.sorted(by: { ($0.vni ?? 0) < ($1.vni ?? 0) }) {
            if let r = rateByVNI[v.vni ?? 0] {
                v.txBitsPerSecond = r.txBitsPerSecond; v.rxBitsPerSecond = r.rxBitsPerSecond
                v.txPacketsPerSecond = r.txPacketsPerSecond; v.rxPacketsPerSecond = r.rxPacketsPerSecond
            }
            totals.txPackets += v.txPackets; totals.txBytes += v.txBytes; totals.rxPackets += v.rxPackets; totals.rxBytes += v.rxBytes
            vniList.append(v)
        }
        totals.txBitsPerSecond = self.totals.txBitsPerSecond; totals.rxBitsPerSecond = self.totals.rxBitsPerSecond
        totals.txPacketsPerSecond = self.totals.txPacketsPerSecond; totals.rxPacketsPerSecond = self.totals.rxPacketsPerSecond
        return TunnelSnapshot(
            kind: "delta", interface: interface, namespace: namespace, time: wallTime, isoTime: Self.iso(wallTime),
            intervalSeconds: elapsed, ports: ports, capacity: capacity, conversationCount: reading.conversations.count,
            includedConversations: keys.count, totals: totals, vnis: vniList,
            conversations: keys.map { record($0, deltas[$0]!, rates: deltas[$0]) },
            floods: floodRecords(floodDeltas), frames: TunnelFrames(statsDelta), errors: TunnelErrors(statsDelta),
            history: [], readMilliseconds: reading.readSeconds * 1000)
    }
}
