import Foundation
import Testing
@testable import NetBPFControllers

private func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

/// Frames to segments: every layer the socket filter handles, and every way a frame can be cut.
struct HTTPFrameDecoderTests {
    let payload = bytes("GET / HTTP/1.1\r\nHost: a\r\n\r\n")

    func decoded(_ frame: [UInt8]) -> TCPSegment? { try? HTTPFrameDecoder.decode(frame).get() }

    @Test func ipv4() throws {
        let seg = try #require(decoded(HTTPFrameBuilder.ipv4().frame(payload: payload)))
        #expect(seg.source.description == "10.0.0.2:40000")
        #expect(seg.destination.description == "10.0.0.1:8000")
        #expect(seg.sequence == 1000)
        #expect(seg.payload == payload)
        #expect(seg.vlan == nil)
    }

    @Test func ipv4OptionsTCPOptionsAndPadding() throws {
        var b = HTTPFrameBuilder.ipv4()
        b.ipv4Options = [0x94, 0x04, 0, 0, 0x01, 0x01, 0x01, 0x00] // router alert, NOPs, end
        b.tcpOptions = [0x02, 0x04, 0x05, 0xb4, 0x01, 0x01, 0x08, 0x0a] + [UInt8](repeating: 0, count: 8)
        b.trailer = [0xde, 0xad, 0xbe, 0xef] // Ethernet padding is not payload
        let seg = try #require(decoded(b.frame(payload: payload)))
        #expect(seg.payload == payload)
    }

    @Test func vlanTags() throws {
        var b = HTTPFrameBuilder.ipv4()
        b.vlans = [100]
        #expect(decoded(b.frame(payload: payload))?.vlan == 100)
        b.vlans = [200, 300] // 802.1ad outer, 802.1Q inner
        let seg = try #require(decoded(b.frame(payload: payload)))
        #expect(seg.vlan == 200)
        #expect(seg.payload == payload)
        b.vlans = [1, 2, 3] // three tags: deeper than the filter looks
        #expect(decoded(b.frame(payload: payload)) == nil)
    }

    @Test func ipv6WithExtensionHeaders() throws {
        var b = HTTPFrameBuilder.ipv6()
        #expect(decoded(b.frame(payload: payload))?.source.description == "[fd00::2]:40000")
        b.ipv6Extensions = [.hopByHop(units: 0), .destination(units: 1), .routing(units: 0), .fragment(offset: 0, more: true), .authentication(units: 1)]
        let seg = try #require(decoded(b.frame(payload: payload)))
        #expect(seg.payload == payload)
        #expect(seg.destination.addressText == "fd00::1")
        // Seven headers: more than the filter skips.
        b.ipv6Extensions = Array(repeating: .destination(units: 0), count: 7)
        #expect(HTTPFrameDecoder.decode(b.frame(payload: payload)) == .failure(.notTCP))
    }

    @Test func fragmentsOtherThanTheFirstAreNotParsed() {
        var b = HTTPFrameBuilder.ipv4()
        b.moreFragments = true
        #expect(decoded(b.frame(payload: payload)) != nil) // the first fragment has the TCP header
        b.fragmentOffset = 185
        #expect(HTTPFrameDecoder.decode(b.frame(payload: payload)) == .failure(.fragment))
        var c = HTTPFrameBuilder.ipv6()
        c.ipv6Extensions = [.fragment(offset: 10, more: false)]
        #expect(HTTPFrameDecoder.decode(c.frame(payload: payload)) == .failure(.fragment))
    }

