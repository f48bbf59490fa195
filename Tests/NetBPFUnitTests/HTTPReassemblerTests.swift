import Foundation
import Testing
@testable import NetBPFControllers

private func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

/// The reassembler on crafted segments: splits, copies, gaps, pipelining, limits, garbage.
struct HTTPReassemblerTests {
    let client = HTTPEndpoint(address: [10, 0, 0, 2], port: 40000)
    let server = HTTPEndpoint(address: [10, 0, 0, 1], port: 8000)

    func toServer(_ seq: UInt32, _ s: String) -> TCPSegment { TCPSegment(source: client, destination: server, sequence: seq, payload: bytes(s)) }
    func toClient(_ seq: UInt32, _ s: String) -> TCPSegment { TCPSegment(source: server, destination: client, sequence: seq, payload: bytes(s)) }

    func requests(_ events: [HTTPEvent]) -> [HTTPRequest] { events.compactMap { if case .request(let r) = $0 { return r }; return nil } }
    func responses(_ events: [HTTPEvent]) -> [HTTPResponse] { events.compactMap { if case .response(let r) = $0 { return r }; return nil } }

    /// Feeds segments in order, one time unit apart, and collects the events.
    func feed(_ r: HTTPReassembler, _ segments: [TCPSegment], start: Double = 100) -> [HTTPEvent] {
        var out: [HTTPEvent] = []
        for (i, s) in segments.enumerated() { out += r.process(segment: s, time: start + Double(i) * 0.001) }
        return out
    }

    @Test func requestAndResponseWithLatency() throws {
        let r = HTTPReassembler()
        let events = feed(r, [toServer(1, "GET /a/b?q=1 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n"),
                              toClient(500, "HTTP/1.0 200 OK\r\nServer: x\r\nContent-Length: 6\r\n\r\nhello\n")])
        let q = try #require(requests(events).first)
        #expect(q.method == "GET" && q.path == "/a/b?q=1" && q.host == "example.com" && q.version == "HTTP/1.1" && q.segments == 1)
        #expect(q.connection.description == "10.0.0.2:40000 -> 10.0.0.1:8000")
        let s = try #require(responses(events).first)
        #expect(s.status == 200 && s.reason == "OK" && s.request == q)
        #expect(abs((s.latency ?? 0) - 0.001) < 1e-9)
        #expect(s.connection == q.connection)
        #expect(r.counters.requests == 1 && r.counters.responses == 1 && r.unansweredRequests == 0)
    }

    @Test func requestLineSplitOverSegmentsIsReportedOnceWhole() throws {
        let r = HTTPReassembler()
        let path = "/" + String(repeating: "x", count: 2999)
        let line = "GET \(path) HTTP/1.1\r\nHost: h\r\n\r\n"
        var segments: [TCPSegment] = []
        var seq: UInt32 = 77
        for chunk in bytes(line).chunked(536) {
            segments.append(TCPSegment(source: client, destination: server, sequence: seq, payload: chunk))
            seq &+= UInt32(chunk.count)
        }
        let events = feed(r, segments)
        #expect(events.count == 1)
        let q = try #require(requests(events).first)
        #expect(q.path == path && q.host == "h" && q.segments == 6 && q.lineBytes == 3 + 1 + 3000 + 9)
        #expect(q.time == 100) // the first segment's time
        #expect(r.takeSessionsToClose().isEmpty)
    }

    @Test func loopbackCopiesAndRetransmissionsAreDroppedBySequence() {
        let r = HTTPReassembler()
        let a = toServer(1, "GET /long-")
        let b = toServer(11, "line HTTP/1.1\r\n\r\n")
        // lo: outgoing then incoming copy of each frame, and the incoming copy may come late.
        let events = feed(r, [a, a, b, a, b, b])
        #expect(requests(events).map(\.path) == ["/long-line"])
        #expect(r.counters.duplicates == 4)
        // A retransmission of an answered request: no second line.
        #expect(feed(r, [toServer(1, "GET /long-line HTTP/1.1\r\n\r\n")]).isEmpty)
    }

