import Foundation
import Glibc
import Testing
import NetBPFControllers
import NetBPFFleet
import NetBPFTestSupport

/// `netbpf agent` and `netbpf fleet` as a user runs them: the agent is SIGKILLed in the middle
/// of traffic and started again.
@Suite(.serialized, .enabled(if: FleetLab.canRun, "requires root, /usr/bin/etcd (etcd-server) and openssl"))
struct FleetCLITests {
    /// A started `netbpf agent` child; its stderr goes to a file.
    final class AgentProcess {
        let pid: pid_t
        let log: String
        /// `controllers`: the agent's controller options (default: the rate limiter on the
        /// lab's client end, fla).
        init(_ lab: FleetLab, node: String, listen: String, ttl: Int, controllers: [String]? = nil) throws {
            log = lab.directory + "/agent-\(node)-\(Int.random(in: 0...99999)).log"
            var actions = posix_spawn_file_actions_t()
            posix_spawn_file_actions_init(&actions)
            defer { posix_spawn_file_actions_destroy(&actions) }
            posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
            posix_spawn_file_actions_addopen(&actions, 2, log, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
            let args = [CLI.binary, "agent", "--node", node, "--etcd", lab.etcd.endpoint, "--pki", lab.pki.directory,
                        "--listen", listen, "--ttl", String(ttl)] + (controllers ?? ["--interface", "fla", "--netns", lab.client])
            let argv = args.map { strdup($0) } + [nil]
            defer { argv.forEach { free($0) } }
            var env = ProcessInfo.processInfo.environment
            env["NETBPF_STATE_DIR"] = lab.stateDirectory
            let envp = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
            defer { envp.forEach { free($0) } }
            var p: pid_t = 0
            let rc = posix_spawn(&p, CLI.binary, &actions, nil, argv, envp)
            guard rc == 0 else { throw FleetError("posix_spawn netbpf agent: \(rc)") }
            pid = p
        }
        var output: String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }
        private var exitStatus: Int32?
        /// Sends `sig` and reaps the agent (once; later calls return the first status).
        func kill(_ sig: Int32) -> Int32 {
            if let exitStatus { return exitStatus }
            Glibc.kill(pid, sig)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
            exitStatus = status
            return status
        }
    }

    func fleet(_ lab: FleetLab, _ args: [String]) throws -> String {
        let r = try CLI.run(["fleet"] + args + ["--etcd", lab.etcd.endpoint, "--pki", lab.pki.directory])
        guard r.status == 0 else { throw FleetError("netbpf fleet \(args.joined(separator: " ")): \(r.stderr)") }
        return r.stdout
    }

    func get(_ url: String, method: String = "GET") throws -> (status: String, body: String) {
        let r = try TestPrograms.run("/usr/bin/curl", ["-s", "-X", method, "-w", "\n%{http_code}", url])
        let lines = r.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        return (String(lines.last ?? ""), lines.dropLast().joined(separator: "\n"))
    }

    func passedBytes(_ limiter: RateLimiter) throws -> UInt64 {
        try limiter.entries().first { $0.prefix == "10.77.0.2" }?.passedBytes ?? 0
    }

