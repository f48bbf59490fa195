import Foundation
import Glibc
import Testing
import NetBPF
import NetBPFControllers
import NetBPFTestSupport

private func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

/// The two BPF programs run by the kernel on crafted frames (BPF_PROG_TEST_RUN): which frames
/// the socket filter keeps, how its sessions map follows a long request line, what the
/// blocking program drops. Socket filters are test-run from the network header, so frames get
/// a dummy Ethernet header in front (HTTPFrameBuilder.forSocketFilterTestRun).
@Suite(.serialized, .enabled(if: geteuid() == 0, "requires root: loads BPF programs"))
struct HTTPFilterProgramTests {
    func loadFilter(vlan: UInt16? = nil) throws -> BPFObject {
        try BPFObject.load(path: TestPrograms.object("http_filter")) { spec in
            if let vlan { try spec.setGlobal("want_vlan", to: vlan) }
        }
    }

    /// Bytes the socket filter keeps of `frame` (0: dropped).
    func kept(_ program: BPFProgram, _ frame: [UInt8]) throws -> UInt32 {
        try program.testRun(data: HTTPFrameBuilder.forSocketFilterTestRun(frame)).returnValue
    }

    @Test func keepsOnlySegmentsStartingHTTPMessages() throws {
        let object = try loadFilter()
        let p = try object.program(named: "http_filter")
        let get = bytes("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        var v4 = HTTPFrameBuilder.ipv4()
        let frame = v4.frame(payload: get)
        #expect(try kept(p, frame) == UInt32(frame.count))
        for m in HTTPMessageParser.methods { #expect(try kept(p, v4.frame(payload: bytes("\(m) /x HTTP/1.1\r\n"))) > 0, "\(m)") }
        #expect(try kept(p, v4.frame(payload: bytes("HTTP/1.0 200 OK\r\n"))) > 0)
        // A 4-byte first segment ("GET " without LF) opens a session for its flow: another port.
        #expect(try kept(p, HTTPFrameBuilder.ipv4(sourcePort: 39999).frame(payload: bytes("GET "))) > 0)
        for other in ["GETX / HTTP/1.1\r\n", "get / HTTP/1.1\r\n", "HTTP/2 200\r\n", "HTTP/1", "GET", "\u{16}\u{3}\u{1}\u{2}\u{0}", "SSH-2.0-OpenSSH\r\n", "x"] {
            #expect(try kept(p, v4.frame(payload: bytes(other))) == 0, "kept \(other.debugDescription)")
        }
        #expect(try kept(p, v4.frame(payload: [])) == 0) // a bare ACK
        #expect(try kept(p, v4.frame(transport: [0x9c, 0x40, 0x1f, 0x40, 0, 40, 0, 0] + get, protocol: 17)) == 0) // UDP "GET "

        // IPv4 options, TCP options, Ethernet padding.
        v4.ipv4Options = [0x94, 0x04, 0, 0, 1, 1, 1, 0]
        v4.tcpOptions = [1, 1, 8, 10] + [UInt8](repeating: 0, count: 8)
        v4.trailer = [0, 0, 0, 0]
        #expect(try kept(p, v4.frame(payload: get)) > 0)
        // Non-first fragments are not parsed (even when their bytes look like HTTP); first ones are.
        var frag = HTTPFrameBuilder.ipv4()
        frag.moreFragments = true
        #expect(try kept(p, frag.frame(payload: get)) > 0)
        frag.fragmentOffset = 100
        #expect(try kept(p, frag.frame(payload: get)) == 0)

        // VLAN tags in the frame: one, two (802.1ad + 802.1Q); three is deeper than it looks.
        for tags in [[100], [200, 300]] {
            var b = HTTPFrameBuilder.ipv4()
            b.vlans = tags.map(UInt16.init)
            #expect(try kept(p, b.frame(payload: get)) > 0, "tags \(tags)")
        }
        // IPv6 with extension headers; a non-first IPv6 fragment; too many headers.
        var v6 = HTTPFrameBuilder.ipv6()
        #expect(try kept(p, v6.frame(payload: get)) > 0)
        v6.ipv6Extensions = [.hopByHop(units: 0), .destination(units: 1), .routing(units: 0), .fragment(offset: 0, more: true), .authentication(units: 1)]
        #expect(try kept(p, v6.frame(payload: get)) > 0)
        v6.ipv6Extensions = [.fragment(offset: 3, more: false)]
        #expect(try kept(p, v6.frame(payload: get)) == 0)
        v6.ipv6Extensions = Array(repeating: .destination(units: 0), count: 7)
        #expect(try kept(p, v6.frame(payload: get)) == 0)

        let stats = try PerCPUArrayMap<UInt64>(object.map(named: "http_stats"))
        #expect(try stats.sum(6) == 2) // the two non-first fragments
    }

    @Test func truncatedAndGarbageFramesAreDropped() throws {
        let p = try loadFilter().program(named: "http_filter")
        let frame = HTTPFrameBuilder.ipv4().frame(payload: bytes("GET / HTTP/1.1\r\n\r\n"))
        let headers = frame.count - 18
        // (The kernel refuses test runs of fewer than 20 bytes after an IPv4 Ethernet header.)
        for n in 20..<headers { #expect(try kept(p, Array(frame.prefix(n))) == 0, "kept a frame cut at \(n)") }
        var rng = SeededGenerator(seed: 3)
        for _ in 0..<2000 {
            var f = frame
            for _ in 0..<4 { f[Int.random(in: 14..<54, using: &rng)] = UInt8.random(in: 0...255, using: &rng) }
            _ = try kept(p, f) // any verdict, no failure
        }
    }

    @Test func sessionsFollowALongRequestLine() throws {
        let object = try loadFilter()
        let p = try object.program(named: "http_filter")
        let sessions = try object.map(named: "sessions")
        var b = HTTPFrameBuilder.ipv4()
        b.sequence = 5000
        let first = b.frame(payload: bytes("GET /" + String(repeating: "a", count: 500)))
        #expect(try kept(p, first) > 0)
        #expect(try sessions.keys().count == 1)
        let key = try #require(sessions.keys().first)
        #expect(key == HTTPFilter.sessionKey(HTTPFlowKey(source: b.source, destination: b.destination)))
        // Continuations pass while the line is open; the one with the LF closes the session.
        b.sequence = 5505
        #expect(try kept(p, b.frame(payload: bytes(String(repeating: "b", count: 500)))) > 0)
        b.sequence = 6005
        #expect(try kept(p, b.frame(payload: bytes("c HTTP/1.1\r\nHost: x\r\n\r\n"))) > 0)
        #expect(try sessions.keys().isEmpty)
        b.sequence = 6030
        #expect(try kept(p, b.frame(payload: bytes("request body"))) == 0)
        // Other flows' segments never pass.
        var other = HTTPFrameBuilder.ipv4(sourcePort: 40001)
        other.sequence = 1
        #expect(try kept(p, other.frame(payload: bytes("more"))) == 0)

        // Past 8192 bytes the session is dropped: that segment passes, the next does not.
        b.sequence = 100
        #expect(try kept(p, b.frame(payload: bytes("GET /" + String(repeating: "z", count: 1400)))) > 0)
        var seq: UInt32 = 100 + 1405
        for _ in 0..<5 {
            b.sequence = seq
            #expect(try kept(p, b.frame(payload: [UInt8](repeating: 0x7a, count: 1400))) > 0)
            seq += 1400
        }
        #expect(try sessions.keys().isEmpty)
        b.sequence = seq
        #expect(try kept(p, b.frame(payload: [UInt8](repeating: 0x7a, count: 1400))) == 0)
        let stats = try PerCPUArrayMap<UInt64>(object.map(named: "http_stats"))
        #expect(try stats.sum(3) == 2 && stats.sum(4) == 1 && stats.sum(5) == 1) // opened, ended, capped
    }

    @Test func wantVLANKeepsOnlyThatVLAN() throws {
        let p = try loadFilter(vlan: 100).program(named: "http_filter")
        var b = HTTPFrameBuilder.ipv4()
        let get = bytes("GET / HTTP/1.1\r\n\r\n")
        #expect(try kept(p, b.frame(payload: get)) == 0)
        b.vlans = [100]
        #expect(try kept(p, b.frame(payload: get)) > 0)
        b.vlans = [101]
        #expect(try kept(p, b.frame(payload: get)) == 0)
        b.vlans = [100, 7] // the outer tag is the one that counts
        #expect(try kept(p, b.frame(payload: get)) > 0)
    }

    @Test func blockProgramDropsListedPathsAndHosts() throws {
        let object = try BPFObject.load(path: TestPrograms.object("http_block"))
        let p = try object.program(named: "http_block")
        let list = try BPFHTTPBlockList(map: object.map(named: "block_list"))
        let pass: UInt32 = 0xFFFF_FFFF, drop: UInt32 = 2 // TC_ACT_UNSPEC, TC_ACT_SHOT
        func verdict(_ payload: String, v6: Bool = false, vlans: [UInt16] = []) throws -> UInt32 {
            var b = v6 ? HTTPFrameBuilder.ipv6() : HTTPFrameBuilder.ipv4()
            b.vlans = vlans
            return try p.testRun(data: b.frame(payload: bytes(payload))).returnValue
        }
        let get = "GET /secret/x HTTP/1.1\r\nHost: a.example\r\n\r\n"
        #expect(try verdict(get) == pass) // empty list
        try list.add(.path("/secret"))
        try list.add(.host("Blocked.Example"))
        try list.add(.host("[fd00::1]"))
        #expect(try verdict(get) == drop)
        #expect(try verdict(get, v6: true, vlans: [10]) == drop)
        #expect(try verdict("POST /secretive HTTP/1.1\r\n\r\n") == drop) // a prefix of the target
        #expect(try verdict("GET /public HTTP/1.1\r\nHost: a.example\r\n\r\n") == pass)
        #expect(try verdict("GET /Secret HTTP/1.1\r\n\r\n") == pass) // paths are case-sensitive
        #expect(try verdict("GET / HTTP/1.1\r\nUser-Agent: x\r\nhost:BLOCKED.example:8080\r\n\r\n") == drop)
        #expect(try verdict("GET / HTTP/1.1\r\nHost: www.blocked.example\r\n\r\n") == pass)
        #expect(try verdict("GET / HTTP/1.1\r\nHost: blocked.example.org\r\n\r\n") == pass)
        #expect(try verdict("GET / HTTP/1.1\r\nHost: [fd00::1]:8000\r\n\r\n") == drop)
        #expect(try verdict("GET / HTTP/1.1\r\nHost: blocked.exam") == pass) // the name runs past the segment
        #expect(try verdict("HTTP/1.1 200 OK\r\nHost: blocked.example\r\n\r\n") == pass) // responses are not requests
        #expect(try verdict("xGET /secret HTTP/1.1\r\n\r\n") == pass)
        // Host past the inspected window (1024 bytes) is not seen.
        let padded = "GET / HTTP/1.1\r\nX-Pad: " + String(repeating: "p", count: 1100) + "\r\nHost: blocked.example\r\n\r\n"
        #expect(try verdict(padded) == pass)
        // A 64-byte entry matches longer targets; nothing beyond 64 bytes is compared.
        let long = "/" + String(repeating: "L", count: 63)
        try list.add(.path(long))
        #expect(try verdict("GET \(long)-and-more HTTP/1.1\r\n\r\n") == drop)

        let listing = try list.listing()
        #expect(listing.first { $0.entry == (try? HTTPBlockEntry.path("/secret")) }?.hits == 3)
        #expect(listing.first { $0.entry == (try? HTTPBlockEntry.host("blocked.example")) }?.hits == 1)
        // Changes apply to the next packet.
        #expect(try list.remove(.path("/secret")))
        #expect(try verdict(get) == pass)
        #expect(try list.listing().count == 3)
        #expect(list.match(path: "/" + String(repeating: "L", count: 70), host: nil) == (try HTTPBlockEntry.path(long)))
        #expect(list.match(path: "/x", host: "[FD00::1]:80") == (try HTTPBlockEntry.host("[fd00::1]")))
        #expect(list.match(path: "/x", host: "a.example") == nil)
        let stats = try PerCPUArrayMap<UInt64>(object.map(named: "block_stats"))
        #expect(try stats.sum(1) == 4 && stats.sum(2) == 2) // dropped by path, by host
    }
}

/// A small deterministic generator so the garbage is the same every run.
private struct SeededGenerator: RandomNumberGenerator {
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