    @Test func outOfOrderContinuationIsHeldUntilTheGapFills() {
        let r = HTTPReassembler()
        let events = feed(r, [toServer(1, "GET /ab"), toServer(10, "ef HTTP/1.1\r\n\r\n"), toServer(8, "cd")])
        #expect(requests(events).map(\.path) == ["/abcdef"])
    }

    @Test func aLostPieceAbandonsTheLineWhenTheNextRequestStarts() {
        let r = HTTPReassembler()
        var events = feed(r, [toServer(1, "GET /ab"), toServer(20, "xx")]) // 8..19 never comes
        #expect(events.isEmpty)
        events = feed(r, [toServer(40, "GET /next HTTP/1.1\r\n\r\n")])
        #expect(requests(events).map(\.path) == ["/next"])
        #expect(r.counters.incomplete == 1)
        #expect(r.takeSessionsToClose() == [HTTPFlowKey(source: client, destination: server)])
    }

    @Test func pipelinedRequestsAndResponses() {
        let r = HTTPReassembler()
        let req = "GET /1 HTTP/1.1\r\nHost: h\r\n\r\nPOST /2 HTTP/1.1\r\nContent-Length: 4\r\n\r\nbodyHEAD /3 HTTP/1.1\r\n\r\nGET /4 HTTP/1.1\r\n\r\n"
        let resp = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"
            + "HTTP/1.1 200 OK\r\nContent-Length: 999\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 1\r\n\r\nx"
        let events = feed(r, [toServer(1, req), toClient(1, resp)])
        #expect(requests(events).map { "\($0.method) \($0.path)" } == ["GET /1", "POST /2", "HEAD /3", "GET /4"])
        #expect(requests(events).first?.host == "h")
        // The HEAD response has Content-Length but no body: the 404 behind it is found.
        #expect(responses(events).map { "\($0.status) \($0.request?.path ?? "-")" } == ["200 /1", "201 /2", "200 /3", "404 /4"])
    }

    @Test func aPipelinedRequestCutAtTheSegmentEndIsCompletedByTheNext() {
        let r = HTTPReassembler()
        let events = feed(r, [toServer(1, "GET /1 HTTP/1.1\r\n\r\nGET /2 HT"), toServer(29, "TP/1.1\r\n\r\n")])
        #expect(requests(events).map(\.path) == ["/1", "/2"])
        #expect(requests(events).last?.segments == 2)
    }

    @Test func informationalResponsesDoNotAnswerTheRequest() {
        let r = HTTPReassembler()
        let events = feed(r, [toServer(1, "POST /up HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n"),
                              toClient(1, "HTTP/1.1 100 Continue\r\n\r\n"), toClient(26, "HTTP/1.1 200 OK\r\n\r\n")])
        #expect(responses(events).map { "\($0.status) \($0.request?.path ?? "-")" } == ["100 -", "200 /up"])
    }

    @Test func lineOfExactlyTheLimitIsKeptOneMoreIsTooLong() throws {
        let r = HTTPReassembler()
        let ok = "GET /" + String(repeating: "a", count: 8192 - 4 - 1 - 9) + " HTTP/1.1" // 8192 bytes
        #expect(ok.utf8.count == 8192)
        var events = feed(r, chunks(ok + "\r\nHost: h\r\n\r\n", from: client, to: server, seq: 1))
        #expect(requests(events).first?.lineBytes == 8192)
        let r2 = HTTPReassembler()
        let long = "GET /" + String(repeating: "b", count: 8192 - 4 - 1 - 9 + 1) + " HTTP/1.1\r\n\r\n"
        events = feed(r2, chunks(long, from: client, to: server, seq: 1))
        #expect(events.count == 1)
        let t = try #require(events.first.flatMap { if case .tooLong(let t) = $0 { return t }; return nil })
        #expect(t.method == "GET" && t.pathPrefix == "/" + String(repeating: "b", count: 63) && t.limit == 8192)
        #expect(r2.counters.tooLong == 1 && r2.counters.requests == 0)
    }