    @Test func sigkillRestartReadoptsAndCountersContinue() async throws {
        try await FleetLab.with(nodes: ["edge-1"]) { lab in
            let port = try EtcdServer.freePort()
            var agent = try AgentProcess(lab, node: "edge-1", listen: "127.0.0.1:\(port)", ttl: 2)
            defer { _ = agent.kill(SIGKILL) }
            let rev = Int64(try fleet(lab, ["ratelimit", "add", "10.77.0.2", "10mbit", "--nodes", "edge-*"])
                .trimmingCharacters(in: .whitespacesAndNewlines).replacingOccurrences(of: "revision ", with: "")) ?? -1
            try await withClient(try lab.client(user: "operator")) { op in
                _ = try await lab.waitForStatus("edge-1", revision: rev, as: op)
            }
            #expect(agent.output.contains("attached a rate limiter"), "\(agent.output)")
            let status = try fleet(lab, ["status"])
            #expect(status.contains("edge-1") && status.contains("yes") && status.contains(String(rev)), "\(status)")
            let promConfig = try fleet(lab, ["prometheus-config"])
            #expect(promConfig.contains("127.0.0.1:\(port)"), "\(promConfig)")

            // /metrics: health and counters; read-only.
            let mbit = try lab.iperf(seconds: 2)
            #expect(abs(mbit - 10) / 10 <= 0.10, "\(mbit) Mbit/s under 10mbit")
            let metrics = try get("http://127.0.0.1:\(port)/metrics")
            #expect(metrics.status == "200")
            #expect(metrics.body.contains("netbpf_agent_applied_revision{node=\"edge-1\"} \(rev)"), "\(metrics.body.prefix(600))")
            #expect(metrics.body.contains("netbpf_agent_etcd_connected{node=\"edge-1\"} 1"))
            #expect(metrics.body.contains("netbpf_ratelimit_passed_bytes_total{node=\"edge-1\",prefix=\"10.77.0.2\"}"))
            #expect(try get("http://127.0.0.1:\(port)/metrics", method: "POST").status == "405")

            // SIGKILL: the limiter stays, limits never lapse, the lease expires.
            let limiter = try RateLimiter(interface: "fla", namespace: lab.client, store: lab.store)
            let before = try passedBytes(limiter)
            #expect(before > 1_000_000)
            _ = agent.kill(SIGKILL)
            let during = try lab.iperf(seconds: 2)
            #expect(during <= 11, "traffic passed unlimited while the agent was dead: \(during) Mbit/s")
            try await withClient(try lab.client(user: "operator")) { op in
                let deadline = Date().addingTimeInterval(8)
                while Date() < deadline, try await !op.range(lab.layout.node("edge-1")).kvs.isEmpty { try await Task.sleep(for: .milliseconds(200)) }
                #expect(try await op.range(lab.layout.node("edge-1")).kvs.isEmpty, "the dead node's lease did not expire")
            }
            let afterKill = try passedBytes(limiter)
            #expect(afterKill > before)

            // Restart: adopts the same limiter, counters continue, registers again.
            agent = try AgentProcess(lab, node: "edge-1", listen: "127.0.0.1:\(port)", ttl: 2)
            try await withClient(try lab.client(user: "operator")) { op in
                let deadline = Date().addingTimeInterval(8)
                while Date() < deadline, try await op.range(lab.layout.node("edge-1")).kvs.isEmpty { try await Task.sleep(for: .milliseconds(100)) }
                #expect(try await !op.range(lab.layout.node("edge-1")).kvs.isEmpty, "the agent did not register again")
            }
            #expect(agent.output.contains("adopted the rate limiter"), "\(agent.output)")
            #expect(try passedBytes(limiter) >= afterKill, "counters restarted")
            #expect(lab.store.all().count == 1)
            _ = try lab.iperf(seconds: 1)
            #expect(try passedBytes(limiter) > afterKill)
            // SIGTERM: a clean stop (the limiter keeps enforcing).
            let st = agent.kill(SIGTERM)
            #expect(st == 0, "exit status \(st): \(agent.output)")
        }
    }

    @Test func badCommandLinesSayWhy() throws {
        let r = try CLI.run(["fleet", "ratelimit", "add", "10.0.0.999/33", "1mbit", "--etcd", "https://127.0.0.1:1", "--pki", "/nonexistent"])
        #expect(r.status != 0 && r.stderr.contains("10.0.0.999/33"), "\(r.stderr)")
        let r2 = try CLI.run(["agent", "--node", "a/b", "--etcd", "http://127.0.0.1:1", "--interface", "x"])
        #expect(r2.status != 0 && r2.stderr.contains("not a node name"), "\(r2.stderr)")
        let r3 = try CLI.run(["fleet", "show", "--etcd", "nonsense"])
        #expect(r3.status != 0 && r3.stderr.contains("not an etcd URL"), "\(r3.stderr)")
    }

