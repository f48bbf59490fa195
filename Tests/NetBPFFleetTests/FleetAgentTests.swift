import Foundation
import Glibc
import Testing
import NetBPFControllers
import NetBPFFleet
import NetBPFTestSupport

/// The agent against a real etcd (TLS, auth) and a real rate limiter with real traffic.
@Suite(.serialized, .enabled(if: FleetLab.canRun, "requires root, /usr/bin/etcd (etcd-server) and openssl"))
struct FleetAgentTests {
    /// A limit set through the operator reaches the limiter's maps live (no re-attach): the
    /// program id stays, iperf3 gets the rate within 10%, and the status says the revision.
    /// Bad values are refused one by one with the reason written back; the agent goes on.
    @Test func appliesLimitsLiveAndRefusesBadValuesPerKey() async throws {
        try await FleetLab.with { lab in
            let limiter = try lab.attachLimiter()
            let programID = limiter.record.programID
            try await withClient(try lab.client(user: "operator")) { op in
                let fleet = FleetOperator(etcd: op, layout: lab.layout)
                try await withAgent(lab, node: "n1", target: limiter) { agent in
                    let rev = try await fleet.setLimit(prefix: "10.77.0.2/32", rate: "20mbit", burst: nil, nodes: "n*")
                    let status = try await lab.waitForStatus("n1", revision: rev, as: op)
                    #expect(status.errors.isEmpty && status.limits == 1)
                    #expect(try limiter.entries().first { $0.prefix == "10.77.0.2" }?.rateBitsPerSecond == 20_000_000)
                    let mbit = try lab.iperf()
                    #expect(abs(mbit - 20) / 20 <= 0.10, "iperf3 got \(mbit) Mbit/s under a 20mbit limit")

                    // Malformed values written around the operator's checks.
                    let bad: [(String, String, String)] = [
                        ("ratelimit/json", "{not json", "not JSON"),
                        ("ratelimit/unknown", #"{"prefix":"10.5.0.0/16","rate":"1mbit","colour":"red"}"#, "unknown key 'colour'"),
                        ("ratelimit/fast", #"{"prefix":"10.6.0.0/16","rate":"fast"}"#, "'fast' is not a rate"),
                        ("ratelimit/prefix", #"{"prefix":"10.0.0.999/33","rate":"1mbit"}"#, "10.0.0.999/33"),
                    ]
                    var last: Int64 = 0
                    for (k, v, _) in bad { last = try await op.put(lab.layout.desiredAll + k, Data(v.utf8)) }
                    let refused = try await lab.waitForStatus("n1", revision: last, as: op)
                    for (k, _, why) in bad {
                        #expect(refused.errors["all/" + k]?.contains(why) == true, "\(k): \(refused.errors["all/" + k] ?? "no error written")")
                    }
                    // Still running and applying: a change after the bad ones lands.
                    let rev2 = try await fleet.setLimit(prefix: "10.77.0.2/32", rate: "10mbit", burst: nil)
                    _ = try await lab.waitForStatus("n1", revision: rev2, as: op)
                    #expect(try limiter.entries().first { $0.prefix == "10.77.0.2" }?.rateBitsPerSecond == 10_000_000)
                    #expect(agent.health.withLock { $0.etcdConnected })
                    // The node's lease-bound registration is there.
                    #expect(try await op.range(lab.layout.node("n1")).kvs.first?.lease ?? 0 != 0)
                }
            }
            let after = try #require(lab.store.all().first)
            #expect(after.programID == programID, "the program was re-attached")
        }
    }

    /// etcd is stopped for 10 s, then two changes follow its return: the agent keeps enforcing
    /// meanwhile, reconnects, and ends on the last revision, applied exactly once.
    @Test func etcdOutageNoMissedChangeNoDoubleApply() async throws {
        try await FleetLab.with { lab in
            let limiter = try lab.attachLimiter()
            try await withAgent(lab, node: "n1", target: limiter, ttl: 5) { agent in
                let r0 = try await withClient(try lab.client(user: "operator")) { op in
                    let fleet = FleetOperator(etcd: op, layout: lab.layout)
                    let r0 = try await fleet.setLimit(prefix: "10.77.0.2", rate: "5mbit", burst: nil)
                    _ = try await lab.waitForStatus("n1", revision: r0, as: op)
                    return r0
                }
                lab.etcd.stop()
                try await Task.sleep(for: .seconds(10))
                #expect(agent.health.withLock { !$0.etcdConnected })
                #expect(try limiter.entries().first { $0.prefix == "10.77.0.2" }?.rateBitsPerSecond == 5_000_000, "enforcement lapsed while etcd was down")
                try lab.etcd.start()
                try await withClient(try lab.client(user: "operator")) { op in
                    let fleet = FleetOperator(etcd: op, layout: lab.layout)
                    let r1 = try await fleet.setLimit(prefix: "10.77.0.2", rate: "6mbit", burst: nil)
                    let r2 = try await fleet.setLimit(prefix: "10.77.0.2", rate: "7mbit", burst: nil)
                    let h = try await lab.waitForStatus("n1", revision: r2, seconds: 15, as: op)
                    #expect(h.revision == r2)
                    #expect(h.history.filter { $0 == r2 }.count == 1, "history \(h.history)")
                    #expect(h.history.filter { $0 == r1 }.count <= 1, "history \(h.history)")
                    #expect(h.history.filter { $0 == r0 }.count == 1, "history \(h.history)")
                    #expect(h.reconnects >= 1)
                    #expect(try limiter.entries().first { $0.prefix == "10.77.0.2" }?.rateBitsPerSecond == 7_000_000)
                }
            }
        }
    }

    /// Only the operator changes policy: no certificate -> no TLS; a node's certificate and
    /// user -> etcd refuses writes to every desired key (its own too); no agent applies anything.
    @Test func onlyTheOperatorChangesLimits() async throws {
        try await FleetLab.with { lab in
            let limiter = try lab.attachLimiter()
            try await withAgent(lab, node: "n1", target: limiter) { _ in
                try await withClient(try lab.client(user: "operator")) { op in
                    let r0 = try await FleetOperator(etcd: op, layout: lab.layout).setLimit(prefix: "10.77.0.2", rate: "5mbit", burst: nil)
                    _ = try await lab.waitForStatus("n1", revision: r0, as: op)

                    let value = Data(#"{"prefix":"10.77.0.2","rate":"100gbit"}"#.utf8)
                    let noCert = try EtcdClient(endpoint: lab.etcd.endpoint, tls: .init(caFile: lab.pki.path("ca.crt"), certFile: nil, keyFile: nil), credentials: nil)
                    await #expect(throws: FleetError.self) { try await noCert.put(lab.layout.desiredAll + "ratelimit/x", value) }
                    await noCert.close()
                    let certNoUser = try EtcdClient(endpoint: lab.etcd.endpoint, tls: lab.pki.tls(user: "node-n2"), credentials: nil)
                    await #expect(throws: FleetError.self) { try await certNoUser.put(lab.layout.desiredAll + "ratelimit/x", value) }
                    await certNoUser.close()
                    try await withClient(try lab.client(user: "node-n2")) { node in
                        for key in [lab.layout.desiredAll + "ratelimit/x", lab.layout.desiredNode("n1") + "ratelimit/x",
                                    lab.layout.desiredNode("n2") + "ratelimit/x", lab.layout.status("n1")] {
                            await #expect(throws: FleetError.self, "\(key) was writable by node n2") { try await node.put(key, value) }
                        }
                        // What a node may do: write its own status and registration.
                        try await node.put(lab.layout.status("n2"), Data("{}".utf8))
                    }
                    try await Task.sleep(for: .seconds(1))
                    #expect(try await op.range(lab.layout.desired, prefix: true).kvs.count == 1)
                    #expect(try limiter.entries().first { $0.prefix == "10.77.0.2" }?.rateBitsPerSecond == 5_000_000)
                    let h = try await lab.waitForStatus("n1", revision: r0, as: op)
                    #expect(h.revision == r0 && h.history == [r0])
                }
            }
        }
    }

    /// HTTP blocking from the fleet: a path blocked through the operator reaches the node's
    /// http_block list live (same program id): curl of it fails (the request is dropped),
    /// other paths still answer, the entry counts the drops; unblock lifts it. Malformed http/
    /// and vlan/ values, and keys of a controller the node does not run, are refused per key
    /// with the reason written back, and the agent goes on.
    @Test func httpBlocksApplyLiveAndBadValuesAreRefusedPerKey() async throws {
        try await FleetLab.with { lab in
            let blocker = try HTTPBlocker.attach(interface: "flb", namespace: lab.server, store: lab.store)
            let programID = blocker.record.programID
            let server = Process()
            server.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
            server.arguments = ["netns", "exec", lab.server, "python3", "-m", "http.server", "8080", "--bind", "10.77.0.2", "--directory", "/usr/share/doc"]
            server.standardOutput = FileHandle.nullDevice
            server.standardError = FileHandle.nullDevice
            try server.run()
            // SIGKILL: the test process's threads block SIGTERM, and a spawned child inherits that mask.
            defer { kill(server.processIdentifier, SIGKILL); server.waitUntilExit() }
            /// (HTTP code, curl exit status) of GET PATH from the client.
            func get(_ path: String) throws -> (code: String, exit: Int32) {
                let r = try TestPrograms.run("/usr/sbin/ip", ["netns", "exec", lab.client, "curl", "-s", "-o", "/dev/null", "-m", "2",
                                                              "-w", "%{http_code}", "http://10.77.0.2:8080" + path])
                return (r.stdout, r.status)
            }
            var first = (code: "", exit: Int32(-1))
            for _ in 0..<50 where first.code != "404" { first = try get("/secret/a"); usleep(100_000) }
            #expect(first.code == "404", "the server did not answer: \(first)")

            try await withClient(try lab.client(user: "operator")) { op in
                let fleet = FleetOperator(etcd: op, layout: lab.layout)
                try await withAgent(lab, node: "n1", targets: NodeTargets(httpBlock: blocker.list)) { agent in
                    let secret = try HTTPBlockEntry.path("/secret")
                    let rev = try await fleet.block(secret, nodes: "n*")
                    let status = try await lab.waitForStatus("n1", revision: rev, as: op)
                    #expect(status.errors.isEmpty && status.blocks == 1 && status.vlanClients == nil, "\(status)")
                    #expect(try blocker.list.listing().map(\.entry) == [secret])
                    let blocked = try get("/secret/a")
                    #expect(blocked.code == "000" && blocked.exit == 28, "GET /secret/a under the block: \(blocked)")
                    #expect(try get("/").code == "200")
                    #expect(try blocker.list.listing().first?.hits ?? 0 >= 1)

                    let bad: [(String, String, String)] = [
                        ("http/relative", #"{"path":"admin"}"#, "does not start with '/'"),
                        ("http/both", #"{"path":"/a","host":"example.com"}"#, "exactly one of 'path'"),
                        ("http/long", #"{"path":"/\#(String(repeating: "a", count: 80))"}"#, "at most 64"),
                        ("http/colour", #"{"path":"/a","colour":"red"}"#, "unknown key 'colour'"),
                        ("vlan/mac", #"{"mac":"02:00:00:00:00:zz","worker":"w1"}"#, "not a MAC address"),
                        ("vlan/group", #"{"mac":"01:00:5e:00:00:01","worker":"w1"}"#, "not a unicast address"),
                        ("vlan/noworker", #"{"mac":"02:00:00:00:00:01"}"#, "'worker' is required"),
                        ("vlan/good", #"{"mac":"02:00:00:00:00:01","worker":"w1"}"#, "runs no VLAN learning"),
                        ("ratelimit/good", #"{"prefix":"10.5.0.0/16","rate":"1mbit"}"#, "runs no rate limiter"),
                    ]
                    var last: Int64 = 0
                    for (k, v, _) in bad { last = try await op.put(lab.layout.desiredAll + k, Data(v.utf8)) }
                    let refused = try await lab.waitForStatus("n1", revision: last, as: op)
                    for (k, _, why) in bad {
                        #expect(refused.errors["all/" + k]?.contains(why) == true, "\(k): \(refused.errors["all/" + k] ?? "no error written")")
                    }
                    #expect(refused.errors.count == bad.count, "\(refused.errors)")
                    #expect(try get("/secret/a").code == "000", "the block went away with the bad keys")

                    let rev2 = try await fleet.unblock(secret)
                    let h = try await lab.waitForStatus("n1", revision: rev2, as: op)
                    #expect(h.blocks == 0 && agent.health.withLock { $0.etcdConnected })
                    #expect(try blocker.list.listing().isEmpty)
                    #expect(try get("/secret/a").code == "404", "still blocked after unblock")
                }
            }
            #expect(lab.store.all().first { $0.programName == "http_block" }?.programID == programID, "the program was re-attached")
            try blocker.detach(store: lab.store)
        }
    }
}