    @Test func tooLongIsReportedOnceThenTheFlowCarriesOn() throws {
        let r = HTTPReassembler()
        let huge = "GET /" + String(repeating: "z", count: 20_000) + " HTTP/1.1\r\nHost: h\r\n\r\n"
        let segs = chunks(huge, from: client, to: server, seq: 1)
        var events = feed(r, segs)
        #expect(events.count == 1 && r.counters.tooLong == 1)
        #expect(r.takeSessionsToClose() == [HTTPFlowKey(source: client, destination: server)])
        // The response answers the line given up on; the next request is reported normally.
        let next = UInt32(1 + huge.utf8.count)
        events = feed(r, [toClient(1, "HTTP/1.1 414 URI Too Long\r\n\r\n"), toServer(next, "GET /ok HTTP/1.1\r\n\r\n")])
        #expect(responses(events).first?.status == 414)
        #expect(responses(events).first?.request?.path.hasPrefix("/zzz") == true)
        #expect(requests(events).map(\.path) == ["/ok"])
    }

    @Test func sixtyFourKilobyteLineInOneSegment() {
        let r = HTTPReassembler()
        let events = feed(r, [toServer(1, "GET /" + String(repeating: "q", count: 65_536))])
        #expect(events.count == 1 && r.counters.tooLong == 1)
        #expect(feed(r, [toServer(70_000, String(repeating: "q", count: 1000) + " HTTP/1.1\r\n\r\n")]).isEmpty)
    }

    @Test func payloadsThatOnlyLookLikeHTTP() {
        let r = HTTPReassembler()
        let fakes = ["GET  / HTTP/1.1\r\n", "GETTING / HTTP/1.1\r\n", "GET / HTTP/2.0\r\n", "HTTP/2 200\r\n", "HTTP/1.1 2000 OK\r\n",
                     "GET \u{0}\u{1}\u{2} HTTP/1.1\r\n", "POST /x HTTP/1.1 trailing\r\n", "\u{16}\u{3}\u{1}\u{2}\u{0}GET / HTTP/1.1\r\n",
                     "HTTP/1.1 200 OK"] // a status line without its end
        var events: [HTTPEvent] = []
        for (i, f) in fakes.enumerated() {
            let c = HTTPEndpoint(address: [10, 0, 0, 2], port: UInt16(41000 + i))
            events += r.process(segment: TCPSegment(source: c, destination: server, sequence: 1, payload: bytes(f)), time: 1)
        }
        #expect(events.isEmpty)
        #expect(r.counters.parseErrors == 6)
        #expect(r.counters.ignored == 3) // "GETTING", "HTTP/2" and the TLS-looking bytes are not message starts
    }

    @Test func truncatedHeadersGiveNoHost() throws {
        let r = HTTPReassembler()
        let events = feed(r, [toServer(1, "GET / HTTP/1.1\r\nAccept: */*\r\nHost: exa")])
        #expect(try #require(requests(events).first).host == nil)
    }

    @Test func idleSessionsExpire() {
        let r = HTTPReassembler()
        _ = feed(r, [toServer(1, "GET /never-ends"), TCPSegment(source: HTTPEndpoint(address: [10, 0, 0, 3], port: 5), destination: server,
                                                                   sequence: 1, payload: bytes("GET /unanswered HTTP/1.1\r\n\r\n"))])
        #expect(r.flowCount == 2 && r.unansweredRequests == 1)
        r.expire(now: 110)
        #expect(r.flowCount == 2) // not idle long enough (30 s)
        r.expire(now: 131)
        #expect(r.flowCount == 0 && r.unansweredRequests == 0)
        #expect(r.counters.expired == 2)
        #expect(r.takeSessionsToClose() == [HTTPFlowKey(source: client, destination: server)])
    }

    @Test func responseWithoutItsRequest() {
        let r = HTTPReassembler()
        let events = feed(r, [toClient(1, "HTTP/1.1 304 Not Modified\r\n\r\n")])
        #expect(responses(events).first?.request == nil && responses(events).first?.latency == nil)
    }

