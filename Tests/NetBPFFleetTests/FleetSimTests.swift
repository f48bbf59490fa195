import Foundation
import Glibc
import Testing
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

    static func withSim<T>(nodes: Int, _ body: (Sim) throws -> T) throws -> T {
        let name = "fl\(getpid() % 1000)"
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("netbpf-fleet-sim-\(name)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var env = ProcessInfo.processInfo.environment
        env["PATH"] = (CLI.binary as NSString).deletingLastPathComponent + ":" + (env["PATH"] ?? "/usr/sbin:/usr/bin:/sbin:/bin")
        env["NETBPF_STATE_DIR"] = dir + "/state"
        let sim = Sim(name: name, env: env)
        let topology = dir + "/fleet.yaml"
        let gen = try TestPrograms.run("/usr/bin/python3", [TestPrograms.repositoryRoot.appendingPathComponent("scripts/fleet-topology.py").path,
                                                            String(nodes), "--name", name])
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
        return try body(sim)
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
}
