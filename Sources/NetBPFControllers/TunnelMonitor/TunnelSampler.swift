import Foundation
import Synchronization

/// The text of a conversation key, formatted once and cached (inet_ntop per address per
/// interval would dominate a report of 100,000 conversations).
public struct TunnelKeyNames: Sendable {
    /// The key's addresses as text ("-" for none) and the inner EtherType's name.
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
/// Sendable: the previous reading, the history and the name cache sit behind a `Mutex`
/// (samples are taken one at a time).
public final class TunnelSampler: Sendable {
    /// The monitored interface (copied into each sample).
    public let interface: String
    /// Its network namespace.
    public let namespace: String?
    /// The VXLAN UDP ports counted.
    public let ports: [UInt16]
    /// The conversations map's max_entries.
    public let capacity: Int
    /// Samples of per-VNI rates kept for `TunnelSample.history`.
    public let historyLength: Int
    private struct State {
        var previous: TunnelReading?
        var started: Double
        var history: [TunnelHistoryPoint] = []
        var names: [TMKey: TunnelKeyNames] = [:]
    }
    private let state: Mutex<State>

    /// `started`: when counting began (monotonic seconds), for the first sample's rates.
    public init(interface: String, namespace: String?, ports: [UInt16], capacity: Int, historyLength: Int = 300, started: Double? = nil) {
        self.interface = interface
        self.namespace = namespace
        self.ports = ports
        self.capacity = capacity
        self.historyLength = historyLength
        state = Mutex(State(started: started ?? monotonicSeconds()))
    }

    /// One sample: the reading against the previous one.
    public func sample(_ reading: TunnelReading, wallTime: Double = Date().timeIntervalSince1970) -> TunnelSample {
        state.withLock { st in
            let elapsed = max(reading.time - (st.previous?.time ?? st.started), 1e-6)
            var deltas: [TMKey: TMCounters] = [:]
            let before = st.previous?.conversations ?? [:]
            for (k, now) in reading.conversations {
                let d = before[k].map { now.minus($0) } ?? now
                if !d.isZero { deltas[k] = d }
            }
            var floodDeltas: [TMFloodKey: TMFloodCounters] = [:]
            for (k, now) in reading.floods {
                var d = now
                if let b = st.previous?.floods[k] {
                    d = TMFloodCounters(txPackets: now.txPackets &- b.txPackets, rxPackets: now.rxPackets &- b.rxPackets,
                                        txBytes: now.txBytes &- b.txBytes, rxBytes: now.rxBytes &- b.rxBytes)
                }
                if d != TMFloodCounters() { floodDeltas[k] = d }
            }
            var statsDelta = TMStats()
            for s in TMStat.allCases { statsDelta[s] = reading.stats[s] &- (st.previous?.stats[s] ?? 0) }

            for k in reading.conversations.keys where st.names[k] == nil { st.names[k] = TunnelKeyNames(k) }
            if st.names.count > 2 * max(reading.conversations.count, 1024) {
                st.names = st.names.filter { reading.conversations[$0.key] != nil }
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
            st.history.append(TunnelHistoryPoint(time: wallTime, vnis: vniList.map {
                .init(vni: $0.vni ?? 0, txBitsPerSecond: $0.txBitsPerSecond, rxBitsPerSecond: $0.rxBitsPerSecond,
                      packetsPerSecond: $0.txPacketsPerSecond + $0.rxPacketsPerSecond)
            }))
            if st.history.count > historyLength { st.history.removeFirst(st.history.count - historyLength) }
            st.previous = reading
            return TunnelSample(interface: interface, namespace: namespace, ports: ports, capacity: capacity, wallTime: wallTime,
                                elapsed: elapsed, reading: reading, deltas: deltas, floodDeltas: floodDeltas, statsDelta: statsDelta,
                                vnis: vniList, totals: totals, history: st.history, names: st.names)
        }
    }
}

/// One interval's result: the counters, what changed, and the rates.
public struct TunnelSample: Sendable {
    /// The monitored interface.
    public var interface: String
    /// Its network namespace.
    public var namespace: String?
    /// The VXLAN UDP ports counted.
    public var ports: [UInt16]
    /// The conversations map's max_entries.
    public var capacity: Int
    /// Unix time of the sample.
    public var wallTime: Double
    /// Seconds since the previous sample (what rates and deltas cover).
    public var elapsed: Double
    /// The counters read.
    public var reading: TunnelReading
    /// What changed per conversation since the previous sample (only those that changed).
    public var deltas: [TMKey: TMCounters]
    /// What changed per flood key.
    public var floodDeltas: [TMFloodKey: TMFloodCounters]
    /// What changed in the frame counters.
    public var statsDelta: TMStats
    /// Per-VNI totals and rates, by VNI.
    public var vnis: [TunnelVNISummary]
    /// Totals and rates over every VNI.
    public var totals: TunnelVNISummary
    /// Recent per-VNI rates, oldest first.
    public var history: [TunnelHistoryPoint]
    /// Cached text of the keys.
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
