import Foundation
import Glibc
import Testing
import NetBPFAttach
import NetBPFControllers
import NetBPFFleet
import NetBPFTestSupport

/// The whole fleet as a simulation: `netbpf sim up` of a generated topology starts etcd,
/// Prometheus and one agent per node; one `netbpf fleet` change reaches every node; real UDP
/// traffic from every node; Prometheus's sums checked against what the generators sent.
@Suite(.serialized, .enabled(if: FleetLab.canRun && FileManager.default.isExecutableFile(atPath: "/usr/bin/prometheus"),
                             "requires root, etcd-server, prometheus and openssl"))
struct FleetSimTests {
    static let nodes = Int(ProcessInfo.processInfo.environment["NETBPF_FLEET_TEST_NODES"] ?? "") ?? 20

    struct Sim {
        let name: String
        let env: [String: String]
        /// The generated topology file (`sim up` of it again restarts dead processes).
        let topology: String
        /// Node K's address (scripts/fleet-topology.py).
        static func address(_ k: Int) -> String { "10.200.\(k / 200).\(k % 200 + 10)" }
        /// The attachment records the simulation's agents write.
        var store: AttachmentStore { AttachmentStore(directory: env["NETBPF_STATE_DIR", default: ""] + "/attach") }
        /// `sh -c script` inside host `host`'s namespace.
        func sh(_ host: String, _ script: String) throws -> (status: Int32, stdout: String, stderr: String) {
            try TestPrograms.run("/usr/sbin/ip", ["netns", "exec", ns(host), "/bin/sh", "-c", script])
        }
        /// Waits up to `seconds` until all `n` nodes are known and exactly those `want` says
        /// are alive (registered); returns the last statuses seen.
        @discardableResult
        func waitAlive(_ n: Int, seconds: Double, _ want: (String) -> Bool) throws -> [[String: Any]] {
            let deadline = Date().addingTimeInterval(seconds)
            var last: [[String: Any]] = []
            while Date() < deadline {
                last = (try? statuses()) ?? last
                if last.count == n, last.allSatisfy({ ($0["alive"] as? Bool == true) == want($0["node"] as? String ?? "") }) { return last }
                usleep(300_000)
            }
            return last
        }
        /// Waits up to `seconds` until `count` nodes report `revision` or later; returns how many did.
        func waitApplied(_ revision: Int, count: Int, seconds: Double) -> Int {
            let deadline = Date().addingTimeInterval(seconds)
            var applied = 0
            while Date() < deadline {
                applied = ((try? statuses()) ?? []).filter { (($0["status"] as? [String: Any])?["revision"] as? Int ?? 0) >= revision }.count
                if applied >= count { break }
                usleep(200_000)
            }
            return applied
        }
        /// `revision N` -> N.
        static func revision(_ out: String) -> Int {
            Int(out.trimmingCharacters(in: .whitespacesAndNewlines).replacingOccurrences(of: "revision ", with: "")) ?? -1
        }
        /// curl of `path` on port 8080 of nodes 1...n at once, from ctl: node -> (HTTP code, curl exit).
        func curlAll(_ n: Int, _ path: String) throws -> [Int: (code: String, exit: String)] {
            let script = (1...n).map { k in
                "(curl -s -o /dev/null -m 3 -w '\(k) %{http_code} %{exitcode}\\n' http://\(Self.address(k)):8080\(path)) &"
            }.joined(separator: "\n") + "\nwait"
            var out: [Int: (String, String)] = [:]
            for line in try sh("ctl", script).stdout.split(separator: "\n") {
                let f = line.split(separator: " ").map(String.init)
                if f.count == 3, let k = Int(f[0]) { out[k] = (f[1], f[2]) }
            }
            return out
        }
        func ns(_ host: String) -> String { "nb-\(name)-\(host)" }
        var pki: String { "/run/netbpf-fleet/\(name)/pki" }