    @Test func sequenceNumbersWrapAround() {
        let r = HTTPReassembler()
        let events = feed(r, [toServer(0xFFFF_FFF8, "GET /wrap"), toServer(0x0000_0001, "ped HTTP/1.1\r\n\r\n"), toServer(0xFFFF_FFF8, "GET /wrap")])
        #expect(requests(events).map(\.path) == ["/wrapped"])
        #expect(r.counters.duplicates == 1)
    }

    @Test func portReuseFarBehindStartsOver() {
        let r = HTTPReassembler()
        var events = feed(r, [toServer(3_000_000_000, "GET /first HTTP/1.1\r\n\r\n")])
        events += feed(r, [toServer(5, "GET /second HTTP/1.1\r\n\r\n")])
        #expect(requests(events).map(\.path) == ["/first", "/second"])
    }

    @Test func flowLimitShedsTheOldest() {
        var config = HTTPReassemblerConfiguration()
        config.maxFlows = 100
        let r = HTTPReassembler(configuration: config)
        for i in 0..<1000 {
            let c = HTTPEndpoint(address: [10, 0, UInt8(i >> 8), UInt8(i & 0xff)], port: 1)
            _ = r.process(segment: TCPSegment(source: c, destination: server, sequence: 1, payload: bytes("GET /x")), time: Double(i))
        }
        #expect(r.flowCount <= 100)
        #expect(r.counters.expired > 0)
    }

    @Test func fuzzedSegmentsNeverTrapAndLinesStayLines() {
        var rng = SeededGenerator(seed: 42)
        let pieces = ["GET ", "POST ", "HTTP/1.1 ", "HTTP/1.0 200 OK", "\r\n", "\n", "\r", "Host: ", "Content-Length: ", "999999999999",
                      "Transfer-Encoding: chunked", " ", "/", "?", "\u{0}", "\u{1b}", "HTTP/1.", "200 ", "x", "\r\n\r\n", "GET / HTTP/1.1\r\n"]
        var config = HTTPReassemblerConfiguration()
        config.maxLineBytes = 512
        let r = HTTPReassembler(configuration: config)
        var seqs: [UInt32] = [1, 1, 1, 1]
        for i in 0..<30_000 {
            var s = ""
            for _ in 0..<Int.random(in: 0...12, using: &rng) { s += pieces.randomElement(using: &rng)! }
            var payload = bytes(s)
            if Int.random(in: 0..<4, using: &rng) == 0 { payload += (0..<Int.random(in: 0...300, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) } }
            let flow = Int.random(in: 0..<4, using: &rng)
            let c = HTTPEndpoint(address: [10, 0, 0, 2], port: UInt16(50000 + flow / 2))
            let toServer = flow % 2 == 0
            // Mostly in order, sometimes replayed, sometimes skipping ahead.
            switch Int.random(in: 0..<10, using: &rng) {
            case 0: seqs[flow] &-= UInt32(Int.random(in: 0...200, using: &rng))
            case 1: seqs[flow] &+= UInt32(Int.random(in: 0...5000, using: &rng))
            case 2: seqs[flow] = UInt32.random(in: 0...UInt32.max, using: &rng)
            default: break
            }
            let seg = TCPSegment(source: toServer ? c : server, destination: toServer ? server : c, sequence: seqs[flow], payload: payload)
            seqs[flow] &+= UInt32(payload.count)
            for e in r.process(segment: seg, time: Double(i) / 100) {
                let line = HTTPEventFormat.text(e)
                #expect(!line.contains("\n") && !line.contains("\r"), "a line broke: \(line.debugDescription)")
            }
            if i % 1000 == 0 { r.expire(now: Double(i) / 100) }
        }
        #expect(r.counters.frames == 30_000)
    }

    func chunks(_ s: String, from: HTTPEndpoint, to: HTTPEndpoint, seq: UInt32, size: Int = 1448) -> [TCPSegment] {
        var out: [TCPSegment] = []
        var q = seq
        for c in bytes(s).chunked(size) {
            out.append(TCPSegment(source: from, destination: to, sequence: q, payload: c))
            q &+= UInt32(c.count)
        }
        return out
    }
}

