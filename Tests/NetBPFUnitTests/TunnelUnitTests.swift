import Foundation
import Glibc
import Testing
import CNetBPFProgramTypes
@testable import NetBPFControllers
import NetBPFTestSupport

/// The tunnel monitor's controller logic without BPF or root: layouts, addresses, rates and
/// deltas, the JSON files, the Prometheus text, the page, and the HTTP server on loopback.
@Suite(.serialized)
struct TunnelUnitTests {
    static func key(_ oa: String, _ ob: String, _ ia: String, _ ib: String, vni: UInt32, proto: UInt16 = 0x0800) -> TMKey {
        TMKey(outerA: TunnelAddress.parse(oa)!, outerB: TunnelAddress.parse(ob)!, innerA: TunnelAddress.parse(ia)!, innerB: TunnelAddress.parse(ib)!,
              vni: vni, innerProto: proto)
    }
    static let k1 = key("172.16.1.100", "172.16.1.101", "192.168.0.1", "192.168.0.2", vni: 10000)
    static let k2 = key("172.16.1.100", "172.16.1.102", "192.168.1.1", "192.168.1.3", vni: 10001)

    @Test func layoutsMatchTheCHeader() {
        // programs/include/tunnel_monitor.h: tm_key 72, tm_counters 64, tm_flood_key 24,
        // tm_flood_counters 32, tm_stats 80 (10 slots), tm_config 8; the public types hold the
        // imported structs and nothing else.
        #expect(MemoryLayout<TMKey>.size == 72 && MemoryLayout<TMKey>.size == MemoryLayout<tm_key>.size)
        #expect(MemoryLayout<TMCounters>.size == 64 && MemoryLayout<TMCounters>.size == MemoryLayout<tm_counters>.size)
        #expect(MemoryLayout<TMFloodKey>.size == 24 && MemoryLayout<TMFloodKey>.size == MemoryLayout<tm_flood_key>.size)
        #expect(MemoryLayout<TMFloodCounters>.size == 32 && MemoryLayout<TMFloodCounters>.size == MemoryLayout<tm_flood_counters>.size)
        #expect(MemoryLayout<TMStats>.size == 80 && MemoryLayout<TMStats>.size == MemoryLayout<tm_stats>.size)
        #expect(MemoryLayout<tm_config>.size == 8)
        // TMStat and TMCell name the slots of the C enums, in order.
        let stats: [(TMStat, tm_stat)] = [
            (.seen, TM_STAT_SEEN), (.notVXLAN, TM_STAT_NOT_VXLAN), (.counted, TM_STAT_COUNTED), (.flooded, TM_STAT_FLOODED),
            (.outerFragment, TM_STAT_OUTER_FRAGMENT), (.outerTruncated, TM_ERR_OUTER_TRUNCATED), (.vxlanTruncated, TM_ERR_VXLAN_TRUNCATED),
            (.vxlanFlags, TM_ERR_VXLAN_FLAGS), (.innerTruncated, TM_ERR_INNER_TRUNCATED), (.tableFull, TM_ERR_TABLE_FULL),
        ]
        #expect(stats.map(\.0) == TMStat.allCases && TMStat.allCases.count == Int(TM_STAT_COUNT.rawValue))
        for (s, c) in stats { #expect(s.rawValue == Int(c.rawValue), "\(s.name)") }
        let cells: [(TMCell, tm_cell)] = [(.egressAToB, TM_EGRESS_A_TO_B), (.egressBToA, TM_EGRESS_B_TO_A),
                                          (.ingressAToB, TM_INGRESS_A_TO_B), (.ingressBToA, TM_INGRESS_B_TO_A)]
        #expect(cells.map(\.0) == TMCell.allCases && TMCell.allCases.count == Int(TM_CELLS.rawValue))
        for (cell, c) in cells { #expect(cell.rawValue == Int(c.rawValue), "\(cell)") }
        // The ports are stored in network byte order.
        let config = tm_config(ports: [4789, 8472])
        withUnsafeBytes(of: config) { #expect(Array($0) == [0x12, 0xb5, 0x21, 0x18, 0, 0, 0, 0]) }
    }

    @Test func keysHoldAddressesVNIAndProtocol() {
        let k = Self.k1
        #expect(k.vni == 10000 && k.innerProto == 0x0800)
        let n = TunnelKeyNames(k)
        #expect(n.outerA == "172.16.1.100" && n.outerB == "172.16.1.101" && n.innerA == "192.168.0.1" && n.innerB == "192.168.0.2" && n.innerProto == "ipv4")
        let v6 = Self.key("fd00::1", "fd00::2", "fe80::1", "2001:db8::10", vni: 5, proto: 0x86dd)
        #expect(TunnelKeyNames(v6).outerB == "fd00::2" && TunnelKeyNames(v6).innerB == "2001:db8::10")
        #expect(TunnelAddress.text([UInt8](repeating: 0, count: 16)) == "-")
        #expect(TunnelAddress.protoName(0x0806) == "arp" && TunnelAddress.protoName(0x88cc) == "0x88cc")
        #expect(k.outerA == TunnelAddress.mapped([172, 16, 1, 100]))
        // Stored in network order in the key's bytes, vni little-endian at 64, proto at 68.
        withUnsafeBytes(of: k) { raw in
            #expect(Array(raw[10..<16]) == [0xff, 0xff, 172, 16, 1, 100])
            #expect(raw.load(fromByteOffset: 64, as: UInt32.self) == 10000)
            #expect(raw.load(fromByteOffset: 68, as: UInt16.self) == 0x0800)
        }
    }

    @Test func samplerComputesDeltasRatesVNITotalsAndHistory() throws {
        let src = InMemoryTunnelSource()
        let sampler = TunnelSampler(interface: "eth0", namespace: "h0", ports: [4789], capacity: src.capacity, historyLength: 3, started: 998)
        src.now = 1000
        src.add(Self.k1, .egressAToB, packets: 4, bytes: 4 * 604)
        src.add(Self.k1, .ingressBToA, packets: 4, bytes: 4 * 604)
        let s1 = sampler.sample(try src.read(), wallTime: 1_700_000_000)
        #expect(s1.elapsed == 2)
        #expect(s1.deltas[Self.k1]?.txPackets == 4)
        #expect(s1.rate(Self.k1) == Double(8 * 604 * 8) / 2)
        src.now = 1004
        src.add(Self.k2, .egressAToB, packets: 10, bytes: 10_000)
        let s2 = sampler.sample(try src.read(), wallTime: 1_700_000_004)
        #expect(s2.elapsed == 4)
        #expect(s2.deltas[Self.k1] == nil && s2.deltas[Self.k2]?.txBytes == 10_000)
        #expect(s2.vnis.map { $0.vni } == [10000, 10001])
        #expect(s2.vnis[1].txBitsPerSecond == 10_000 * 8 / 4)
        #expect(s2.vnis[0].txBitsPerSecond == 0 && s2.vnis[0].txPackets == 4 && s2.vnis[0].rxBytes == 4 * 604)
        #expect(s2.totals.conversations == 2 && s2.totals.txPackets == 14)
        // The busiest now first, then by bytes.
        #expect(s2.ranked() == [Self.k2, Self.k1])
        #expect(s2.ranked(limit: 1) == [Self.k2])

        let snap = s2.snapshot()
        #expect(snap.kind == "snapshot" && snap.conversationCount == 2 && snap.includedConversations == 2)
        let c1 = try #require(snap.conversations.first { $0.vni == 10000 })
        #expect(c1.txPackets == 4 && c1.rxPackets == 4 && c1.aToBBytes == 2416 && c1.bToABytes == 2416)
        #expect(c1.cells.egressAToB == TunnelCounter(packets: 4, bytes: 2416) && c1.cells.ingressAToB == TunnelCounter(packets: 0, bytes: 0))
        let d = s2.delta()
        #expect(d.kind == "delta" && d.conversations.count == 1 && d.conversations[0].vni == 10001 && d.conversations[0].txBytes == 10_000)
        #expect(d.totals.txPackets == 10 && d.frames.counted == 10)
        for t in [1008.0, 1012.0, 1016.0] { src.now = t; _ = sampler.sample(try src.read(), wallTime: t) }
        #expect(sampler.sample(try src.read(), wallTime: 2000).history.count == 3)
    }

    @Test func aCounterThatWentBackwardsCountsFromZero() throws {
        let src = InMemoryTunnelSource()
        let sampler = TunnelSampler(interface: "eth0", namespace: nil, ports: [4789], capacity: 10, started: 999)
        src.add(Self.k1, .egressAToB, packets: 10, bytes: 1000)
        _ = sampler.sample(try src.read())
        src.conversations[Self.k1] = nil
        src.add(Self.k1, .egressAToB, packets: 2, bytes: 200) // entry deleted and re-created
        src.now += 1
        #expect(sampler.sample(try src.read()).deltas[Self.k1]?.txPackets == 2)
    }

    @Test func snapshotJSONRoundTripsWithSnakeCaseKeys() throws {
        let src = InMemoryTunnelSource()
        src.add(Self.k1, .egressAToB, packets: 1, bytes: 604)
        src.floods[TMFloodKey(group: [239, 1, 1, 1], vni: 10000)] = TMFloodCounters(txPackets: 2, rxPackets: 0, txBytes: 184, rxBytes: 0)
        src.stats[.vxlanFlags] = 3
        let sampler = TunnelSampler(interface: "eth0", namespace: "h0", ports: [4789, 8472], capacity: 64)
        let snap = sampler.sample(try src.read()).snapshot()
        let data = try snap.json()
        let text = String(decoding: data, as: UTF8.self)
        for key in ["\"outer_a\":\"172.16.1.100\"", "\"a_to_b_packets\":1", "\"egress_a_to_b\":{\"bytes\":604,\"packets\":1}", "\"vxlan_flags\":3",
                    "\"not_vxlan\":0", "\"tx_bits_per_second\":", "\"group\":\"239.1.1.1\"", "\"ports\":[4789,8472]", "\"iso_time\":\""] {
            #expect(text.contains(key), "missing \(key) in \(text)")
        }
        let back = try TunnelSnapshot.decoder.decode(TunnelSnapshot.self, from: data)
        #expect(back.conversations == snap.conversations && back.errors == snap.errors && back.floods == snap.floods)
    }

    // MARK: Prometheus

    @Test func prometheusTextIsExact() throws {
        let src = InMemoryTunnelSource()
        src.add(Self.k1, .egressAToB, packets: 4, bytes: 2416)
        src.add(Self.k1, .ingressBToA, packets: 4, bytes: 2416)
        src.floods[TMFloodKey(group: [239, 1, 1, 1], vni: 10000)] = TMFloodCounters(txPackets: 1, rxPackets: 2, txBytes: 92, rxBytes: 184)
        src.stats[.notVXLAN] = 7
        let sampler = TunnelSampler(interface: "eth0", namespace: "h0", ports: [4789], capacity: 65536)
        var reading = try src.read()
        reading.readSeconds = 0.00025
        let text = TunnelPrometheus.render(sampler.sample(reading))
        let expected = """
        # HELP netbpf_tunnel_monitor_info The interface the tunnel monitor is attached to (value 1).
        # TYPE netbpf_tunnel_monitor_info gauge
        netbpf_tunnel_monitor_info{interface="eth0",netns="h0",ports="4789"} 1
        # HELP netbpf_tunnel_conversation_packets_total VXLAN frames of a conversation from outer_src/inner_src to outer_dst/inner_dst; direction tx = sent out of the interface (egress), rx = received (ingress).
        # TYPE netbpf_tunnel_conversation_packets_total counter
        netbpf_tunnel_conversation_packets_total{vni="10000",outer_src="172.16.1.100",outer_dst="172.16.1.101",inner_src="192.168.0.1",inner_dst="192.168.0.2",inner_proto="ipv4",direction="tx"} 4
        netbpf_tunnel_conversation_packets_total{vni="10000",outer_src="172.16.1.101",outer_dst="172.16.1.100",inner_src="192.168.0.2",inner_dst="192.168.0.1",inner_proto="ipv4",direction="rx"} 4
        # HELP netbpf_tunnel_conversation_bytes_total Bytes of those frames from the outer Ethernet header on (skb->len at tc).
        # TYPE netbpf_tunnel_conversation_bytes_total counter
        netbpf_tunnel_conversation_bytes_total{vni="10000",outer_src="172.16.1.100",outer_dst="172.16.1.101",inner_src="192.168.0.1",inner_dst="192.168.0.2",inner_proto="ipv4",direction="tx"} 2416
        netbpf_tunnel_conversation_bytes_total{vni="10000",outer_src="172.16.1.101",outer_dst="172.16.1.100",inner_src="192.168.0.2",inner_dst="192.168.0.1",inner_proto="ipv4",direction="rx"} 2416
        # HELP netbpf_tunnel_vni_packets_total VXLAN frames of all conversations of a VNI.
        # TYPE netbpf_tunnel_vni_packets_total counter
        netbpf_tunnel_vni_packets_total{vni="10000",direction="rx"} 4
        netbpf_tunnel_vni_packets_total{vni="10000",direction="tx"} 4
        # HELP netbpf_tunnel_vni_bytes_total Bytes of all conversations of a VNI.
        # TYPE netbpf_tunnel_vni_bytes_total counter
        netbpf_tunnel_vni_bytes_total{vni="10000",direction="rx"} 2416
        netbpf_tunnel_vni_bytes_total{vni="10000",direction="tx"} 2416
        # HELP netbpf_tunnel_vni_conversations Conversations of a VNI in the monitor's table.
        # TYPE netbpf_tunnel_vni_conversations gauge
        netbpf_tunnel_vni_conversations{vni="10000"} 1
        # HELP netbpf_tunnel_flooded_packets_total VXLAN frames to a multicast or broadcast outer destination (not in any conversation).
        # TYPE netbpf_tunnel_flooded_packets_total counter
        netbpf_tunnel_flooded_packets_total{vni="10000",group="239.1.1.1",direction="rx"} 2
        netbpf_tunnel_flooded_packets_total{vni="10000",group="239.1.1.1",direction="tx"} 1
        # HELP netbpf_tunnel_flooded_bytes_total Bytes of flooded VXLAN frames.
        # TYPE netbpf_tunnel_flooded_bytes_total counter
        netbpf_tunnel_flooded_bytes_total{vni="10000",group="239.1.1.1",direction="rx"} 184
        netbpf_tunnel_flooded_bytes_total{vni="10000",group="239.1.1.1",direction="tx"} 92
        # HELP netbpf_tunnel_frames_total Frames the monitor's programs ran on, by what became of them.
        # TYPE netbpf_tunnel_frames_total counter
        netbpf_tunnel_frames_total{result="seen"} 8
        netbpf_tunnel_frames_total{result="not_vxlan"} 7
        netbpf_tunnel_frames_total{result="counted"} 8
        netbpf_tunnel_frames_total{result="flooded"} 0
        netbpf_tunnel_frames_total{result="outer_fragment"} 0
        # HELP netbpf_tunnel_errors_total Frames that looked like VXLAN and were not counted, by reason.
        # TYPE netbpf_tunnel_errors_total counter
        netbpf_tunnel_errors_total{reason="outer_truncated"} 0
        netbpf_tunnel_errors_total{reason="vxlan_truncated"} 0
        netbpf_tunnel_errors_total{reason="vxlan_flags"} 0
        netbpf_tunnel_errors_total{reason="inner_truncated"} 0
        netbpf_tunnel_errors_total{reason="table_full"} 0
        # HELP netbpf_tunnel_conversations Conversations in the monitor's table.
        # TYPE netbpf_tunnel_conversations gauge
        netbpf_tunnel_conversations 1
        # HELP netbpf_tunnel_conversations_capacity Size of the monitor's conversation table (max_entries).
        # TYPE netbpf_tunnel_conversations_capacity gauge
        netbpf_tunnel_conversations_capacity 65536
        # HELP netbpf_tunnel_conversations_unexported Conversations left out of the per-conversation series (limit reached).
        # TYPE netbpf_tunnel_conversations_unexported gauge
        netbpf_tunnel_conversations_unexported 0
        # HELP netbpf_tunnel_read_seconds Seconds the last read of the BPF maps took.
        # TYPE netbpf_tunnel_read_seconds gauge
        netbpf_tunnel_read_seconds 0.00025

        """
        #expect(text == expected)
    }

    /// Every line of a big exposition parses as the text format says; no series twice.
    @Test func prometheusTextIsWellFormedForManyConversations() throws {
        let src = InMemoryTunnelSource()
        for i in 0..<500 {
            let k = TMKey(outerA: [10, 0, UInt8(i / 250), UInt8(i % 250)], outerB: [10, 1, 0, 1], innerA: [192, 168, 0, UInt8(i % 200)], innerB: [192, 168, 9, 9],
                          vni: UInt32(i % 7), innerProto: i % 3 == 0 ? 0x0806 : 0x0800)
            for cell in TMCell.allCases where (i + cell.rawValue) % 2 == 0 { src.add(k, cell, packets: UInt64(i + 1), bytes: UInt64(i * 100 + 60)) }
        }
        let sampler = TunnelSampler(interface: "eth\"0\\", namespace: "n\ns", ports: [4789], capacity: 65536)
        let text = TunnelPrometheus.render(sampler.sample(try src.read()), maxConversations: 400)
        #expect(text.hasSuffix("\n"))
        #expect(text.contains("netbpf_tunnel_monitor_info{interface=\"eth\\\"0\\\\\",netns=\"n\\ns\",ports=\"4789\"} 1"))
        let sample = try Regex(#"^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\[\\"n])*",?)*\})? [-+0-9.eEInfa]+$"#)
        var seen = Set<String>(), families = [String: Int]()
        for line in text.split(separator: "\n", omittingEmptySubsequences: false).dropLast() {
            if line.hasPrefix("# TYPE ") { families[String(line.split(separator: " ")[2]), default: 0] += 1; continue }
            if line.hasPrefix("# HELP ") { continue }
            #expect(line.wholeMatch(of: sample) != nil, "bad line: \(line)")
            let series = String(line[..<line.lastIndex(of: " ")!])
            #expect(!seen.contains(series), "duplicate series \(series)")
            seen.insert(series)
        }
        #expect(families.values.allSatisfy { $0 == 1 })
        #expect(text.contains("netbpf_tunnel_conversations_unexported 100\n"))
    }

    // MARK: page

    @Test func pageAndReportAreSelfContainedAndScriptSafe() throws {
        let src = InMemoryTunnelSource()
        src.add(Self.k1, .egressAToB, packets: 1, bytes: 604)
        let sampler = TunnelSampler(interface: "eth0</script><script>alert(1)</script>", namespace: nil, ports: [4789], capacity: 64)
        let snap = sampler.sample(try src.read()).snapshot()
        for page in [TunnelWebPage.live(snapshot: snap, intervalSeconds: 1), TunnelWebPage.report(snapshot: snap, source: "x</script>.json")] {
            #expect(page.components(separatedBy: "</script>").count == 3, "only the two real </script> tags")
            #expect(!page.contains("src=\"http") && !page.contains("href=\"http") && !page.contains("<link") && !page.contains("@import"))
            #expect(page.contains("\"outer_a\":\"172.16.1.100\""))
        }
        #expect(TunnelWebPage.live(snapshot: nil, intervalSeconds: 1).contains(">null</script>"))
    }

    // MARK: HTTP server

    @Test func listenAddressesParse() throws {
        #expect(try HTTPServer.parseListen("127.0.0.1:8080") == ("127.0.0.1", 8080))
        #expect(try HTTPServer.parseListen(":9") == ("0.0.0.0", 9))
        #expect(try HTTPServer.parseListen("[::1]:80") == ("::1", 80))
        for bad in ["localhost:80", "127.0.0.1", "1.2.3.4:99999", "::1:80", "[::1]80", ""] {
            #expect(throws: ControllerError.self, "\(bad)") { _ = try HTTPServer.parseListen(bad) }
        }
    }

    @Test func requestHeadsParseStrictly() {
        #expect(HTTPServer.parse(Array("GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\nX-Y:  z ".utf8))?.query == "x=1")
        #expect(HTTPServer.parse(Array("GET /a HTTP/1.0".utf8))?.path == "/a")
        for bad in ["GET /a", "get /a HTTP/1.1", "GET a HTTP/1.1", "GET /a HTTP/2", "GET  /a HTTP/1.1", "GET /a HTTP/1.1\r\nno colon", "\u{0}\u{1}"] {
            #expect(HTTPServer.parse(Array(bad.utf8)) == nil, "\(bad)")
        }
    }

    /// A session over the in-memory source with the web server on loopback: every endpoint,
    /// misbehaving clients, streams, and stop() with clients still connected.
    @Test(.timeLimit(.minutes(2)))
    func sessionServesEndpointsAndSurvivesBadClients() throws {
        let src = InMemoryTunnelSource()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nbtm-unit-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var options = TunnelMonitorOptions(interface: "eth0")
        options.web = "127.0.0.1:0"
        options.jsonDirectory = dir
        options.interval = 0.2
        let session = try TunnelMonitorSession(source: src, options: options)
        defer { session.stop() }
        let port = try #require(session.server?.port)

        #expect(try HTTPProbe.get(port: port, "/metrics").status == 503) // no sample yet
        let empty = try HTTPProbe.get(port: port, "/")
        #expect(empty.status == 200 && empty.text.contains(">null</script>"))

        src.add(Self.k1, .egressAToB, packets: 3, bytes: 1812)
        try session.tick()
        let snapFile = try TunnelSnapshot.load(path: dir + "/snapshot.json")
        #expect(snapFile.conversations.first?.txPackets == 3)
        #expect(try TunnelSnapshot.load(path: dir + "/delta.json").conversations.count == 1)

        let page = try HTTPProbe.get(port: port, "/")
        #expect(page.status == 200 && page.headers["content-type"] == "text/html; charset=utf-8" && page.text.contains("\"inner_b\":\"192.168.0.2\""))
        let head = try HTTPProbe.get(port: port, "/", method: "HEAD")
        #expect(head.status == 200 && head.body.isEmpty && Int(head.headers["content-length"] ?? "") == page.body.count)
        let api = try HTTPProbe.get(port: port, "/api/snapshot")
        #expect(api.headers["content-type"] == "application/json")
        #expect(try TunnelSnapshot.decoder.decode(TunnelSnapshot.self, from: api.body).conversations.count == 1)
        #expect(try HTTPProbe.get(port: port, "/metrics").text.contains("direction=\"tx\"} 3\n"))
        #expect(try HTTPProbe.exchange(port: port, raw: Array("\u{16}\u{3}\u{1}\u{2}\u{0}\u{1}\r\n\r\n".utf8)).status == 400) // a TLS hello
        #expect(try HTTPProbe.exchange(port: port, raw: [UInt8](repeating: 0x20, count: 40_000)).status == 431)
        #expect(try HTTPProbe.exchange(port: port, raw: Array("DELETE / HTTP/1.1\r\n\r\n".utf8)).status == 405)

        // A stream gets the current sample at once and each new one after it.
        let s = try HTTPProbe.connect(port: port)
        _ = HTTPProbe.send(s, Array("GET /events HTTP/1.1\r\n\r\n".utf8))
        func readEvents(_ fd: Int32, count: Int) -> [String] {
            var text = "\n" // so an event at the very start also follows a line end
            var buf = [UInt8](repeating: 0, count: 65536)
            while text.components(separatedBy: "\ndata: ").count - 1 < count {
                let n = recv(fd, &buf, buf.count, 0)
                if n <= 0 { break }
                text += String(decoding: buf[0..<n], as: UTF8.self)
            }
            return text.components(separatedBy: "\ndata: ").dropFirst().map { String($0.prefix { $0 != "\n" }) }
        }
        #expect(readEvents(s, count: 1).count == 1)
        src.add(Self.k2, .ingressAToB, packets: 1, bytes: 100)
        src.now += 0.2
        try session.tick()
        let second = readEvents(s, count: 1)
        #expect(second.count == 1 && second[0].contains("\"vni\":10001"))
        close(s) // gone mid-stream

        // Many streams dropped at once, and a never-reading client; the server stays up.
        for _ in 0..<30 {
            let fd = try HTTPProbe.connect(port: port)
            _ = HTTPProbe.send(fd, Array("GET /events HTTP/1.1\r\n\r\n".utf8))
            close(fd)
        }
        let silent = try HTTPProbe.connect(port: port)
        for _ in 0..<5 { src.now += 0.2; try session.tick() }
        #expect(try HTTPProbe.get(port: port, "/healthz").status == 200)
        let server = try #require(session.server)
        #expect(server.badRequests >= 2)

        // stop() returns promptly with a stream and a silent client still open.
        let open = try HTTPProbe.connect(port: port)
        _ = HTTPProbe.send(open, Array("GET /events HTTP/1.1\r\n\r\n".utf8))
        usleep(100_000)
        let t0 = Date()
        session.stop()
        #expect(Date().timeIntervalSince(t0) < 3)
        // The open stream got its headers and the current sample, then the server closed it:
        // readAll ended at end-of-file (a later recv reads 0), not at the receive timeout.
        let streamed = String(decoding: HTTPProbe.readAll(open), as: UTF8.self)
        #expect(streamed.hasPrefix("HTTP/1.1 200") && streamed.contains("text/event-stream"), "\(streamed.prefix(200))")
        #expect(streamed.contains("\ndata: {"), "\(streamed.prefix(400))")
        var byte: UInt8 = 0
        #expect(recv(open, &byte, 1, Int32(MSG_DONTWAIT)) == 0, "the server did not close the stream")
        close(open); close(silent)
        #expect(throws: (any Error).self) { try HTTPProbe.connect(port: port, timeout: 1) }
    }

    @Test func connectionsPastTheLimitGet503() throws {
        let server = try HTTPServer(listen: "127.0.0.1:0", maxConnections: 4) { _ in .body(status: 200, contentType: "text/plain", Data("ok".utf8)) }
        server.start()
        defer { server.stop() }
        var idle: [Int32] = []
        for _ in 0..<4 { idle.append(try HTTPProbe.connect(port: server.port)) }
        usleep(200_000)
        #expect(try HTTPProbe.get(port: server.port, "/").status == 503)
        for fd in idle { close(fd) }
        usleep(200_000)
        #expect(try HTTPProbe.get(port: server.port, "/").status == 200)
        #expect(server.rejected >= 1)
    }

    @Test func jsonFilesAreReplacedAtomically() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nbtm-atomic-\(getpid())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/snapshot.json"
        // A reader running while the file is rewritten always sees one whole version.
        let stop = Atomic(false)
        let reader = Thread {
            while !stop.value {
                if let d = FileManager.default.contents(atPath: path), !d.isEmpty {
                    let s = String(decoding: d, as: UTF8.self)
                    if !(s.hasPrefix("[") && s.hasSuffix("]")) { stop.failed = true }
                }
            }
        }
        reader.start()
        for i in 0..<300 {
            try TunnelMonitorSession.writeAtomically(Data(("[" + String(repeating: "\(i % 10)", count: 50_000 + i) + "]").utf8), to: path)
        }
        stop.value = true
        usleep(50_000)
        #expect(!stop.failed)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["snapshot.json"])
    }

    final class Atomic: @unchecked Sendable {
        private let lock = NSLock()
        private var v: Bool
        private var f = false
        init(_ v: Bool) { self.v = v }
        var value: Bool {
            get { lock.lock(); defer { lock.unlock() }; return v }
            set { lock.lock(); v = newValue; lock.unlock() }
        }
        var failed: Bool {
            get { lock.lock(); defer { lock.unlock() }; return f }
            set { lock.lock(); f = newValue; lock.unlock() }
        }
    }
}

extension TunnelUnitTests {
    /// The hand-written conversation JSON is byte for byte what JSONEncoder writes.
    @Test func fastJSONMatchesJSONEncoder() throws {
        let src = InMemoryTunnelSource()
        for i in 0..<50 {
            let k = TMKey(outerA: [10, 0, 0, UInt8(i)], outerB: [0xfd] + Array(repeating: 0, count: 14) + [UInt8(i)], innerA: i % 5 == 0 ? [] : [192, 168, 0, 1],
                          innerB: [192, 168, 0, 2], vni: UInt32(i * 1000), innerProto: i % 5 == 0 ? 0x88cc : 0x0800)
            src.add(k, TMCell(rawValue: i % 4)!, packets: UInt64(i * 3 + 1), bytes: UInt64(i) * 1_000_003 + 7)
        }
        let sampler = TunnelSampler(interface: "e\"th\\0\n", namespace: "ns", ports: [4789], capacity: 64, started: 999.7)
        src.now = 1000.0
        let snap = sampler.sample(try src.read(), wallTime: 1_700_000_000.123).snapshot()
        #expect(try snap.json() == TunnelSnapshot.encoder.encode(snap))
        #expect(try TunnelSnapshot.decoder.decode(TunnelSnapshot.self, from: snap.json()).conversations == snap.conversations)
    }
}
