/// A TCP flow in one direction (the user-space twin of the BPF `struct http_flow`).
package struct HTTPFlowKey: Hashable, Sendable, CustomStringConvertible {
    package var source: HTTPEndpoint
    package var destination: HTTPEndpoint
    package init(source: HTTPEndpoint, destination: HTTPEndpoint) {
        self.source = source
        self.destination = destination
    }
    package var description: String { "\(source) -> \(destination)" }
}

/// Limits of the reassembler.
public struct HTTPReassemblerConfiguration: Sendable {
    /// Longest request line reassembled; longer is reported once as too long (BPF: HTTP_LINE_MAX).
    public var maxLineBytes = 8192
    /// Seconds without a segment after which a flow (and its unanswered requests) is dropped.
    public var idleTimeout: Double = 30
    /// Flows tracked at once; past it the least recently seen quarter is dropped.
    public var maxFlows = 65_536
    /// Unanswered requests remembered per connection (pipelining); past it the oldest goes.
    public var maxPendingRequests = 64
    /// Segments held while waiting for a missing one inside a request line.
    public var maxOutOfOrderSegments = 16
    /// How far behind the next expected byte a segment may start and still count as a copy of
    /// data already seen (a loopback frame's second copy, a retransmission). Further behind, it
    /// is taken for a new connection on the same addresses and ports.
    public var duplicateWindow: UInt32 = 1 << 20
    /// The defaults above.
    public init() {}
}

