import Foundation
import Glibc
import Testing
import NetBPF
import NetBPFAttach
import NetBPFControllers
import NetBPFTestSupport

/// `netbpf tunnel-monitor` run as a user runs it, on TunnelLab's h0: the JSON files, the web
/// page in a real headless browser, /metrics scraped by a real Prometheus server, clients that
/// misbehave, the HTML report, and SIGTERM leaving nothing attached.
@Suite(.serialized, .enabled(if: TestEnvironment.isRoot, "requires root: namespaces, VXLAN, tc programs, the netbpf binary"))
struct TunnelMonitorCLITests {
    final class Running {
        let process: Process
        let port: UInt16
        let jsonDir: String
        let stateDir: String
        let namespace: String
        let logPath: String

        init(namespace: String, extra: [String] = []) throws {
            let base = FileManager.default.temporaryDirectory.appendingPathComponent("nbtm-cli-\(getpid())-\(UInt16.random(in: 0...0xFFFF))").path
            try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
            jsonDir = base + "/json"
            stateDir = base + "/state"
            logPath = base + "/stderr.txt"
            self.namespace = namespace
            port = try HTTPProbe.freePort()
            process = Process()
            process.executableURL = URL(fileURLWithPath: CLI.binary)
            process.arguments = ["tunnel-monitor", "eth0", "--netns", namespace, "--interval", "0.5", "--web", "127.0.0.1:\(port)",
                                 "--json-dir", jsonDir] + extra
            var env = ProcessInfo.processInfo.environment
            env["NETBPF_STATE_DIR"] = stateDir
            process.environment = env
            FileManager.default.createFile(atPath: logPath, contents: nil)
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle(forWritingAtPath: logPath)
            try process.run()
            // Ready when the first snapshot is written (attached, sampled, served).
            let deadline = Date().addingTimeInterval(30)
            while !FileManager.default.fileExists(atPath: jsonDir + "/snapshot.json") {
                guard process.isRunning, Date() < deadline else {
                    throw HTTPProbe.ProbeError("netbpf tunnel-monitor did not start: \(log)")
                }
                usleep(50_000)
            }
        }

        var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

        func snapshot() throws -> TunnelSnapshot { try TunnelSnapshot.load(path: jsonDir + "/snapshot.json") }

        /// Waits for a snapshot that satisfies `ok`.
        func waitForSnapshot(timeout: Double = 10, _ ok: (TunnelSnapshot) -> Bool) throws -> TunnelSnapshot {
            let deadline = Date().addingTimeInterval(timeout)
            while true {
                if let s = try? snapshot(), ok(s) { return s }
                guard Date() < deadline else { throw HTTPProbe.ProbeError("no matching snapshot in \(timeout) s; last: \((try? snapshot()).map { "\($0.conversations.count) conversations" } ?? "none")") }
                usleep(100_000)
            }
        }

        /// SIGTERM, then the exit status (SIGKILL after 10 s).
        func terminate() -> Int32 {
            guard process.isRunning else { return process.terminationStatus }
            kill(process.processIdentifier, SIGTERM)
            let deadline = Date().addingTimeInterval(10)
            while process.isRunning && Date() < deadline { usleep(20_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit(); return -9 }
            process.waitUntilExit()
            return process.terminationStatus
        }

        func cleanup() {
            _ = terminate()
            try? FileManager.default.removeItem(atPath: (jsonDir as NSString).deletingLastPathComponent)
        }
    }

    /// Lab + running CLI; after `body`, SIGTERM must end it with status 0 and leave nothing.
    func withCLI<T>(extra: [String] = [], _ body: (TunnelLab, Running) throws -> T) throws -> T {
        try TunnelLab.with(hosts: 3, vnis: 2) { lab in
            let run = try Running(namespace: lab.hosts[0], extra: extra)
            defer {
                run.cleanup()
                // After a failure (a SIGKILLed monitor) its pins would keep the links alive:
                // they are this test's own (the namespace name is unique), remove them.
                try? FileManager.default.removeItem(atPath: Pinning.root + "/" + lab.hosts[0])
            }
            let result = try body(lab, run)
            let status = run.terminate()
            #expect(status == 0, "exit status \(status): \(run.log)")
            #expect(run.log.contains("detaching from eth0"))
            #expect(AttachmentStore(directory: run.stateDir + "/attach").all().isEmpty)
            let pins = (try? FileManager.default.contentsOfDirectory(atPath: Pinning.root + "/" + lab.hosts[0])) ?? []
            #expect(pins.isEmpty, "pins left: \(pins)")
            #expect(try Attacher().list(interface: "eth0", namespace: lab.hosts[0]).isEmpty)
            #expect((try? HTTPProbe.get(port: run.port, "/healthz", timeout: 1)) == nil, "server still answering after exit")
            return result
        }
    }