        /// `netbpf ARGS` run inside host `host`'s namespace.
        func netbpf(_ host: String, _ args: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
            try TestPrograms.run("/usr/sbin/ip", ["netns", "exec", ns(host), CLI.binary] + args, environment: env)
        }
        func fleet(_ args: [String]) throws -> String {
            let r = try netbpf("ctl", ["fleet"] + args + ["--etcd", "https://10.200.0.1:2379", "--pki", pki])
            guard r.status == 0 else { throw FleetError("netbpf fleet \(args.joined(separator: " ")): \(r.stderr)") }
            return r.stdout
        }
        func statuses() throws -> [[String: Any]] {
            let out = try fleet(["status", "--json"])
            return (try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [[String: Any]]) ?? []
        }
        /// A PromQL instant query's vector, label `node` (or "") -> value.
        func query(_ q: String) throws -> [String: Double] {
            let r = try TestPrograms.run("/usr/sbin/ip", ["netns", "exec", ns("ctl"), "/usr/bin/curl", "-s", "--get",
                                                          "--data-urlencode", "query=\(q)", "http://10.200.0.1:9090/api/v1/query"])
            guard let o = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any],
                  let data = o["data"] as? [String: Any], let result = data["result"] as? [[String: Any]] else {
                throw FleetError("prometheus query \(q): \(r.stdout.prefix(300)) \(r.stderr)")
            }
            var out: [String: Double] = [:]
            for s in result {
                let node = (s["metric"] as? [String: String])?["node"] ?? ""
                if let v = s["value"] as? [Any], let text = v.last as? String, let d = Double(text) { out[node] = d }
            }
            return out
        }
    }

    static func withSim<T>(nodes: Int, http: Bool = false, _ body: (Sim) throws -> T) throws -> T {
        let name = "fl\(getpid() % 1000)"
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("netbpf-fleet-sim-\(name)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var env = ProcessInfo.processInfo.environment
        env["PATH"] = (CLI.binary as NSString).deletingLastPathComponent + ":" + (env["PATH"] ?? "/usr/sbin:/usr/bin:/sbin:/bin")
        env["NETBPF_STATE_DIR"] = dir + "/state"
        let topology = dir + "/fleet.yaml"
        let gen = try TestPrograms.run("/usr/bin/python3", [TestPrograms.repositoryRoot.appendingPathComponent("scripts/fleet-topology.py").path,
                                                            String(nodes), "--name", name] + (http ? ["--http"] : []))
        try gen.stdout.write(toFile: topology, atomically: true, encoding: .utf8)
        defer {
            let down = try? TestPrograms.run(CLI.binary, ["sim", "down", name], environment: env)
            if down?.status != 0 { Issue.record("sim down: \(down?.stderr ?? "did not run")") }
            #expect(!FileManager.default.fileExists(atPath: "/run/netbpf-fleet/\(name)"), "the control plane left its directory")
            let left = (try? FileManager.default.contentsOfDirectory(atPath: dir + "/state/attach")) ?? []
            #expect(left.filter { $0.hasSuffix(".json") }.isEmpty, "attachment records left: \(left)")
            try? FileManager.default.removeItem(atPath: dir)
        }
        let up = try TestPrograms.run(CLI.binary, ["sim", "up", topology], environment: env)
        guard up.status == 0 else { throw FleetError("sim up: \(up.stderr)") }
        return try body(Sim(name: name, env: env, topology: topology))
    }

    /// UDP at `bitsPerSecond` for `seconds` from host to 10.200.0.2, `payload`-byte datagrams;
    /// prints "packets elapsed".
    static let generator = """
    import socket, sys, time
    rate, secs, size = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    data = b'x' * size
    frame = size + 42
    t0 = time.monotonic(); n = 0
    while True:
        now = time.monotonic() - t0
        if now >= secs: break
        due = int(now * rate / 8 / frame) + 1
        while n < due:
            s.sendto(data, ('10.200.0.2', 9))
            n += 1
        time.sleep(0.002)
    print(n, time.monotonic() - t0)
    """

    @Test func oneFleetChangeLimitsEveryNodeAndPrometheusAddsUp() throws {
        let n = Self.nodes
        try Self.withSim(nodes: n) { sim in
            // Every agent registered.
            var deadline = Date().addingTimeInterval(90)
            var alive = 0
            while Date() < deadline {
                alive = ((try? sim.statuses()) ?? []).filter { $0["alive"] as? Bool == true }.count
                if alive == n { break }
                usleep(500_000)
            }
            #expect(alive == n, "\(alive) of \(n) agents registered")

            let limit = 2_000_000.0
            let out = try sim.fleet(["ratelimit", "add", "10.200.0.2", "2mbit", "--burst", "16k", "--nodes", "node*"])
            let revision = Int(out.trimmingCharacters(in: .whitespacesAndNewlines).replacingOccurrences(of: "revision ", with: "")) ?? -1
            deadline = Date().addingTimeInterval(30)
            var applied = 0
            while Date() < deadline {
                applied = ((try? sim.statuses()) ?? []).filter { (($0["status"] as? [String: Any])?["revision"] as? Int ?? 0) >= revision }.count
                if applied == n { break }
                usleep(200_000)
            }
            #expect(applied == n, "\(applied) of \(n) nodes applied revision \(revision)")

            // Traffic: every node at twice the limit, at once.
            let payload = 1200, seconds = 4.0
            let procs: [(String, Process, Pipe)] = try (1...n).map { k in
                let p = Process(), pipe = Pipe()
                p.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
                p.arguments = ["netns", "exec", sim.ns("node\(k)"), "python3", "-c", Self.generator, String(2 * limit), String(seconds), String(payload)]
                p.standardOutput = pipe
                try p.run()
                return ("node\(k)", p, pipe)
            }
            var sentBytes: [String: Double] = [:], elapsed: [String: Double] = [:]
            for (node, p, pipe) in procs {
                let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                p.waitUntilExit()
                let parts = text.split(separator: " ").compactMap { Double($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
                guard parts.count == 2 else { Issue.record("\(node): generator said '\(text)'"); continue }
                sentBytes[node] = parts[0] * Double(payload + 42)
                elapsed[node] = parts[1]
            }
            sleep(4) // two scrapes at 1 s, and some slack for a loaded machine

            let passed = try sim.query("netbpf_ratelimit_passed_bytes_total{prefix=\"10.200.0.2\"}")
            let dropped = try sim.query("netbpf_ratelimit_dropped_bytes_total{prefix=\"10.200.0.2\"}")
            #expect(passed.count == n, "Prometheus has \(passed.count) of \(n) nodes")
            for (node, bytes) in passed.sorted(by: { $0.key < $1.key }) {
                let rate = bytes * 8 / (elapsed[node] ?? seconds)
                #expect(abs(rate - limit) / limit <= 0.10, "\(node) passed \(Int(rate)) bit/s under a 2mbit limit")
            }
            let sumPassed = try sim.query("sum(netbpf_ratelimit_passed_bytes_total{prefix=\"10.200.0.2\"})")[""] ?? 0
            let sumDropped = try sim.query("sum(netbpf_ratelimit_dropped_bytes_total{prefix=\"10.200.0.2\"})")[""] ?? 0
            let sent = sentBytes.values.reduce(0, +)
            print("fleet sim: \(n) nodes; per-node passed bit/s min \(Int(passed.map { $0.value * 8 / (elapsed[$0.key] ?? seconds) }.min() ?? 0)) max \(Int(passed.map { $0.value * 8 / (elapsed[$0.key] ?? seconds) }.max() ?? 0)); "
                  + "sum(passed) \(Int(sumPassed)), sent \(Int(sent)), sum(dropped) \(Int(sumDropped))")
            #expect(abs(sumPassed - passed.values.reduce(0, +)) < 1)
            #expect(abs(sumDropped - dropped.values.reduce(0, +)) < 1)
            #expect(sent > 0 && abs(sumPassed - (sent - sumDropped)) / sent <= 0.01,
                    "Prometheus sum(passed) \(Int(sumPassed)) vs sent \(Int(sent)) - dropped \(Int(sumDropped))")
        }
    }

    /// HTTP blocking on every node: before, GET /secret/x reaches each node's server (404);
    /// one `netbpf fleet http block /secret` later it fails on every node (the request is
    /// dropped on eth0's ingress: curl times out, exit 28), GET / still gets 200 everywhere,
    /// every node's /metrics (in Prometheus) counts the drops; `unblock` lifts it everywhere.
    @Test func oneFleetChangeBlocksAPathOnEveryNode() throws {
        let n = Self.nodes
        try Self.withSim(nodes: n, http: true) { sim in
            let alive = try sim.waitAlive(n, seconds: 120) { _ in true }.filter { $0["alive"] as? Bool == true }.count
            #expect(alive == n, "\(alive) of \(n) agents registered")
            let before = try sim.curlAll(n, "/secret/x")
            #expect((1...n).allSatisfy { before[$0]?.code == "404" }, "before the block: \(before.sorted { $0.key < $1.key })")

            let rev = Sim.revision(try sim.fleet(["http", "block", "/secret", "--nodes", "node*"]))
            let applied = sim.waitApplied(rev, count: n, seconds: 30)
            #expect(applied == n, "\(applied) of \(n) nodes applied revision \(rev)")
            let statuses = try sim.statuses()
            #expect(statuses.allSatisfy { ($0["status"] as? [String: Any])?["blocks"] as? Int == 1 }, "\(statuses.prefix(2))")

            let blocked = try sim.curlAll(n, "/secret/x")
            let open = try sim.curlAll(n, "/")
            for k in 1...n {
                #expect(blocked[k]?.code == "000" && blocked[k]?.exit == "28", "node\(k): GET /secret/x gave \(String(describing: blocked[k]))")
                #expect(open[k]?.code == "200", "node\(k): GET / gave \(String(describing: open[k]))")
            }
            sleep(3) // Prometheus scrapes every second
            let drops = try sim.query("netbpf_http_block_dropped_requests_total{kind=\"path\",value=\"/secret\"}")
            #expect(drops.count == n && drops.values.allSatisfy { $0 >= 1 }, "drops per node: \(drops.sorted { $0.key < $1.key })")

            let rev2 = Sim.revision(try sim.fleet(["http", "unblock", "/secret"]))
            #expect(sim.waitApplied(rev2, count: n, seconds: 30) == n)
            let after = try sim.curlAll(n, "/secret/x")
            #expect((1...n).allSatisfy { after[$0]?.code == "404" }, "after unblock: \(after.sorted { $0.key < $1.key })")
        }
    }

    /// Five agents SIGKILLed in the middle of traffic (each node sending UDP at twice its
    /// limit), then started again by `sim up`: while they are dead their limiters stay attached
    /// and the traffic through each node stays within 10% of the limit; their leases expire
    /// (the other nodes stay registered); restarted, they adopt the same program (same id, one
    /// record each), register again, report the limit's revision, and their counters (in the
    /// maps and on /metrics) continue from where they were.
    @Test func sigkillOfFiveAgentsMidTraffic() throws {
        let n = max(Self.nodes, 6)
        let victims = Array(1...5)
        try Self.withSim(nodes: n) { sim in
            let alive = try sim.waitAlive(n, seconds: 120) { _ in true }.filter { $0["alive"] as? Bool == true }.count
            #expect(alive == n, "\(alive) of \(n) agents registered")
            let limit = 2_000_000.0
            let rev = Sim.revision(try sim.fleet(["ratelimit", "add", "10.200.0.2", "2mbit", "--burst", "16k", "--nodes", "node*"]))
            #expect(sim.waitApplied(rev, count: n, seconds: 30) == n)

            let limiters = try victims.map { k in try RateLimiter(interface: "eth0", namespace: sim.ns("node\(k)"), store: sim.store) }
            let programIDs = limiters.map(\.record.programID)
            func passed() throws -> [Double] {
                try limiters.map { Double(try $0.entries().first { $0.prefix == "10.200.0.2" }?.passedBytes ?? 0) }
            }
            // 30 s of UDP at twice the limit from each victim.
            let generators: [Process] = try victims.map { k in
                let p = Process()
                p.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
                p.arguments = ["netns", "exec", sim.ns("node\(k)"), "python3", "-c", Self.generator, String(2 * limit), "30", "1200"]
                p.standardOutput = FileHandle.nullDevice
                try p.run()
                return p
            }
            defer { generators.forEach { if $0.isRunning { $0.terminate() }; $0.waitUntilExit() } }
            sleep(3)
            let c0 = try passed(), t0 = Date()

            // SIGKILL the five agents.
            for k in victims {
                let r = try TestPrograms.run("/usr/bin/pgrep", ["-f", "agent --node node\(k) --etcd .* --netns \(sim.ns("node\(k)")) "])
                let pids = r.stdout.split(separator: "\n").compactMap { pid_t($0) }
                #expect(pids.count == 1, "node\(k): agent pids \(pids)")
                for p in pids { kill(p, SIGKILL) }
            }
            let cKill = try passed(), tKill = Date()
            // Their leases expire (TTL 5 s); the other nodes stay registered.
            let gone = try sim.waitAlive(n, seconds: 15) { node in !victims.map { "node\($0)" }.contains(node) }
            let deadNow = gone.filter { $0["alive"] as? Bool != true }.compactMap { $0["node"] as? String }.sorted()
            #expect(deadNow == victims.map { "node\($0)" }.sorted(), "nodes seen gone: \(deadNow)")
            let cGap = try passed(), tGap = Date()
            let gap = tGap.timeIntervalSince(tKill)
            for (i, k) in victims.enumerated() {
                let rate = (cGap[i] - cKill[i]) * 8 / gap
                #expect(abs(rate - limit) / limit <= 0.10, "node\(k) passed \(Int(rate)) bit/s over the \(String(format: "%.1f", gap)) s without its agent")
                #expect(try limiters[i].entries().first { $0.prefix == "10.200.0.2" }?.rateBitsPerSecond == 2_000_000, "node\(k): the limit lapsed")
            }

            // Restart (sim up restarts dead processes): same program, registered again.
            let up = try TestPrograms.run(CLI.binary, ["sim", "up", sim.topology], environment: sim.env)
            #expect(up.status == 0, "sim up: \(up.stderr)")
            let tRestart = Date()
            let back = try sim.waitAlive(n, seconds: 40) { _ in true }
            #expect(back.filter { $0["alive"] as? Bool == true }.count == n, "not all registered again")
            // Each restarted agent applied the state afresh (a new process: one apply, after the kill).
            func restarted(_ st: [[String: Any]]) -> [String: [String: Any]] {
                var out: [String: [String: Any]] = [:]
                for v in st {
                    guard let node = v["node"] as? String, let s = v["status"] as? [String: Any], let at = s["applied_at"] as? String,
                          let date = ISO8601DateFormatter().date(from: at), date > tKill else { continue }
                    out[node] = s
                }
                return out
            }
            var fresh: [String: [String: Any]] = [:]
            let freshDeadline = Date().addingTimeInterval(20)
            while Date() < freshDeadline {
                fresh = restarted((try? sim.statuses()) ?? [])
                if victims.allSatisfy({ fresh["node\($0)"] != nil }) { break }
                usleep(200_000)
            }
            let cBack = try passed()
            for (i, k) in victims.enumerated() {
                let record = try RateLimiter(interface: "eth0", namespace: sim.ns("node\(k)"), store: sim.store).record
                #expect(record.programID == programIDs[i], "node\(k): the limiter was attached again (program \(record.programID), was \(programIDs[i]))")
                let status = fresh["node\(k)"]
                #expect(status?["revision"] as? Int == rev && status?["limits"] as? Int == 1 && status?["applies"] as? Int == 1
                        && status?["history"] as? [Int] == [rev], "node\(k) status after the restart: \(String(describing: status))")
                // The restarted agent's /metrics continues the counters (not from zero).
                let metrics = try sim.sh("ctl", "curl -s http://\(Sim.address(k)):9560/metrics").stdout
                let line = metrics.split(separator: "\n").first { $0.hasPrefix("netbpf_ratelimit_passed_bytes_total{") && $0.contains("10.200.0.2") }
                let served = line.flatMap { Double($0.split(separator: " ").last ?? "") } ?? -1
                #expect(served >= cGap[i], "node\(k): /metrics says \(served) passed bytes, \(cGap[i]) before the restart")
                #expect(cBack[i] > cGap[i], "node\(k): counters did not move on")
            }
            #expect(sim.store.all().filter { $0.programName == "ratelimit" }.count == n, "one limiter record per node")
            // The limit held over the whole window, kill and restart included.
            let cEnd = try passed(), tEnd = Date()
            #expect(tEnd.timeIntervalSince(t0) < 26, "the window outlasted the traffic")
            for (i, k) in victims.enumerated() {
                let rate = (cEnd[i] - c0[i]) * 8 / tEnd.timeIntervalSince(t0)
                #expect(abs(rate - limit) / limit <= 0.10, "node\(k) passed \(Int(rate)) bit/s over \(Int(tEnd.timeIntervalSince(t0))) s with a kill and restart")
            }
            print("fleet sigkill: \(victims.count) agents killed; leases gone after \(String(format: "%.1f", gap)) s; back \(String(format: "%.1f", Date().timeIntervalSince(tRestart))) s after sim up")
        }
    }
}