/// Turns the segments the socket filter keeps into HTTP requests and responses.
///
/// - Request lines split over segments are put back together (up to `maxLineBytes`; longer is
///   reported once), in sequence order: out-of-order segments are held, a copy of data already
///   seen (loopback shows every frame twice, once outgoing and once incoming; retransmissions)
///   is dropped by its TCP sequence number, so each request is reported once.
/// - Several messages in one segment (pipelining) are all reported when their lengths are known.
/// - Responses are matched to the oldest unanswered request of their connection, which gives
///   the latency.
/// - `expire(now:)` drops idle flows; `takeSessionsToClose()` names the flows whose BPF session
///   the caller should delete (lines given up on or expired).
///
/// Pure logic: no kernel, no clock (times are passed in), so it is unit-tested and fuzzed with
/// crafted segments. Not thread-safe: one owner.
package final class HTTPReassembler {
    package let configuration: HTTPReassemblerConfiguration
    package private(set) var counters = HTTPCounters()

    struct Pending {
        var bytes: [UInt8]
        var time: Double
        var segments: Int
        /// Reported as too long: later bytes are dropped until the line ends.
        var tooLong = false
    }

    struct FlowState {
        var nextSequence: UInt32?
        var pending: Pending?
        var outOfOrder: [(sequence: UInt32, payload: [UInt8])] = []
        var lastSeen: Double
    }

    struct ConnectionState {
        var requests: [HTTPRequest] = []
        var lastSeen: Double
    }

    private(set) var flows: [HTTPFlowKey: FlowState] = [:]
    private(set) var connections: [HTTPConnection: ConnectionState] = [:]
    private var closeSessions: [HTTPFlowKey] = []

    package init(configuration: HTTPReassemblerConfiguration = HTTPReassemblerConfiguration()) {
        self.configuration = configuration
    }

    /// Flows being tracked (for tests and status).
    package var flowCount: Int { flows.count }
    /// Requests waiting for their response.
    package var unansweredRequests: Int { connections.values.reduce(0) { $0 + $1.requests.count } }

    /// The flows whose BPF session should be deleted since the last call.
    package func takeSessionsToClose() -> [HTTPFlowKey] {
        defer { closeSessions.removeAll() }
        return closeSessions
    }

    /// Decodes a captured Ethernet frame and processes its TCP segment.
    package func process(frame: [UInt8], time: Double) -> [HTTPEvent] {
        switch HTTPFrameDecoder.decode(frame) {
        case .success(let segment):
            return process(segment: segment, time: time)
        case .failure:
            counters.frames += 1
            counters.undecodable += 1
            return []
        }
    }

    package func process(segment: TCPSegment, time: Double) -> [HTTPEvent] {
        counters.frames += 1
        guard !segment.payload.isEmpty else {
            counters.ignored += 1
            return []
        }
        let key = HTTPFlowKey(source: segment.source, destination: segment.destination)
        var flow = flows[key] ?? FlowState(lastSeen: time)
        flow.lastSeen = time
        var events: [HTTPEvent] = []
        consume(key: key, flow: &flow, sequence: segment.sequence, payload: segment.payload, time: time, events: &events)
        flows[key] = flow
        if flows.count > configuration.maxFlows { shed() }
        return events
    }

    /// Handles one segment's bytes in sequence order.
    private func consume(key: HTTPFlowKey, flow: inout FlowState, sequence: UInt32, payload: [UInt8], time: Double,
                         events: inout [HTTPEvent]) {
        var payload = payload
        var sequence = sequence
        if let next = flow.nextSequence {
            let distance = Int64(Int32(bitPattern: sequence &- next))
            if distance < 0 {
                let behind = -distance
                if behind <= Int64(configuration.duplicateWindow) {
                    if behind >= Int64(payload.count) {
                        counters.duplicates += 1
                        return
                    }
                    payload.removeFirst(Int(behind))
                    sequence = next
                } else {
                    // Far behind: the addresses and ports were reused by a new connection.
                    abandon(key: key, flow: &flow)
                    flow.nextSequence = nil
                }
            }
        }

        if flow.pending != nil {
            if let next = flow.nextSequence, sequence != next {
                // A gap inside a request line: hold the segment unless it starts a new message,
                // in which case the line lost a piece and is given up on.
                if HTTPMessageParser.startsMessage(payload) {
                    abandon(key: key, flow: &flow)
                } else {
                    if flow.outOfOrder.count >= configuration.maxOutOfOrderSegments {
                        abandon(key: key, flow: &flow)
                        counters.ignored += 1
                        return
                    }
                    if !flow.outOfOrder.contains(where: { $0.sequence == sequence }) {
                        flow.outOfOrder.append((sequence, payload))
                    } else {
                        counters.duplicates += 1
                    }
                    return
                }
            } else {
                advance(&flow, sequence, payload.count)
                continueLine(key: key, flow: &flow, payload: payload, events: &events)
                drainOutOfOrder(key: key, flow: &flow, time: time, events: &events)
                return
            }
        }

        advance(&flow, sequence, payload.count)
        guard HTTPMessageParser.startsMessage(payload) else {
            counters.ignored += 1
            return
        }
        parseMessages(key: key, flow: &flow, buffer: payload, time: time, segments: 1, events: &events)
    }

    private func advance(_ flow: inout FlowState, _ sequence: UInt32, _ count: Int) {
        let end = sequence &+ UInt32(truncatingIfNeeded: count)
        if let next = flow.nextSequence, Int32(bitPattern: end &- next) <= 0 { return }
        flow.nextSequence = end
    }

    /// Gives up on an open request line (a piece never came).
    private func abandon(key: HTTPFlowKey, flow: inout FlowState) {
        guard let pending = flow.pending else { return }
        if !pending.tooLong { counters.incomplete += 1 }
        flow.pending = nil
        flow.outOfOrder.removeAll()
        closeSessions.append(key)
    }

    /// The next bytes of an open request line.
    private func continueLine(key: HTTPFlowKey, flow: inout FlowState, payload: [UInt8], events: inout [HTTPEvent]) {
        guard var pending = flow.pending else { return }
        pending.segments += 1
        if pending.tooLong {
            // Already reported: wait for the line's end, then forget it.
            if payload.contains(0x0a) {
                flow.pending = nil
                flow.outOfOrder.removeAll()
            } else {
                flow.pending = pending
            }
            return
        }
        let searchFrom = pending.bytes.count
        pending.bytes += payload
        let limit = configuration.maxLineBytes + 2 - searchFrom // the line, CR and LF
        if limit > 0, HTTPMessageParser.lineFeed(in: pending.bytes, from: searchFrom, limit: limit) != nil {
            flow.pending = nil
            flow.outOfOrder.removeAll()
            parseMessages(key: key, flow: &flow, buffer: pending.bytes, time: pending.time, segments: pending.segments, events: &events)
            return
        }
        if pending.bytes.count > configuration.maxLineBytes + 1 {
            reportTooLong(key: key, bytes: pending.bytes, from: 0, seen: pending.bytes.count, time: pending.time, events: &events)
            pending.tooLong = true
            pending.bytes = []
            closeSessions.append(key)
            if payload.contains(0x0a) {
                flow.pending = nil
                flow.outOfOrder.removeAll()
                return
            }
        }
        flow.pending = pending
    }

    /// Feeds held segments that have become contiguous.
    private func drainOutOfOrder(key: HTTPFlowKey, flow: inout FlowState, time: Double, events: inout [HTTPEvent]) {
        while flow.pending != nil, let next = flow.nextSequence,
              let index = flow.outOfOrder.firstIndex(where: { Int32(bitPattern: $0.sequence &- next) <= 0 }) {
            let held = flow.outOfOrder.remove(at: index)
            consume(key: key, flow: &flow, sequence: held.sequence, payload: held.payload, time: time, events: &events)
        }
        if flow.pending == nil { flow.outOfOrder.removeAll() }
    }

    private func reportTooLong(key: HTTPFlowKey, bytes: [UInt8], from: Int, seen: Int, time: Double, events: inout [HTTPEvent]) {
        let method = HTTPMessageParser.requestMethod(bytes, from: from) ?? "?"
        let start = from + method.utf8.count + 1
        let prefixEnd = min(bytes.count, start + 64)
        var end = start
        while end < prefixEnd && bytes[end] != 0x20 && bytes[end] != 0x0d && bytes[end] != 0x0a { end += 1 }
        let prefix = start < end ? HTTPMessageParser.text(bytes[start..<end]) : ""
        counters.tooLong += 1
        let connection = HTTPConnection(client: key.source, server: key.destination)
        events.append(.tooLong(HTTPTooLong(time: time, connection: connection, method: method, pathPrefix: prefix,
                                           bytesSeen: seen, limit: configuration.maxLineBytes)))
        // Its response still answers it: remember what is known, for the response line and latency.
        enqueue(HTTPRequest(time: time, connection: connection, method: method, path: prefix + "...", version: "",
                            host: nil, lineBytes: seen, segments: 0))
    }

    /// Remembers a request until its response comes.
    private func enqueue(_ request: HTTPRequest) {
        var state = connections[request.connection] ?? ConnectionState(lastSeen: request.time)
        state.lastSeen = max(state.lastSeen, request.time)
        state.requests.append(request)
        if state.requests.count > configuration.maxPendingRequests {
            state.requests.removeFirst()
            counters.expired += 1
        }
        connections[request.connection] = state
    }

    /// Reports every message that starts in `buffer` and whose predecessor's length is known.
    private func parseMessages(key: HTTPFlowKey, flow: inout FlowState, buffer b: [UInt8], time: Double, segments: Int,
                               events: inout [HTTPEvent]) {
        let maxLine = configuration.maxLineBytes
        var i = 0
        while i < b.count {
            if HTTPMessageParser.startsResponse(b, from: i) {
                guard let lf = HTTPMessageParser.lineFeed(in: b, from: i, limit: 1024),
                      let status = HTTPMessageParser.parseStatusLine(b, HTTPMessageParser.lineRange(b, i, lf)) else {
                    counters.parseErrors += 1
                    return
                }
                let headers = HTTPMessageParser.parseHeaders(b, from: lf + 1)
                let connection = HTTPConnection(client: key.destination, server: key.source)
                var state = connections[connection] ?? ConnectionState(lastSeen: time)
                state.lastSeen = time
                let informational = status.status < 200 && status.status != 101
                let request = informational || state.requests.isEmpty ? nil : state.requests.removeFirst()
                connections[connection] = state.requests.isEmpty ? nil : state
                counters.responses += 1
                events.append(.response(HTTPResponse(time: time, connection: connection, version: status.version, status: status.status,
                                                     reason: status.reason, request: request)))
                guard headers.complete, !headers.malformed else { return }
                let bodyless = request?.method == "HEAD" || informational || status.status == 204 || status.status == 304
                let body: Int
                if bodyless { body = 0 } else if let length = headers.contentLength, !headers.chunked { body = length } else { return }
                guard body <= b.count - headers.end else { return }
                i = headers.end + body
            } else if HTTPMessageParser.requestMethod(b, from: i) != nil {
                guard let lf = HTTPMessageParser.lineFeed(in: b, from: i, limit: maxLine + 2) else {
                    if b.count - i > maxLine + 1 {
                        reportTooLong(key: key, bytes: b, from: i, seen: b.count - i, time: time, events: &events)
                        flow.pending = Pending(bytes: [], time: time, segments: segments, tooLong: true)
                        closeSessions.append(key)
                    } else {
                        flow.pending = Pending(bytes: Array(b[i...]), time: time, segments: segments)
                    }
                    return
                }
                let line = HTTPMessageParser.lineRange(b, i, lf)
                if line.count > maxLine {
                    reportTooLong(key: key, bytes: b, from: i, seen: line.count, time: time, events: &events)
                    return
                }
                guard let requestLine = HTTPMessageParser.parseRequestLine(b, line) else {
                    counters.parseErrors += 1
                    return
                }
                let headers = HTTPMessageParser.parseHeaders(b, from: lf + 1)
                let connection = HTTPConnection(client: key.source, server: key.destination)
                let request = HTTPRequest(time: time, connection: connection, method: requestLine.method, path: requestLine.target,
                                          version: requestLine.version, host: headers.host, lineBytes: line.count, segments: segments)
                enqueue(request)
                counters.requests += 1
                events.append(.request(request))
                guard headers.complete, !headers.malformed, !headers.chunked else { return }
                let body = headers.contentLength ?? 0
                guard body <= b.count - headers.end else { return }
                i = headers.end + body
            } else {
                // Body bytes or anything else after a message: not a message start.
                return
            }
        }
    }

    /// Drops flows and connections idle for longer than the timeout. Open request lines and
    /// unanswered requests dropped this way are counted as expired.
    package func expire(now: Double) {
        let limit = configuration.idleTimeout
        for (key, flow) in flows where now - flow.lastSeen > limit {
            if let pending = flow.pending {
                if !pending.tooLong { counters.expired += 1 }
                closeSessions.append(key)
            }
            flows[key] = nil
        }
        for (connection, state) in connections where now - state.lastSeen > limit {
            if !state.requests.isEmpty { counters.expired += 1 }
            connections[connection] = nil
        }
    }

    /// Over the flow limit: drops the least recently seen quarter.
    private func shed() {
        let victims = flows.sorted { $0.value.lastSeen < $1.value.lastSeen }.prefix(max(1, flows.count / 4))
        for (key, flow) in victims {
            if let pending = flow.pending {
                if !pending.tooLong { counters.expired += 1 }
                closeSessions.append(key)
            }
            flows[key] = nil
        }
        if connections.count > configuration.maxFlows {
            let old = connections.sorted { $0.value.lastSeen < $1.value.lastSeen }.prefix(max(1, connections.count / 4))
            for (connection, state) in old {
                if !state.requests.isEmpty { counters.expired += 1 }
                connections[connection] = nil
            }
        }
    }
}
