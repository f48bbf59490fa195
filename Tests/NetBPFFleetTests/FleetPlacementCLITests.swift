import Foundation
import Glibc
import Testing
import NetBPFAttach
import NetBPFControllers
import NetBPFFleet
import NetBPFTestSupport

/// Placements (`netbpf fleet place`/`unplace`) with `netbpf agent` as a process, started with
/// no controller of its own.
extension FleetCLITests {
    /// Placements from etcd: an agent started with no controller attaches the rate limiter that
    /// `netbpf fleet place` puts on its interface (a record, a pinned program), fills it with a
    /// limit set afterwards (iperf3 within 10%), refuses bad placements per key with the reason
    /// while it goes on, adopts its placed limiter after a SIGKILL (same program, counters
    /// continue) and detaches it at `netbpf fleet unplace`: no record, no pins, no tc filter, and
    /// the program is gone from the kernel. HTTP blocking is placed the same way, and unplaced
    /// while no agent runs: the next agent detaches it.
    @Test func placementsAttachAndDetachControllers() async throws {
        try await FleetLab.with(nodes: ["edge-1"]) { lab in
            let port = try EtcdServer.freePort()
            var agent = try AgentProcess(lab, node: "edge-1", listen: "127.0.0.1:\(port)", ttl: 2, controllers: [])
            defer { _ = agent.kill(SIGKILL) }
            func revision(_ out: String) -> Int64 { Int64(out.split(separator: " ").last?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? -1 }
            func wait(_ rev: Int64) async throws -> AgentHealth {
                try await withClient(try lab.client(user: "operator")) { op in try await lab.waitForStatus("edge-1", revision: rev, seconds: 20, as: op) }
            }
            func limiters() -> [String] { lab.store.all().filter { $0.programName == "ratelimit" }.map { "\($0.namespace ?? "")/\($0.interface) \($0.hook)" } }
            // No controller yet: a limit is refused on this node with the reason.
            let r0 = revision(try fleet(lab, ["ratelimit", "add", "10.77.0.2", "8mbit", "--burst", "32k"]))
            let h0 = try await wait(r0)
            #expect(h0.errors["all/ratelimit/10.77.0.2"]?.contains("runs no rate limiter") == true, "\(h0.errors)")
            #expect(limiters().isEmpty)

            // Placed: the agent attaches a rate limiter to fla and applies the limit to it.
            let placed = try fleet(lab, ["place", "ratelimit", "fla", "--netns", lab.client, "--nodes", "edge-*"])
            let name = "ratelimit-\(lab.client)-fla"
            #expect(placed.hasPrefix("placement \(name): ratelimit on fla egress"), "\(placed)")
            let h1 = try await wait(revision(placed))
            #expect(h1.errors.isEmpty, "\(h1.errors)")
            #expect(h1.controllers?.map(\.placement) == [name] && h1.controllers?.first?.adopted == false, "\(String(describing: h1.controllers))")
            #expect(limiters() == ["\(lab.client)/fla egress"], "\(limiters())")
            var env = ProcessInfo.processInfo.environment
            env["NETBPF_STATE_DIR"] = lab.stateDirectory
            func list(_ dev: String, _ ns: String) throws -> String {
                try TestPrograms.run(CLI.binary, ["list", dev, "--netns", ns, "--json"], environment: env).stdout
            }
            let listed = try list("fla", lab.client)
            #expect(listed.contains("\"ratelimit\"") && listed.contains("egress"), "netbpf list: \(listed)")
            let limiter = try RateLimiter(interface: "fla", namespace: lab.client, store: lab.store)
            let programID = limiter.record.programID
            #expect(try limiter.entries().first { $0.prefix == "10.77.0.2" }?.rateBitsPerSecond == 8_000_000)
            // A limit set afterwards reaches the placed limiter, and traffic follows it.
            let h2 = try await wait(revision(try fleet(lab, ["ratelimit", "add", "10.77.0.2", "10mbit"])))
            #expect(h2.errors.isEmpty && h2.limits == 1, "\(h2)")
            #expect(try limiter.entries().first { $0.prefix == "10.77.0.2" }?.rateBitsPerSecond == 10_000_000)
            let mbit = try lab.iperf(seconds: 2)
            #expect(abs(mbit - 10) / 10 <= 0.10, "\(mbit) Mbit/s under a placed 10mbit limit")
            let status = try fleet(lab, ["status"])
            #expect(status.contains("ratelimit fla egress \(lab.client) [\(name)]"), "\(status)")
            let metrics = try get("http://127.0.0.1:\(port)/metrics").body
            #expect(metrics.contains("netbpf_ratelimit_passed_bytes_total{node=\"edge-1\",prefix=\"10.77.0.2\"}"), "\(metrics.prefix(400))")

            // Bad placements: refused per key, with the reason; the agent goes on.
            let bad: [(String, String, String)] = [
                ("placement/bgp", #"{"controller":"bgp","interface":"fla"}"#, "controller 'bgp' cannot be placed"),
                ("placement/noif", #"{"controller":"http-block"}"#, "'interface' is required"),
                ("placement/ghost", #"{"controller":"http-block","interface":"ghost0","netns":"\#(lab.client)"}"#, "interface 'ghost0' does not exist on this node"),
                ("placement/zz-second", #"{"controller":"ratelimit","interface":"lo","netns":"\#(lab.client)"}"#, "already has a ratelimit placement"),
            ]
            var last: Int64 = 0
            try await withClient(try lab.client(user: "operator")) { op in
                for (k, v, _) in bad { last = try await op.put(lab.layout.desiredAll + k, Data(v.utf8)) }
            }
            let h3 = try await wait(last)
            for (k, _, why) in bad { #expect(h3.errors["all/" + k]?.contains(why) == true, "\(k): \(h3.errors["all/" + k] ?? "no error written")") }
            #expect(limiters().count == 1 && lab.store.all().filter { $0.programName == "http_block" }.isEmpty, "\(lab.store.all().map(\.place))")
            let refusedHere = try CLI.run(["fleet", "place", "ratelimit", "a b", "--etcd", lab.etcd.endpoint, "--pki", lab.pki.directory])
            #expect(refusedHere.status != 0 && refusedHere.stderr.contains("not an interface name"), "\(refusedHere.stderr)")
            try await withClient(try lab.client(user: "operator")) { op in
                for (k, _, _) in bad { last = try await op.deleteReportingRevision(lab.layout.desiredAll + k).revision }
            }

            // HTTP blocking placed on the server's ingress: its list gets the fleet's block.
            let http = try fleet(lab, ["place", "http-block", "flb", "--netns", lab.server, "--name", "web"])
            _ = try await wait(revision(http))
            let h4 = try await wait(revision(try fleet(lab, ["http", "block", "/secret"])))
            #expect(h4.blocks == 1 && h4.errors.isEmpty, "\(h4)")
            let blocker = try HTTPBlocker(interface: "flb", namespace: lab.server, store: lab.store)
            #expect(try blocker.list.listing().map(\.entry) == [try HTTPBlockEntry.path("/secret")])

            // SIGKILL: the placed controllers stay enforcing. HTTP blocking is unplaced while no
            // agent runs; the next agent adopts the limiter (same program, counters continue),
            // detaches the blocker whose placement went, and still knows the limiter is its own.
            let before = try passedBytes(limiter)
            #expect(before > 1_000_000)
            _ = agent.kill(SIGKILL)
            #expect(limiters().count == 1)
            let blockerRecord = blocker.record
            _ = try fleet(lab, ["unplace", "web"])
            #expect(lab.store.all().contains(blockerRecord), "nothing should detach while no agent runs")
            agent = try AgentProcess(lab, node: "edge-1", listen: "127.0.0.1:\(port)", ttl: 2, controllers: [])
            // Its first apply reports the newest key's revision, older than the delete: wait on its log.
            let deadline = Date().addingTimeInterval(15)
            while Date() < deadline, !agent.output.contains("detached http_block") { try await Task.sleep(for: .milliseconds(100)) }
            #expect(agent.output.contains("adopted ratelimit on fla"), "\(agent.output)")
            #expect(agent.output.contains("detached http_block on \(lab.server)/flb ingress"), "\(agent.output)")
            #expect(!lab.store.all().contains(blockerRecord))
            #expect(lab.store.all().filter { $0.programName == "ratelimit" }.map(\.programID) == [programID])
            #expect(try passedBytes(limiter) >= before, "counters restarted")

            // Unplaced: detached, nothing left of either.
            _ = try await wait(revision(try fleet(lab, ["unplace", name])))
            #expect(lab.store.all().isEmpty, "records left: \(lab.store.all().map(\.place))")
            for dir in [limiter.record.pinDirectory, blockerRecord.pinDirectory] {
                #expect(!FileManager.default.fileExists(atPath: dir), "pins left at \(dir)")
            }
            for (ns, dev, hook) in [(lab.client, "fla", "egress"), (lab.server, "flb", "ingress")] {
                let left = try list(dev, ns)
                #expect(!left.contains("ratelimit") && !left.contains("http_block"), "netbpf list \(dev): \(left)")
                let tc = try TestPrograms.run("/usr/sbin/ip", ["netns", "exec", ns, "tc", "filter", "show", "dev", dev, hook])
                #expect(tc.stdout.isEmpty, "tc \(dev) \(hook): \(tc.stdout)")
            }
            for id in [programID, blockerRecord.programID] {
                let prog = try TestPrograms.run("/usr/sbin/bpftool", ["prog", "show", "id", String(id)])
                #expect(prog.status != 0, "program \(id) is still in the kernel: \(prog.stdout)")
            }
            #expect(agent.output.contains("detached ratelimit on fla"), "\(agent.output)")
            let h5 = try await wait(0)
            #expect(h5.controllers?.isEmpty == true && h5.errors["all/ratelimit/10.77.0.2"] != nil, "\(h5)")
            #expect(agent.kill(SIGTERM) == 0, "\(agent.output)")
        }
    }

    /// Bad placements on the command line are refused before etcd is reached: one line, the reason.
    @Test func badPlacementCommandLinesSayWhy() throws {
        let offline = ["--etcd", "https://127.0.0.1:1", "--pki", "/nonexistent"]
        for (args, says) in [(["place", "ratelimit", "a b"], "not an interface name"), (["place", "http-block", "eth0", "--name", "x y"], "not a placement name"),
                             (["unplace", "a/b"], "not a placement name"), (["place", "vlan-learning", "trunk", "--worker", "trunk"], "cannot be a worker")] {
            let r = try CLI.run(["fleet"] + args + offline)
            #expect(r.status == 1 && r.stderr.hasPrefix("netbpf: ") && r.stderr.contains(says), "\(args): \(r.stderr)")
            #expect(r.stderr.split(separator: "\n").count == 1, "\(args): \(r.stderr)")
        }
    }

    /// VLAN learning placed through the fleet on topologies/vlan-learning.yaml: the agent starts
    /// the learner on the trunk and workers, a client map steers real traffic (curl answered by
    /// worker1), `unplace` stops it (no record, no tc filter, traffic cut); placed again, the
    /// agent's SIGTERM stops it too (it lasts as long as the agent).
    @Test func vlanLearningPlacedFromTheFleet() async throws {
        try await FleetLab.with(nodes: ["vl-1"]) { lab in
            let name = "flp\(getpid() % 1000)"
            try await lab.withVLANSimulation(named: name) { curl in
                let port = try EtcdServer.freePort()
                let agent = try AgentProcess(lab, node: "vl-1", listen: "127.0.0.1:\(port)", ttl: 5, controllers: [])
                defer { _ = agent.kill(SIGTERM) }
                func revision(_ out: String) -> Int64 { Int64(out.split(separator: " ").last?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? -1 }
                func wait(_ rev: Int64) async throws -> AgentHealth {
                    try await withClient(try lab.client(user: "operator")) { op in try await lab.waitForStatus("vl-1", revision: rev, seconds: 20, as: op) }
                }
                let ns = "nb-\(name)-sw-workers"
                func records() -> [AttachmentRecordSummary] { lab.store.all().filter { $0.namespace == ns }.map { AttachmentRecordSummary(interface: $0.interface, program: $0.programName) } }
                let place = ["place", "vlan-learning", "trunk", "--netns", ns, "--worker", "w0", "--worker", "w1", "--worker", "w2", "--name", "vl"]
                let h1 = try await wait(revision(try fleet(lab, place)))
                #expect(h1.errors.isEmpty && h1.controllers?.map(\.placement) == ["vl"], "\(h1)")
                #expect(Set(records().map(\.interface)) == ["trunk", "w0", "w1", "w2"], "\(records())")
                #expect(try curl(0).hasPrefix("curl exit"), "client0 got through before any mapping")
                let h2 = try await wait(revision(try fleet(lab, ["vlan", "map", "02:00:00:00:00:00", "w1"])))
                #expect(h2.vlanClients == 1 && h2.errors.isEmpty, "\(h2)")
                #expect(try curl(0) == "worker1")
                let metrics = try get("http://127.0.0.1:\(port)/metrics").body
                #expect(metrics.contains("netbpf_vlan_frames_total{node=\"vl-1\",outcome=\"to-worker\"}"), "\(metrics.suffix(400))")

                let h3 = try await wait(revision(try fleet(lab, ["unplace", "vl"])))
                #expect(records().isEmpty, "\(records())")
                #expect(h3.errors["all/vlan/02-00-00-00-00-00"]?.contains("runs no VLAN learning") == true, "\(h3.errors)")
                let tc = try TestPrograms.run("/usr/sbin/ip", ["netns", "exec", ns, "tc", "filter", "show", "dev", "trunk", "ingress"])
                #expect(tc.stdout.isEmpty, "\(tc.stdout)")
                #expect(try curl(0).hasPrefix("curl exit"), "client0 still reaches a worker after unplace")

                // Placed again, then the agent stops: the learner goes with it.
                _ = try await wait(revision(try fleet(lab, place)))
                #expect(records().count == 4)
                #expect(try curl(0) == "worker1", "the client map was not applied to the new learner")
                #expect(agent.kill(SIGTERM) == 0, "\(agent.output)")
                #expect(records().isEmpty, "VLAN learning left records: \(records())")
            }
        }
    }
}

/// Where a record is and which program, for readable test messages.
struct AttachmentRecordSummary: CustomStringConvertible {
    var interface: String
    var program: String
    var description: String { "\(program)@\(interface)" }
}