    /// VLAN maps from the fleet, with real traffic: topologies/vlan-learning.yaml (three clients
    /// on VLANs 10/20/30 sharing one IP, three workers sharing one IP, each answering with its
    /// name) and `netbpf agent --vlan-trunk trunk --vlan-worker w0 w1 w2` in sw-workers. Before
    /// any mapping nothing crosses; `netbpf fleet vlan map` sends client0 to worker1, a second
    /// change moves it to worker0 (live, same programs), `unmap` cuts it again. A mapping to a
    /// worker the node has not attached is refused with the reason in the status.
    @Test func vlanMapsFromTheFleetSteerRealTraffic() async throws {
        try await FleetLab.with(nodes: ["vl-1"]) { lab in
            let name = "flv\(getpid() % 1000)"
            try await lab.withVLANSimulation(named: name) { curl in
                let port = try EtcdServer.freePort()
                let agent = try AgentProcess(lab, node: "vl-1", listen: "127.0.0.1:\(port)", ttl: 5,
                                             controllers: ["--netns", "nb-\(name)-sw-workers", "--vlan-trunk", "trunk",
                                                           "--vlan-worker", "w0", "--vlan-worker", "w1", "--vlan-worker", "w2"])
                defer { _ = agent.kill(SIGTERM) }
                try await withClient(try lab.client(user: "operator")) { op in
                    let deadline = Date().addingTimeInterval(30)
                    while Date() < deadline, try await op.range(lab.layout.node("vl-1")).kvs.isEmpty { try await Task.sleep(for: .milliseconds(100)) }
                    #expect(try await !op.range(lab.layout.node("vl-1")).kvs.isEmpty, "the agent did not register: \(agent.output)")
                }
                #expect(try curl(0).hasPrefix("curl exit"), "client0 got through before any mapping")

                func revision(_ out: String) -> Int64 { Int64(out.trimmingCharacters(in: .whitespacesAndNewlines).replacingOccurrences(of: "revision ", with: "")) ?? -1 }
                func wait(_ rev: Int64) async throws -> AgentHealth {
                    try await withClient(try lab.client(user: "operator")) { op in try await lab.waitForStatus("vl-1", revision: rev, seconds: 15, as: op) }
                }
                let rev1 = revision(try fleet(lab, ["vlan", "map", "02:00:00:00:00:00", "w1", "--nodes", "vl-*"]))
                let h1 = try await wait(rev1)
                #expect(h1.vlanClients == 1 && h1.errors.isEmpty, "\(h1)")
                #expect(try curl(0) == "worker1")
                #expect(try curl(1).hasPrefix("curl exit"), "client1 is not mapped")
                let records = lab.store.all().filter { $0.namespace == "nb-\(name)-sw-workers" }.map(\.programID).sorted()
                #expect(records.count == 4, "trunk and three workers: \(records)")

                let rev2 = revision(try fleet(lab, ["vlan", "map", "02:00:00:00:00:00", "w0"]))
                _ = try await wait(rev2)
                #expect(try curl(0) == "worker0", "the client did not move to worker0")
                let rev3 = revision(try fleet(lab, ["vlan", "map", "02:00:00:00:00:02", "w9"]))
                let h3 = try await wait(rev3)
                #expect(h3.errors["all/vlan/02-00-00-00-00-02"]?.contains("worker 'w9' is not attached on this node") == true, "\(h3.errors)")
                #expect(h3.vlanClients == 2)   // desired; the refused one is in errors
                #expect(try curl(2).hasPrefix("curl exit"))
                let metrics = try get("http://127.0.0.1:\(port)/metrics").body
                let toWorker = metrics.split(separator: "\n").first { $0.hasPrefix("netbpf_vlan_frames_total{node=\"vl-1\",outcome=\"to-worker\"}") }
                #expect((toWorker.flatMap { Double($0.split(separator: " ").last ?? "") } ?? 0) >= 8, "two requests' frames: \(toWorker ?? "none")")

                let rev4 = revision(try fleet(lab, ["vlan", "unmap", "02:00:00:00:00:00"]))
                _ = try await wait(rev4)
                #expect(try curl(0).hasPrefix("curl exit"), "client0 still reaches a worker after unmap")
                #expect(lab.store.all().filter { $0.namespace == "nb-\(name)-sw-workers" }.map(\.programID).sorted() == records, "programs were re-attached")
                #expect(agent.kill(SIGTERM) == 0, "\(agent.output)")
                #expect(lab.store.all().filter { $0.namespace == "nb-\(name)-sw-workers" }.isEmpty, "VLAN learning left records")
            }
        }
    }
}