/// Selections, block entries and their BPF keys, and the output lines.
struct HTTPSelectionAndFormatTests {
    let conn = HTTPConnection(client: HTTPEndpoint(address: [10, 0, 0, 2], port: 40000), server: HTTPEndpoint(address: [10, 0, 0, 1], port: 8000))

    func request(_ method: String = "GET", host: String? = "Example.com:8000", path: String = "/a/b?q=1", time: Double = 1_700_000_000.25) -> HTTPRequest {
        HTTPRequest(time: time, connection: conn, method: method, path: path, version: "HTTP/1.1", host: host, lineBytes: 20, segments: 1)
    }

    @Test func selection() {
        #expect(HTTPSelection().matches(request()))
        #expect(HTTPSelection(hosts: ["example.COM"]).matches(request()))
        #expect(HTTPSelection(hosts: ["example.com:8000"]).matches(request()))
        #expect(!HTTPSelection(hosts: ["example.com:9"]).matches(request()))
        #expect(!HTTPSelection(hosts: ["other"]).matches(request()))
        #expect(!HTTPSelection(hosts: ["example.com"]).matches(request(host: nil)))
        #expect(HTTPSelection(methods: ["get", "POST"]).matches(request()))
        #expect(!HTTPSelection(methods: ["HEAD"]).matches(request()))
        #expect(HTTPSelection(pathPrefixes: ["/x", "/a/"]).matches(request()))
        #expect(!HTTPSelection(hosts: ["example.com"], pathPrefixes: ["/x"]).matches(request()))
        let answered = HTTPEvent.response(HTTPResponse(time: 2, connection: conn, version: "HTTP/1.0", status: 200, reason: "OK", request: request()))
        let orphan = HTTPEvent.response(HTTPResponse(time: 2, connection: conn, version: "HTTP/1.0", status: 200, reason: "OK", request: nil))
        #expect(HTTPSelection(methods: ["GET"]).matches(answered))
        #expect(!HTTPSelection(methods: ["GET"]).matches(orphan))
        #expect(HTTPSelection().matches(orphan))
        #expect(HTTPSelection.stripPort("[fd00::1]:80") == "[fd00::1]")
        #expect(HTTPSelection.stripPort("fd00::1") == "fd00::1")
    }

    @Test func blockEntriesAndKeys() throws {
        let p = try HTTPBlockEntry.path("/secret")
        let key = p.keyBytes
        #expect(key.count == 72)
        #expect(Array(key[0..<4]) == [64, 0, 0, 0]) // 8 * (1 + 7) bits, little-endian
        #expect(key[4] == 0x50 && Array(key[5..<12]) == bytes("/secret") && key[12...].allSatisfy { $0 == 0 })
        #expect(HTTPBlockEntry(keyBytes: key) == p)
        let h = try HTTPBlockEntry.host("Blocked.Example:8080")
        #expect(h.value == "blocked.example")
        #expect(Array(h.keyBytes[0..<4]) == [UInt8(8 * 17), 0, 0, 0]) // kind + 15 + NUL
        #expect(HTTPBlockEntry(keyBytes: h.keyBytes) == h)
        #expect(try HTTPBlockEntry.host("[FD00::1]:80").value == "[fd00::1]")
        #expect(try HTTPBlockEntry.path("/" + String(repeating: "a", count: 63)).keyBytes[68] == 0x61)
        for bad in ["", "admin", "/a b", "/" + String(repeating: "a", count: 64), "/\u{7f}", "/é"] {
            #expect(throws: ControllerError.self) { try HTTPBlockEntry.path(bad) }
        }
        for bad in ["", String(repeating: "h", count: 64), "a b", "a/b"] {
            #expect(throws: ControllerError.self) { try HTTPBlockEntry.host(bad) }
        }
        #expect(HTTPBlockEntry(keyBytes: [UInt8](repeating: 0, count: 72)) == nil)
        #expect(HTTPBlockEntry(keyBytes: [1, 2, 3]) == nil)
    }

