import Foundation
import Glibc
import Testing
import NetBPF
@testable import NetBPFControllers
import NetBPFNetlink
import NetBPFTestSupport

/// The HTTP filter end to end: python3's http.server in one namespace, curl in the other, the
/// filter (and blocker) on the server side's veth. Each test builds and removes its own lab.
@Suite(.serialized, .enabled(if: geteuid() == 0, "requires root: namespaces, packet sockets, tc"),
       .enabled(if: FileManager.default.isExecutableFile(atPath: HTTPLab.python), "requires /usr/bin/python3 (Debian's python3) for http.server"))
struct HTTPFilterKernelTests {

    @Test func knownRequestsGiveExactLines() throws {
        try HTTPLab.with { lab in
            let run = try lab.filter(lab.serverOptions())
            #expect(try lab.curl("http://10.0.0.1:8000/").code == "200")
            #expect(try lab.curl("http://10.0.0.1:8000/a/b?q=1").code == "200")
            #expect(try lab.curl("http://10.0.0.1:8000/", ["-I"]).code == "200")
            #expect(try lab.curl("http://10.0.0.1:8000/missing").code == "404")
            #expect(try lab.curl("http://[fd00::1]:8000/v6").code == "404")
            let events = run.wait(for: 10)
            try run.stop()
            #expect(events.map(shape) == [
                "request  10.0.0.2:* -> 10.0.0.1:8000 GET 10.0.0.1:8000 / HTTP/1.1",
                "response 10.0.0.2:* -> 10.0.0.1:8000 GET 10.0.0.1:8000 / 200 OK",
                "request  10.0.0.2:* -> 10.0.0.1:8000 GET 10.0.0.1:8000 /a/b?q=1 HTTP/1.1",
                "response 10.0.0.2:* -> 10.0.0.1:8000 GET 10.0.0.1:8000 /a/b?q=1 200 OK",
                "request  10.0.0.2:* -> 10.0.0.1:8000 HEAD 10.0.0.1:8000 / HTTP/1.1",
                "response 10.0.0.2:* -> 10.0.0.1:8000 HEAD 10.0.0.1:8000 / 200 OK",
                "request  10.0.0.2:* -> 10.0.0.1:8000 GET 10.0.0.1:8000 /missing HTTP/1.1",
                "response 10.0.0.2:* -> 10.0.0.1:8000 GET 10.0.0.1:8000 /missing 404 File not found",
                "request  [fd00::2]:* -> [fd00::1]:8000 GET [fd00::1]:8000 /v6 HTTP/1.1",
                "response [fd00::2]:* -> [fd00::1]:8000 GET [fd00::1]:8000 /v6 404 File not found",
            ])
            for case .response(let r) in events { #expect((r.latency ?? -1) > 0, "no latency on \(shape(.response(r)))") }
            let c = run.filter.counters
            #expect(c.requests == 5 && c.responses == 5 && c.duplicates == 0 && c.parseErrors == 0)
            let k = try run.filter.kernelStats()
            #expect(k.requestSegments == 5 && k.responseSegments == 5 && k.continuationSegments == 0)
        }
    }

    @Test func longRequestLineSplitOverSegmentsIsReassembledOnce() throws {
        try HTTPLab.with { lab in
            try lab.server.setMTU(.name(lab.serverInterface), 576)
            try lab.client.setMTU(.name(lab.clientInterface), 576)
            try lab.segmentationOff(lab.clientInterface, in: lab.clientNS)
            let run = try lab.filter(lab.serverOptions())
            let path = "/" + String(repeating: "0123456789", count: 300) // 3001 bytes
            #expect(try lab.curl("http://10.0.0.1:8000" + path).code == "404")
            let events = run.wait(for: 2)
            try run.stop()
            #expect(events.map(shape) == [
                "request  10.0.0.2:* -> 10.0.0.1:8000 GET 10.0.0.1:8000 \(path) HTTP/1.1",
                "response 10.0.0.2:* -> 10.0.0.1:8000 GET 10.0.0.1:8000 \(path) 404 File not found",
            ])
            guard case .request(let q)? = events.first else { Issue.record("no request event: \(events.map(shape))"); return }
            // MSS 536: the 3015-byte line took at least 6 segments, all of them kept.
            #expect(q.segments >= 6, "reassembled from \(q.segments) segments")
            let k = try run.filter.kernelStats()
            #expect(k.sessionsOpened == 1 && k.sessionsEnded == 1 && k.continuationSegments >= 5)
            #expect(try run.filter.openSessions() == 0)
            #expect(run.filter.counters.requests == 1)
        }
    }

    @Test func overlongRequestLineIsReportedOnceAndItsResponseMatched() throws {
        try HTTPLab.with { lab in
            try lab.server.setMTU(.name(lab.serverInterface), 576)
            try lab.client.setMTU(.name(lab.clientInterface), 576)
            try lab.segmentationOff(lab.clientInterface, in: lab.clientNS)
            var options = lab.serverOptions()
            options.reassembler.idleTimeout = 0.5
            let run = try lab.filter(options)
            let path = "/" + String(repeating: "z", count: 9000)
            _ = try lab.curl("http://10.0.0.1:8000" + path)
            let events = run.wait(for: 2)
            // A line that never ends: user space gives up on it once idle and deletes its BPF session.
            try NetlinkLab.exec(lab.clientNS, ["sh", "-c", "(printf 'GET /never-ends'; sleep 2) | nc -w 3 10.0.0.1 8000"])
            usleep(1_200_000)
            #expect(try run.filter.openSessions() == 0)
            #expect(run.filter.counters.expired >= 1)
            // A session user space never heard of is swept by its age.
            var value = [UInt8](repeating: 0, count: 16)
            value[0] = 1 // last_ns: long ago
            try run.filter.sessions.update(key: HTTPFilter.sessionKey(HTTPFlowKey(source: HTTPEndpoint(address: [10, 9, 9, 9], port: 1),
                                                                                  destination: HTTPEndpoint(address: [10, 0, 0, 1], port: 8000))), value: value)
            #expect(try run.filter.sweepStaleSessions() == 1)
            #expect(try run.filter.openSessions() == 0)
            try run.stop()
            // Reported once, when it passed 8192 bytes; the 404 answers it.
            let prefix = "/" + String(repeating: "z", count: 63)
            #expect(events.count == 2)
            guard case .tooLong(let t)? = events.first else { Issue.record("no too-long event: \(events.map(shape))"); return }
            #expect(shape(.tooLong(t)) == "too-long 10.0.0.2:* -> 10.0.0.1:8000 GET - \(prefix)... (line over 8192 bytes, \(t.bytesSeen) seen)")
            #expect(t.bytesSeen > 8192 && t.bytesSeen < 9000)
            #expect(events.dropFirst().map(shape) == ["response 10.0.0.2:* -> 10.0.0.1:8000 GET - \(prefix)... 404 File not found"])
            let k = try run.filter.kernelStats()
            #expect(k.sessionsCapped == 1)
            #expect(run.filter.counters.tooLong == 1 && run.filter.counters.requests == 0)
        }
    }

    @Test func pingUDPAndTLSLikeTrafficGiveNothing() throws {
        try HTTPLab.with(serve: false) { lab in
            let listener = try lab.spawnBackground(["/usr/sbin/ip", "netns", "exec", lab.serverNS, "nc", "-l", "10.0.0.1", "8443"])
            lab.children.append(listener)
            let run = try lab.filter(lab.serverOptions())
            #expect(try NetlinkLab.ping(from: lab.clientNS, "10.0.0.1", count: 3))
            // UDP datagrams whose payload is an HTTP request line.
            try NetlinkLab.exec(lab.clientNS, ["sh", "-c", "printf 'GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n' | nc -u -w 1 10.0.0.1 8000"])
            // A TLS ClientHello-like record and random bytes to a TCP port.
            let file = lab.webRoot + "/tls.bin"
            var hello: [UInt8] = [0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]
            hello += (0..<20_000).map { _ in UInt8.random(in: 0...255) }
            try Data(hello).write(to: URL(fileURLWithPath: file))
            let sent = try NetlinkLab.exec(lab.clientNS, ["sh", "-c", "nc -N -w 2 10.0.0.1 8443 < \(file)"])
            #expect(sent.status == 0, "nc: \(sent.stderr)")
            usleep(300_000)
            let events = try run.stop()
            #expect(events.isEmpty, "\(events.map(HTTPEventFormat.text))")
            #expect(run.filter.counters.frames == 0)
            #expect(try run.filter.kernelStats() == HTTPFilterStats())
        }
    }

    @Test func blockedRequestsGetNoResponseAndTheListChangesLive() throws {
        try HTTPLab.with { lab in
            let run = try lab.filter(lab.serverOptions(blocking: [try .path("/secret"), try .host("blocked.example")]))
            let pin = try #require(run.filter.blockListPin)
            #expect(pin == "\(Pinning.root)/\(lab.serverNS)/\(lab.serverInterface)/ingress/http_block/maps/block_list")
            let attached = try withNamespace(lab.serverNS) { try TCXAttachments.query(ifindex: NetlinkSocket().interfaceIndex(.name(lab.serverInterface)), direction: .ingress) }
            #expect(attached.programIDs.count == 1)

            #expect(try lab.curl("http://10.0.0.1:8000/secret", timeout: 2).status == 28) // timed out
            #expect(try lab.curl("http://10.0.0.1:8000/").code == "200")
            #expect(try lab.curl("http://10.0.0.1:8000/a/b").code == "200")
            #expect(try lab.curl("http://10.0.0.1:8000/", timeout: 2, ["-H", "Host: Blocked.EXAMPLE:80"]).status == 28)

            // The list changed while running, through the pinned map, by the CLI.
            let target = ["-i", lab.serverInterface, "--netns", lab.serverNS]
            let add = try netbpf(["http-filter", "block", "add", "--path", "/a"] + target)
            #expect(add.status == 0, "\(add.stderr)")
            #expect(try lab.curl("http://10.0.0.1:8000/a/b", timeout: 2).status == 28)
            let del = try netbpf(["http-filter", "block", "del", "--path", "/secret"] + target)
            #expect(del.status == 0, "\(del.stderr)")
            #expect(try lab.curl("http://10.0.0.1:8000/secret").code == "200")
            let list = try netbpf(["http-filter", "block", "list", "--json"] + target)
            let rows = try #require(try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]])
            #expect(rows.map { "\($0["kind"]!) \($0["value"]!)" } == ["host blocked.example", "path /a"])
            #expect(rows.allSatisfy { ($0["hits"] as? Int ?? 0) >= 1 })
            let elsewhere = try netbpf(["http-filter", "block", "list", "-i", "lo", "--netns", lab.serverNS])
            #expect(elsewhere.status == 1 && elsewhere.stderr.contains("no HTTP blocking program is attached on lo in netns \(lab.serverNS)"))
            let missing = try netbpf(["http-filter", "block", "del", "--path", "/nope"] + target)
            #expect(missing.status == 1 && missing.stderr.contains("path /nope is not in the block list"))

            let events = try run.stop()
            let requests = events.compactMap { e -> HTTPRequest? in if case .request(let r) = e { return r }; return nil }
            // Each blocked request was seen once (its retransmissions are duplicates) and marked.
            #expect(requests.map { "\($0.path) \($0.isBlocked == true ? "blocked" : "passed")" } == [
                "/secret blocked", "/ passed", "/a/b passed", "/ blocked", "/a/b blocked", "/secret passed"])
            let answered = events.compactMap { e -> String? in if case .response(let r) = e, r.status == 200 { return r.request?.path }; return nil }
            #expect(answered.starts(with: ["/", "/a/b"]) && answered.contains("/secret"))
            #expect(run.filter.counters.duplicates > 0)
            let k = try run.filter.kernelStats()
            #expect((k.blockDroppedPath ?? 0) >= 2 && (k.blockDroppedHost ?? 0) >= 1)
            // Detached and unpinned on stop.
            #expect(!FileManager.default.fileExists(atPath: pin))
            let after = try withNamespace(lab.serverNS) { try TCXAttachments.query(ifindex: NetlinkSocket().interfaceIndex(.name(lab.serverInterface)), direction: .ingress) }
            #expect(after.programIDs.isEmpty)
            let gone = try netbpf(["http-filter", "block", "list"] + target)
            #expect(gone.status == 1 && gone.stderr.contains("no HTTP blocking program is attached"))
        }
    }

    @Test func cliPrintsJSONLinesAndCleansUpOnSIGINT() throws {
        try HTTPLab.with { lab in
            let out = lab.webRoot + "/out.json", err = lab.webRoot + "/err.txt"
            let pid = try lab.spawnBackground([CLI.binary, "http-filter", "-i", lab.serverInterface, "--netns", lab.serverNS, "--json", "--block-path", "/secret",
                                               "--method", "GET"], stdout: out, stderr: err,
                                              environment: ["NETBPF_STATE_DIR": lab.stateDirectory, "NETBPF_PROGRAMS": HTTPLab.programs])
            lab.children.append(pid)
            let pin = "\(Pinning.root)/\(lab.serverNS)/\(lab.serverInterface)/ingress/http_block/maps/block_list"
            for _ in 0..<200 where !FileManager.default.fileExists(atPath: pin) { usleep(50_000) }
            #expect(FileManager.default.fileExists(atPath: pin))
            usleep(300_000) // the socket is bound just after the attach
            #expect(try lab.curl("http://10.0.0.1:8000/a/b").code == "200")
            #expect(try lab.curl("http://10.0.0.1:8000/", ["-I"]).code == "200") // HEAD: not selected
            #expect(try lab.curl("http://10.0.0.1:8000/secret", timeout: 1).status == 28)
            usleep(200_000)
            #expect(lab.stop(pid, signal: SIGINT) == 0)
            let lines = (try String(contentsOfFile: out, encoding: .utf8)).split(separator: "\n").map(String.init)
            let objects = lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            #expect(objects.count == lines.count, "not all lines are JSON: \(lines)")
            #expect(objects.map { "\($0["type"]!) \($0["method"] ?? "-") \($0["path"] ?? "-") \($0["status"] ?? "-") \($0["blocked"] ?? "-")" } == [
                "request GET /a/b - 0", "response GET /a/b 200 -", "request GET /secret - 1", "summary - - - -"])
            let summary = try #require(objects.last?["counters"] as? [String: Any])
            #expect(summary["requests"] as? Int == 3 && summary["responses"] as? Int == 2)
            #expect(!FileManager.default.fileExists(atPath: pin))
            let after = try withNamespace(lab.serverNS) { try TCXAttachments.query(ifindex: NetlinkSocket().interfaceIndex(.name(lab.serverInterface)), direction: .ingress) }
            #expect(after.programIDs.isEmpty)
            #expect((try? String(contentsOfFile: err, encoding: .utf8)) == "")
        }
    }

    @Test func loopbackFramesAreReportedOnce() throws {
        try HTTPLab.with { lab in
            var options = lab.serverOptions()
            options.interface = "lo"
            let run = try lab.filter(options)
            let r = try NetlinkLab.exec(lab.serverNS, ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:8000/a/b"])
            #expect(r.stdout == "200")
            let events = run.wait(for: 2)
            usleep(200_000)
            try run.stop()
            #expect(run.events.map(shape) == [
                "request  127.0.0.1:* -> 127.0.0.1:8000 GET 127.0.0.1:8000 /a/b HTTP/1.1",
                "response 127.0.0.1:* -> 127.0.0.1:8000 GET 127.0.0.1:8000 /a/b 200 OK",
            ])
            _ = events
            // Every kept frame came twice (outgoing and incoming); the copies were dropped.
            let c = run.filter.counters
            #expect(c.frames == 4 && c.duplicates == 2)
        }
    }

    @Test func vlanTagsInTheFrameAndInSkbMetadata() throws {
        try HTTPLab.with(serve: false) { lab in
            var vlan100 = lab.serverOptions()
            vlan100.vlan = 100
            var any = lab.serverOptions()
            any.interface = lab.serverInterface
            var clientSide = lab.serverOptions()
            clientSide.namespace = lab.clientNS
            clientSide.interface = lab.clientInterface
            clientSide.vlan = 200
            let received100 = try lab.filter(vlan100)   // receive side: the tag is in skb metadata
            let receivedAny = try lab.filter(any)
            let sent200 = try lab.filter(clientSide)     // send side: the tag is in the frame
            var frames: [[UInt8]] = []
            for (tag, port) in [(UInt16(100), UInt16(41000)), (200, 41001)] {
                var b = HTTPFrameBuilder.ipv4(sourcePort: port)
                b.vlans = [tag]
                frames.append(b.frame(payload: Array("GET /vlan\(tag) HTTP/1.1\r\nHost: v\r\n\r\n".utf8)))
            }
            try lab.send(frames: frames, on: lab.clientInterface, in: lab.clientNS)
            func paths(_ r: RunningFilter, _ n: Int) -> [String] {
                r.wait(for: n, timeout: 3).compactMap { if case .request(let q) = $0 { return q.path }; return nil }
            }
            let a = paths(received100, 1), b = paths(receivedAny, 2), c = paths(sent200, 1)
            usleep(200_000)
            for r in [received100, receivedAny, sent200] { try r.stop() }
            #expect(a == ["/vlan100"])
            #expect(b == ["/vlan100", "/vlan200"])
            #expect(c == ["/vlan200"])
            #expect(try received100.filter.kernelStats().otherVLAN == 1)
        }
    }
}