    @Test func everyTruncationIsRefusedWithoutATrap() {
        var frames = [HTTPFrameBuilder.ipv4().frame(payload: payload), HTTPFrameBuilder.ipv6().frame(payload: payload)]
        var b = HTTPFrameBuilder.ipv6()
        b.vlans = [5, 6]
        b.ipv6Extensions = [.hopByHop(units: 2), .fragment(offset: 0, more: false)]
        frames.append(b.frame(payload: payload))
        for frame in frames {
            for n in 0..<frame.count {
                let r = HTTPFrameDecoder.decode(Array(frame.prefix(n)))
                if case .success(let seg) = r { #expect(seg.payload.count < payload.count, "a cut frame must not grow") }
            }
        }
    }

    @Test func headerFieldsThatLie() {
        let good = HTTPFrameBuilder.ipv4().frame(payload: payload)
        var f = good
        f[14] = 0x42 // IHL 2 (< 20 bytes)
        #expect(HTTPFrameDecoder.decode(f) == .failure(.malformed))
        f = good
        f[14] = 0x4f // IHL 15: past the TCP header
        #expect(decoded(f)?.payload != payload)
        f = good
        f[16] = 0xff; f[17] = 0xff // total length past the frame
        #expect(HTTPFrameDecoder.decode(f) == .failure(.truncated))
        f = good
        f[14 + 20 + 12] = 0x10 // TCP data offset 4 bytes
        #expect(HTTPFrameDecoder.decode(f) == .failure(.malformed))
        f = good
        f[14 + 20 + 12] = 0xf0 // data offset 60: past the segment end
        #expect(HTTPFrameDecoder.decode(f) == .failure(.malformed))
        f = good
        f[14 + 9] = 17 // UDP
        #expect(HTTPFrameDecoder.decode(f) == .failure(.notTCP))
        f = good
        f[12] = 0x08; f[13] = 0x06 // ARP
        #expect(HTTPFrameDecoder.decode(f) == .failure(.notIP))
    }

    @Test func randomBytesNeverTrap() {
        var rng = SeededGenerator(seed: 7)
        let base = HTTPFrameBuilder.ipv6().frame(payload: payload)
        for _ in 0..<20_000 {
            var f = Array(base.prefix(Int.random(in: 0...base.count, using: &rng)))
            for _ in 0..<Int.random(in: 0...6, using: &rng) where !f.isEmpty {
                f[Int.random(in: 0..<f.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
            _ = HTTPFrameDecoder.decode(f)
        }
    }

    @Test func ipv6AddressText() {
        func text(_ a: [UInt8]) -> String { HTTPEndpoint(address: a, port: 1).addressText }
        #expect(text([UInt8](repeating: 0, count: 16)) == "::")
        #expect(text([UInt8](repeating: 0, count: 15) + [1]) == "::1")
        #expect(text([0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [1]) == "2001:db8::1")
        #expect(text([0x20, 0x01, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]) == "2001:0:1::1")
        #expect(text([0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 8]) == "1:2:3:4:5:6:7:8")
    }
}

/// Start lines and headers, strict about what counts as HTTP.
struct HTTPMessageParserTests {
    func request(_ s: String) -> HTTPMessageParser.RequestLine? {
        let b = bytes(s)
        return HTTPMessageParser.parseRequestLine(b, 0..<b.count)
    }

    func status(_ s: String) -> HTTPMessageParser.StatusLine? {
        let b = bytes(s)
        return HTTPMessageParser.parseStatusLine(b, 0..<b.count)
    }

    @Test func requestLines() {
        #expect(request("GET / HTTP/1.1") == .init(method: "GET", target: "/", version: "HTTP/1.1"))
        #expect(request("GET /a/b?q=1 HTTP/1.0")?.target == "/a/b?q=1")
        for m in HTTPMessageParser.methods { #expect(request("\(m) /x HTTP/1.1")?.method == m) }
        #expect(request("OPTIONS * HTTP/1.1")?.target == "*")
        #expect(request("CONNECT example.com:443 HTTP/1.1")?.target == "example.com:443")
        #expect(request("GET http://example.com/x HTTP/1.1")?.target == "http://example.com/x")
    }

    @Test func thingsThatOnlyLookLikeRequests() {
        for line in ["GET  / HTTP/1.1", "GET / HTTP/2.0", "GET / HTTP/1.1 x", "GETX / HTTP/1.1", "get / HTTP/1.1",
                     "GET foo HTTP/1.1", "GET / HTTP/1.", "GET / HTTP/1.x", "GET /\u{7}a HTTP/1.1", "GET", "GET ", "GET / ",
                     "GET /", "POST / HTTP/1.1\u{0}", "HEAD / http/1.1", "OPTIONS ** HTTP/1.1x", "GET / HTTP/1.1 "] {
            #expect(request(line) == nil, "accepted \(line.debugDescription)")
        }
    }

    @Test func statusLines() {
        #expect(status("HTTP/1.1 200 OK") == .init(version: "HTTP/1.1", status: 200, reason: "OK"))
        #expect(status("HTTP/1.0 404 File not found")?.reason == "File not found")
        #expect(status("HTTP/1.1 204")?.status == 204)
        #expect(status("HTTP/1.1 200 ")?.reason == "")
        for line in ["HTTP/1.1 20 OK", "HTTP/1.1 999 X", "HTTP/1.1 200OK", "HTTP/2 200 OK", "HTTP/1.1  200 OK", "HTTP/1.1 2x0 OK",
                     "HTTP/1.1 099 X", "HTTP/1.1 200 \u{1b}[2J", "HTTP/1.1"] {
            #expect(status(line) == nil, "accepted \(line.debugDescription)")
        }
    }

    @Test func headers() {
        let b = bytes("GET / HTTP/1.1\r\nUser-Agent: x\r\nhOsT: \t Example.COM:8080 \r\nContent-Length: 5\r\n\r\nhello")
        let h = HTTPMessageParser.parseHeaders(b, from: 16)
        #expect(h.host == "Example.COM:8080")
        #expect(h.contentLength == 5)
        #expect(h.complete)
        #expect(b.count - h.end == 5)
        // A header block cut in the middle: the complete lines count, the cut one does not.
        let cut = bytes("GET / HTTP/1.1\r\nAccept: */*\r\nHost: exam")
        let c = HTTPMessageParser.parseHeaders(cut, from: 16)
        #expect(c.host == nil && !c.complete && !c.malformed)
        let noColon = HTTPMessageParser.parseHeaders(bytes("X\r\nno colon here\r\nHost: a\r\n\r\n"), from: 3)
        #expect(noColon.malformed && noColon.host == nil)
        #expect(HTTPMessageParser.parseHeaders(bytes("Content-Length: 1x\r\n\r\n"), from: 0).malformed)
        #expect(HTTPMessageParser.parseHeaders(bytes("Transfer-Encoding: gzip, Chunked\r\n\r\n"), from: 0).chunked)
        #expect(HTTPMessageParser.parseHeaders(bytes("Host: a\nHost: b\n\n"), from: 0).host == "a") // bare LF, first Host
    }

    @Test func textEscapesAnythingThatCouldBreakALine() {
        #expect(HTTPMessageParser.text(bytes("/a b")[...]) == "/a b")
        #expect(HTTPMessageParser.text([0x2f, 0x0a, 0x0d, 0x1b, 0x5c, 0xff][...]) == "/\\x0a\\x0d\\x1b\\x5c\\xff")
    }

    @Test func scansStayInBounds() {
        #expect(HTTPMessageParser.lineFeed(in: [], from: 0) == nil)
        #expect(HTTPMessageParser.lineFeed(in: [0x0a], from: 5) == nil)
        #expect(HTTPMessageParser.lineFeed(in: [1, 2, 0x0a], from: 0, limit: 2) == nil)
        #expect(HTTPMessageParser.lineFeed(in: [1, 2, 0x0a], from: 0, limit: 3) == 2)
        #expect(HTTPMessageParser.parseRequestLine([], 0..<0) == nil)
        #expect(HTTPMessageParser.parseStatusLine(bytes("HTTP/1.1 200 OK"), 3..<40) == nil)
        #expect(HTTPMessageParser.requestMethod(bytes("GET"), from: -1) == nil)
    }
}

/// A small deterministic generator so fuzz-style tests are reproducible.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