    @Test func inMemoryBlockListHasTheProgramsRules() throws {
        let list = InMemoryHTTPBlockList()
        try list.add(.path("/secret"))
        try list.add(.host("blocked.example"))
        try list.add(.path("/secret")) // twice: one entry
        #expect(try list.listing().count == 2)
        #expect(list.blocks(path: "/secret/x", host: nil))
        #expect(list.blocks(path: "/secretive", host: nil)) // a prefix, not a path segment
        #expect(!list.blocks(path: "/public", host: "example.com"))
        #expect(list.blocks(path: "/", host: "BLOCKED.example:80"))
        #expect(!list.blocks(path: "/", host: "www.blocked.example"))
        // Only the first 64 bytes of a target are compared.
        try list.add(.path("/" + String(repeating: "d", count: 63)))
        #expect(list.blocks(path: "/" + String(repeating: "d", count: 100), host: nil))
        #expect(try list.remove(.path("/secret")))
        #expect(try !list.remove(.path("/secret")))
        #expect(!list.blocks(path: "/secret", host: nil))
    }

    @Test func textLines() {
        let t = HTTPEventFormat.clock(1_700_000_000.25)
        #expect(t.hasSuffix(".250000") && t.count == 15)
        var q = request()
        #expect(HTTPEventFormat.text(.request(q)) == "\(t) request  10.0.0.2:40000 -> 10.0.0.1:8000 GET Example.com:8000 /a/b?q=1 HTTP/1.1")
        q.isBlocked = true
        #expect(HTTPEventFormat.text(.request(q)).hasSuffix("HTTP/1.1 [blocked]"))
        let s = HTTPResponse(time: 1_700_000_000.2515, connection: conn, version: "HTTP/1.0", status: 404, reason: "File not found", request: request(host: nil))
        #expect(HTTPEventFormat.text(.response(s)).hasSuffix(" response 10.0.0.2:40000 -> 10.0.0.1:8000 GET - /a/b?q=1 404 File not found (1.500 ms)"))
        let orphan = HTTPResponse(time: 1_700_000_000.25, connection: conn, version: "HTTP/1.0", status: 204, reason: "", request: nil)
        #expect(HTTPEventFormat.text(.response(orphan)) == "\(t) response 10.0.0.2:40000 -> 10.0.0.1:8000 - - - 204")
    }

    @Test func jsonLines() throws {
        let line = HTTPEventFormat.json(.request(request()))
        #expect(!line.contains("\n"))
        let o = try #require(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(o["type"] as? String == "request" && o["method"] as? String == "GET" && o["path"] as? String == "/a/b?q=1")
        #expect(o["host"] as? String == "Example.com:8000" && o["client"] as? String == "10.0.0.2:40000" && o["server"] as? String == "10.0.0.1:8000")
        #expect(o["time"] as? String == "2023-11-14T22:13:20.250000Z")
        #expect(o["blocked"] == nil && o["status"] == nil)
        let r = HTTPResponse(time: 1_700_000_000.2515, connection: conn, version: "HTTP/1.0", status: 200, reason: "OK", request: request())
        let p = try #require(JSONSerialization.jsonObject(with: Data(HTTPEventFormat.json(.response(r)).utf8)) as? [String: Any])
        #expect(p["status"] as? Int == 200 && p["latency_ms"] as? Double == 1.5 && p["path"] as? String == "/a/b?q=1")
    }

    @Test func sessionKeyLayout() {
        let key = HTTPFilter.sessionKey(HTTPFlowKey(source: conn.client, destination: conn.server))
        #expect(key.count == 40)
        #expect(Array(key[0..<4]) == [10, 0, 0, 2] && Array(key[16..<20]) == [10, 0, 0, 1])
        #expect(Array(key[32..<37]) == [0x9c, 0x40, 0x1f, 0x40, 4])
    }
}

extension Array {
    func chunked(_ size: Int) -> [[Element]] {
        stride(from: 0, to: count, by: size).map { Array(self[$0..<Swift.min($0 + size, count)]) }
    }
}