    static let k1 = "vni=\"10000\",outer_src=\"172.16.1.100\",outer_dst=\"172.16.1.101\",inner_src=\"192.168.0.1\",inner_dst=\"192.168.0.2\",inner_proto=\"ipv4\""
    static let k1r = "vni=\"10000\",outer_src=\"172.16.1.101\",outer_dst=\"172.16.1.100\",inner_src=\"192.168.0.2\",inner_dst=\"192.168.0.1\",inner_proto=\"ipv4\""

    static func conversation(_ s: TunnelSnapshot, vni: UInt32 = 10000, _ a: String = "192.168.0.1", _ b: String = "192.168.0.2") -> TunnelConversation? {
        s.conversations.first { $0.vni == vni && $0.innerA == a && $0.innerB == b && $0.innerProto == "ipv4" }
    }

    @Test(.timeLimit(.minutes(3)))
    func jsonFilesMetricsAndMisbehavingClients() throws {
        try withCLI { lab, run in
            try lab.ping(from: 0, "192.168.0.2", count: 4, size: 512)
            let snap = try run.waitForSnapshot { Self.conversation($0).map { $0.txPackets == 4 && $0.rxPackets == 4 } ?? false }
            let c = try #require(Self.conversation(snap))
            #expect(c.txBytes == 4 * 604 && c.rxBytes == 4 * 604)
            #expect(c.outerA == "172.16.1.100" && c.outerB == "172.16.1.101")
            #expect(snap.kind == "snapshot" && snap.interface == "eth0" && snap.namespace == run.namespace)
            let delta = try TunnelSnapshot.load(path: run.jsonDir + "/delta.json")
            #expect(delta.kind == "delta")
            let leftovers = try FileManager.default.contentsOfDirectory(atPath: run.jsonDir).filter { $0.hasPrefix(".") }
            #expect(leftovers.isEmpty, "temporary files left: \(leftovers)")

            // The snapshot file is written just before the same sample is published to the web
            // state: poll /metrics until that sample is served (a few hundred ms at most).
            let want = "netbpf_tunnel_conversation_packets_total{\(Self.k1),direction=\"tx\"} 4"
            var metrics = try HTTPProbe.get(port: run.port, "/metrics")
            let deadline = Date().addingTimeInterval(10)
            while !metrics.text.contains(want), Date() < deadline {
                usleep(200_000)
                metrics = try HTTPProbe.get(port: run.port, "/metrics")
            }
            #expect(metrics.status == 200)
            #expect(metrics.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8")
            let lines = Set(metrics.text.split(separator: "\n").map(String.init))
            #expect(lines.contains("netbpf_tunnel_conversation_packets_total{\(Self.k1),direction=\"tx\"} 4"))
            #expect(lines.contains("netbpf_tunnel_conversation_packets_total{\(Self.k1r),direction=\"rx\"} 4"))
            #expect(lines.contains("netbpf_tunnel_conversation_bytes_total{\(Self.k1),direction=\"tx\"} 2416"))
            #expect(lines.contains("netbpf_tunnel_conversation_bytes_total{\(Self.k1r),direction=\"rx\"} 2416"))

            // Misbehaving clients, all at once and repeatedly.
            #expect(try HTTPProbe.exchange(port: run.port, raw: Array("HELLO THERE\r\n\r\n".utf8)).status == 400)
            #expect(try HTTPProbe.exchange(port: run.port, raw: (0..<4096).map { _ in UInt8.random(in: 0...255) } + [13, 10, 13, 10]).status == 400)
            #expect(try HTTPProbe.exchange(port: run.port, raw: [UInt8](repeating: 0x41, count: 100_000)).status == 431)
            #expect(try HTTPProbe.exchange(port: run.port, raw: Array("POST /metrics HTTP/1.1\r\n\r\n".utf8)).status == 405)
            #expect(try HTTPProbe.get(port: run.port, "/nothing-here").status == 404)
            for _ in 0..<20 {
                // Half a request, then gone.
                let fd = try HTTPProbe.connect(port: run.port)
                _ = HTTPProbe.send(fd, Array("GET /metrics HTTP/1.1\r\nHost: x".utf8))
                close(fd)
                // Connected, nothing sent, gone.
                close(try HTTPProbe.connect(port: run.port))
                // A stream read up to its first event, then dropped mid-stream.
                let s = try HTTPProbe.connect(port: run.port)
                _ = HTTPProbe.send(s, Array("GET /events HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
                var got = Data()
                var buf = [UInt8](repeating: 0, count: 4096)
                while !String(decoding: got, as: UTF8.self).contains("data: ") {
                    let n = recv(s, &buf, buf.count, 0)
                    if n <= 0 { break }
                    got.append(contentsOf: buf[0..<n])
                }
                #expect(String(decoding: got, as: UTF8.self).contains("text/event-stream"))
                close(s)
            }
            // A stream that never reads, and idle connections past the server's limit (64).
            let stuck = try HTTPProbe.connect(port: run.port)
            var rcv: Int32 = 1024
            setsockopt(stuck, SOL_SOCKET, SO_RCVBUF, &rcv, socklen_t(MemoryLayout<Int32>.size))
            _ = HTTPProbe.send(stuck, Array("GET /events HTTP/1.1\r\n\r\n".utf8))
            var idle: [Int32] = []
            for _ in 0..<70 { if let fd = try? HTTPProbe.connect(port: run.port) { idle.append(fd) } }
            usleep(300_000)
            // The monitor kept sampling meanwhile and the ones past the limit were told so.
            let busy = try? HTTPProbe.get(port: run.port, "/healthz", timeout: 2)
            #expect(busy == nil || busy?.status == 503 || busy?.status == 200)
            for fd in idle { close(fd) }
            close(stuck)
            usleep(300_000)

            try lab.ping(from: 0, "192.168.0.2", count: 2, size: 512)
            // Both directions: a sample can fall between the last request and its reply.
            _ = try run.waitForSnapshot { Self.conversation($0)?.txPackets == 6 && Self.conversation($0)?.rxPackets == 6 }
            // The session writes the files, then publishes the sample to the web server: the
            // API can be a moment behind the file.
            var web: TunnelSnapshot?
            let apiDeadline = Date().addingTimeInterval(5)
            repeat {
                let after = try HTTPProbe.get(port: run.port, "/api/snapshot")
                #expect(after.status == 200)
                web = try TunnelSnapshot.decoder.decode(TunnelSnapshot.self, from: after.body)
                if let w = web, Self.conversation(w)?.rxPackets == 6 { break }
                usleep(50_000)
            } while Date() < apiDeadline
            #expect(web.flatMap { Self.conversation($0) }?.rxPackets == 6)
            #expect(run.process.isRunning)
            let m2 = try HTTPProbe.get(port: run.port, "/metrics").text
            #expect(m2.contains("netbpf_tunnel_conversation_packets_total{\(Self.k1),direction=\"tx\"} 6\n"))
        }
    }

    @Test(.timeLimit(.minutes(3)),
          .enabled(if: ExternalTool.path("chromium", package: "chromium") != nil, "chromium is not installed and `apt-get install -y chromium` failed"))
    func headlessChromiumShowsTheConversations() throws {
        let chromium = try #require(ExternalTool.path("chromium", package: "chromium"))
        try withCLI { lab, run in
            try lab.ping(from: 0, "192.168.0.2", count: 3, size: 512)
            try lab.ping(from: 0, "192.168.1.3", count: 2, size: 256)
            _ = try run.waitForSnapshot { Self.conversation($0) != nil && Self.conversation($0, vni: 10001, "192.168.1.1", "192.168.1.3") != nil }
            let profile = FileManager.default.temporaryDirectory.appendingPathComponent("nbtm-chromium-\(getpid())").path
            defer { try? FileManager.default.removeItem(atPath: profile) }
            let r = try TestPrograms.run("/usr/bin/timeout", ["90", chromium, "--headless", "--disable-gpu", "--no-sandbox", "--user-data-dir=" + profile,
                                                               "--dump-dom", "http://127.0.0.1:\(run.port)/"])
            #expect(r.status == 0, "\(r.stderr.suffix(500))")
            let dom = r.stdout
            // Rendered by the page's script (the table and the SVG views are built in the browser).
            #expect(dom.contains("<td>192.168.0.1 @172.16.1.100</td><td>192.168.0.2 @172.16.1.101</td>"), "\(dom.prefix(3000))")
            #expect(dom.contains("<td>192.168.1.1 @172.16.1.100</td><td>192.168.1.3 @172.16.1.102</td>"))
            #expect(dom.contains("id=\"vni-10000\"") && dom.contains("id=\"vni-10001\""))
            #expect(dom.contains("class=\"chord\"") && dom.contains("class=\"matrix\""))
            #expect(dom.contains("192.168.0.1 @172.16.1.100 → 192.168.0.2 @172.16.1.101"))
            // Nothing is fetched from elsewhere: no external scripts, styles or images.
            let page = try HTTPProbe.get(port: run.port, "/").text
            #expect(!page.contains("src=\"http") && !page.contains("href=\"http") && !page.contains("@import"))
        }
    }

    @Test(.timeLimit(.minutes(3)),
          .enabled(if: ExternalTool.path("prometheus", package: "prometheus") != nil, "prometheus is not installed and `apt-get install -y prometheus` failed"))
    func prometheusScrapesTheCounters() throws {
        let prometheus = try #require(ExternalTool.path("prometheus", package: "prometheus"))
        try withCLI { lab, run in
            try lab.ping(from: 0, "192.168.0.2", count: 5, size: 512)
            _ = try run.waitForSnapshot { Self.conversation($0)?.txPackets == 5 }
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nbtm-prom-\(getpid())-\(UInt16.random(in: 0...0xFFFF))").path
            try FileManager.default.createDirectory(atPath: dir + "/data", withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let config = """
            global:
              scrape_interval: 1s
              evaluation_interval: 1s
            scrape_configs:
              - job_name: netbpf-tunnel
                static_configs:
                  - targets: ['127.0.0.1:\(run.port)']
            """
            try config.write(toFile: dir + "/prometheus.yml", atomically: true, encoding: .utf8)
            let promPort = try HTTPProbe.freePort()
            let p = Process()
            p.executableURL = URL(fileURLWithPath: prometheus)
            p.arguments = ["--config.file=\(dir)/prometheus.yml", "--storage.tsdb.path=\(dir)/data", "--web.listen-address=127.0.0.1:\(promPort)"]
            p.standardOutput = FileHandle.nullDevice
            FileManager.default.createFile(atPath: dir + "/log.txt", contents: nil)
            p.standardError = FileHandle(forWritingAtPath: dir + "/log.txt")
            try p.run()
            defer { p.terminate(); p.waitUntilExit() }

            func query(_ q: String) throws -> [[String: Any]] {
                let encoded = q.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
                let r = try HTTPProbe.get(port: promPort, "/api/v1/query?query=\(encoded)")
                guard r.status == 200, let j = try JSONSerialization.jsonObject(with: r.body) as? [String: Any],
                      let data = j["data"] as? [String: Any], let result = data["result"] as? [[String: Any]] else { return [] }
                return result
            }
            func value(_ q: String) throws -> String? {
                ((try query(q).first?["value"]) as? [Any])?.last as? String
            }
            let q = "netbpf_tunnel_conversation_packets_total{vni=\"10000\",inner_src=\"192.168.0.1\",inner_dst=\"192.168.0.2\",inner_proto=\"ipv4\",direction=\"tx\"}"
            let deadline = Date().addingTimeInterval(60)
            var got: String?
            while Date() < deadline {
                got = try? value(q)
                if got == "5" { break }
                usleep(500_000)
            }
            let promLog = (try? String(contentsOfFile: dir + "/log.txt", encoding: .utf8)) ?? ""
            #expect(got == "5", "Prometheus returned \(got ?? "nothing") for \(q); log: \(promLog.suffix(1500))")
            #expect(try value("netbpf_tunnel_conversation_bytes_total{vni=\"10000\",outer_src=\"172.16.1.101\",inner_src=\"192.168.0.2\",inner_proto=\"ipv4\",direction=\"rx\"}") == "3020")
            #expect(try value("sum(netbpf_tunnel_vni_packets_total{vni=\"10000\",direction=\"tx\"})").map { Int($0)! >= 5 } == true)
            #expect(try value("up{job=\"netbpf-tunnel\"}") == "1")
            // The scrape is clean: no samples dropped for format errors.
            #expect(try value("scrape_samples_scraped{job=\"netbpf-tunnel\"}").map { Int($0)! > 20 } == true)
            #expect(!promLog.contains("level=warn") || !promLog.contains("scrape"), "Prometheus warned: \(promLog.suffix(1500))")
        }
    }

    @Test(.timeLimit(.minutes(3)))
    func reportIsSelfContained() throws {
        try withCLI { lab, run in
            try lab.ping(from: 0, "192.168.0.2", count: 2, size: 100)
            _ = try run.waitForSnapshot { Self.conversation($0)?.txPackets == 2 }
            let copy = run.jsonDir + "/kept.json"
            try FileManager.default.copyItem(atPath: run.jsonDir + "/snapshot.json", toPath: copy)
            let html = run.jsonDir + "/report.html"
            let r = try CLI.run(["tunnel-monitor", "report", copy, "--html", html])
            #expect(r.status == 0, "\(r.stderr)")
            #expect(r.stdout.contains("wrote \(html)"))
            let page = try String(contentsOfFile: html, encoding: .utf8)
            #expect(page.contains("\"inner_b\":\"192.168.0.2\""))
            #expect(!page.contains("src=\"http") && !page.contains("href=\"http") && !page.contains("fetch(\"http"))
            #expect(page.contains("const LIVE = false;"))
            if let chromium = ExternalTool.path("chromium", package: "chromium") {
                let profile = FileManager.default.temporaryDirectory.appendingPathComponent("nbtm-chromium-r-\(getpid())").path
                defer { try? FileManager.default.removeItem(atPath: profile) }
                let d = try TestPrograms.run("/usr/bin/timeout", ["90", chromium, "--headless", "--disable-gpu", "--no-sandbox", "--user-data-dir=" + profile,
                                                                   "--dump-dom", "file://" + html])
                #expect(d.stdout.contains("<td>192.168.0.1 @172.16.1.100</td><td>192.168.0.2 @172.16.1.101</td>"))
            }
            let bad = try CLI.run(["tunnel-monitor", "report", run.jsonDir + "/nope.json", "--html", html])
            #expect(bad.status == 1 && bad.stderr.hasPrefix("netbpf: ") && bad.stderr.split(separator: "\n").count == 1)
            try "{\"kind\": 3}".write(toFile: run.jsonDir + "/bad.json", atomically: true, encoding: .utf8)
            let worse = try CLI.run(["tunnel-monitor", "report", run.jsonDir + "/bad.json", "--html", html])
            #expect(worse.status == 1 && worse.stderr.contains("not a tunnel monitor snapshot"))
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func badInterfaceAndBusyPortLeaveNothingBehind() throws {
        try TunnelLab.with(hosts: 1, vnis: 1) { lab in
            let state = FileManager.default.temporaryDirectory.appendingPathComponent("nbtm-bad-\(getpid())").path
            defer { try? FileManager.default.removeItem(atPath: state) }
            setenv("NETBPF_STATE_DIR", state, 1)
            defer { unsetenv("NETBPF_STATE_DIR") }
            let r = try CLI.run(["tunnel-monitor", "nosuch0", "--netns", lab.hosts[0], "--seconds", "1"])
            #expect(r.status == 1)
            #expect(r.stderr.hasPrefix("netbpf: ") && r.stderr.contains("nosuch0"), "\(r.stderr)")
            // A port already in use fails before anything is attached.
            let holder = try HTTPProbe.freePort()
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(fd) }
            var a = sockaddr_in(); a.sin_family = sa_family_t(AF_INET); a.sin_port = holder.bigEndian; a.sin_addr.s_addr = UInt32(0x7f000001).bigEndian
            _ = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            listen(fd, 1)
            let busy = try CLI.run(["tunnel-monitor", "eth0", "--netns", lab.hosts[0], "--web", "127.0.0.1:\(holder)", "--seconds", "1"])
            #expect(busy.status == 1 && busy.stderr.contains("cannot listen"), "\(busy.stderr)")
            let badWeb = try CLI.run(["tunnel-monitor", "eth0", "--netns", lab.hosts[0], "--web", "localhost", "--seconds", "1"])
            #expect(badWeb.status == 1 && badWeb.stderr.contains("is not ADDRESS:PORT"))
            #expect(AttachmentStore(directory: state + "/attach").all().isEmpty)
            #expect(try Attacher().list(interface: "eth0", namespace: lab.hosts[0]).isEmpty)
            // --seconds and --json: one JSON object per interval on stdout, then detached.
            let j = try CLI.run(["tunnel-monitor", "eth0", "--netns", lab.hosts[0], "--interval", "0.2", "--seconds", "0.7", "--json"])
            #expect(j.status == 0, "\(j.stderr)")
            let objects = j.stdout.split(separator: "\n")
            #expect(objects.count >= 3)
            #expect(objects.allSatisfy { (try? TunnelSnapshot.decoder.decode(TunnelSnapshot.self, from: Data($0.utf8))) != nil })
            #expect(try Attacher().list(interface: "eth0", namespace: lab.hosts[0]).isEmpty)
        }
    }
}
