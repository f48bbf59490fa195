import Foundation
import Glibc
import Testing
import CNetBPFProgramTypes
import NetBPF
import NetBPFAttach
import NetBPFCompiler
import NetBPFControllers
import NetBPFNetlink
import NetBPFTestSupport

/// The distributed bridge on topologies/distributed-bridge.yaml: three hosts on an underlay
/// switch, tenants host<i>-a (VNI 10000, 99.1.0.<i+1>) and host<i>-b (VNI 10001, 99.1.1.<i+1>).
/// Each test brings the simulation up and always down (SimLab checks nothing is left), and checks
/// that the bridge leaves no VXLAN device, route, filter, pin or record behind.
@Suite(.serialized, .enabled(if: TestEnvironment.isRoot, "requires root: namespaces, VXLAN, tc programs"))
struct BridgeTests {
    static let vnis: [UInt32] = [10000, 10001]
    static func tenantMAC(vni: Int, host: Int) -> String { "02:00:00:00:0\(vni):0\(host)" }
    static func tenantIP(vni: Int, host: Int) -> String { "99.1.\(vni).\(host + 1)" }
    static func underlayIP(_ host: Int) -> String { "172.16.1.10\(host)" }

    struct Lab {
        let name: String
        let stateDir: String
        var store: AttachmentStore { AttachmentStore(directory: stateDir + "/attach") }
        func ns(_ host: String) -> String { "nb-\(name)-\(host)" }
        func host(_ i: Int) -> String { ns("host\(i)") }
        func tenant(vni: Int, host: Int) -> String { ns("host\(host)-\(vni == 0 ? "a" : "b")") }

        func config(_ i: Int, vnis: [Int] = [0, 1], mesh: Bool = false) throws -> BridgeConfig {
            try BridgeConfig.fromArguments(underlay: "eth0", vnis: vnis.map { "\(BridgeTests.vnis[$0])=ten\($0)" },
                                           mesh: mesh ? (0..<3).filter { $0 != i }.map(BridgeTests.underlayIP) : [],
                                           group: nil, vxlan: nil, namespace: host(i))
        }

        /// What a bridge could leave behind in the hosts: its VXLAN device, the multicast route,
        /// tc filters on the ports, attachment records.
        func leftovers() -> [String] {
            var out = store.all().map { "record \($0.place) \($0.programName)" }
            for i in 0..<3 {
                if let sock = try? NetlinkSocket(namespace: host(i)) {
                    if (try? sock.interfaceExists(.name("vxlan0"))) == true { out.append("vxlan0 in host\(i)") }
                    for r in (try? sock.routes(family: .v4)) ?? [] where r.destination?.description == "224.0.0.0/4" { out.append("multicast route in host\(i)") }
                }
                for port in ["ten0", "ten1"] {
                    let tc = (try? SimLab.inNamespace(host(i), ["tc", "filter", "show", "dev", port, "ingress"]))?.stdout ?? ""
                    if tc.contains("bpf") { out.append("tc filter on host\(i):\(port)") }
                }
            }
            return out
        }

        /// ping from a tenant: true when all `count` replies came back (0% loss).
        func ping(vni: Int, from: Int, to: Int, count: Int = 3) throws -> Bool {
            let r = try SimLab.inNamespace(tenant(vni: vni, host: from), ["ping", "-n", "-q", "-c", "\(count)", "-i", "0.1", "-W", "2",
                                                                          BridgeTests.tenantIP(vni: vni, host: to)])
            return r.status == 0 && r.stdout.contains(" 0% packet loss")
        }
    }

    func withLab<T>(_ body: (Lab) throws -> T) throws -> T {
        let name = SimLab.name("db")
        let stateDir = FileManager.default.temporaryDirectory.appendingPathComponent("nbdb-state-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        defer { try? FileManager.default.removeItem(atPath: stateDir) }
        return try SimLab.withSimulation(SimLab.topology("distributed-bridge"), name: name) { _ in
            let lab = Lab(name: name, stateDir: stateDir)
            defer {
                let left = lab.leftovers()
                #expect(left.isEmpty, "bridge left behind: \(left)")
                for r in lab.store.all() { try? Attacher(store: lab.store).undo(r) }
            }
            return try body(lab)
        }
    }

    /// Multicast mode through the CLI on all three hosts: every tenant pings every other host's
    /// tenant on both VNIs with 0% loss; each host's learned table holds exactly the other hosts'
    /// tenant MACs, each under its own VNI and behind the right remote; SIGINT undoes everything.
    @Test func everyHostReachesEveryOtherOnBothVNIsThroughTheCLI() throws {
        try withLab { lab in
            let bridges = try (0..<3).map { i in
                try SimLab.Spawned([CLI.binary, "bridge", "--json", "--interval", "0.5", "--netns", lab.host(i), "--underlay", "eth0",
                                    "--vni", "10000=ten0", "--vni", "10001=ten1"], environment: ["NETBPF_STATE_DIR": lab.stateDir])
            }
            for b in bridges {
                let deadline = Date().addingTimeInterval(30)
                while b.stdout.isEmpty, Date() < deadline, b.wait(timeout: 0.05) == nil {}
                try #require(!b.stdout.isEmpty, "bridge did not start: \(b.stderr)")
            }
            for vni in 0..<2 {
                for from in 0..<3 {
                    for to in 0..<3 where to != from {
                        #expect(try lab.ping(vni: vni, from: from, to: to), "host\(from) -> host\(to) on VNI \(Self.vnis[vni]) lost packets")
                    }
                }
            }
            for b in bridges { b.signal(SIGINT) }
            for (i, b) in bridges.enumerated() {
                #expect(b.wait(timeout: 15) == 0, "bridge on host\(i): \(b.stderr)")
                let reports = b.stdout.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
                let final = try #require(reports.last)
                #expect(final["final"] as? Bool == true)
                #expect(final["mode"] as? String == "multicast" && final["local"] as? String == Self.underlayIP(i))
                let learned = final["learned"] as? [[String: Any]] ?? []
                var expected: Set<String> = []
                for vni in 0..<2 { for j in 0..<3 where j != i { expected.insert("\(Self.tenantMAC(vni: vni, host: j)) \(Self.vnis[vni]) \(Self.underlayIP(j))") } }
                let seen = Set(learned.map { "\($0["mac"] as? String ?? "?") \($0["vni"] as? Int ?? -1) \($0["remote"] as? String ?? "?")" })
                #expect(seen == expected, "host\(i) learned \(seen.sorted()), expected \(expected.sorted())")
                for e in learned {
                    // Each of the two other hosts pinged this one (3 requests) and was pinged by it (3 replies).
                    #expect((e["rxPackets"] as? Int ?? 0) >= 6 && (e["txPackets"] as? Int ?? 0) >= 6, "host\(i): \(e)")
                }
                let totals = Dictionary(((final["totals"] as? [[String: Any]]) ?? []).map { ($0["outcome"] as? String ?? "", $0["packets"] as? Int ?? 0) }, uniquingKeysWith: +)
                for drop in ["no-tunnel-key", "unknown-vni", "loop", "no-vni-port", "no-flood-destination", "error"] {
                    #expect(totals[drop] == 0, "host\(i) dropped \(drop): \(totals)")
                }
            }
            #expect(lab.leftovers().isEmpty)
            // Undone: the tenants are cut off again.
            #expect(try !lab.ping(vni: 0, from: 0, to: 1, count: 1))
        }
    }

    /// Mesh mode through the library: traffic on VNI 10000 only leaves every VNI 10001 counter at
    /// zero on every host, and the other way round; per-VNI rx on a host equals the tx the other
    /// hosts sent on that VNI (static neighbours: no ARP, exact counts).
    @Test func vniTrafficNeverShowsInTheOtherVNI() throws {
        try withLab { lab in
            // Static neighbours so that each ping is exactly its echo request and reply.
            for vni in 0..<2 {
                for i in 0..<3 {
                    for j in 0..<3 where j != i {
                        _ = try SimLab.inNamespace(lab.tenant(vni: vni, host: i), ["ip", "neigh", "replace", Self.tenantIP(vni: vni, host: j), "lladdr",
                                                                                   Self.tenantMAC(vni: vni, host: j), "dev", "eth0", "nud", "permanent"])
                    }
                }
            }
            let bridges = try (0..<3).map { try DistributedBridge.start(try lab.config($0, mesh: true), store: lab.store) }
            defer { bridges.forEach { $0.stop() } }
            // Nothing is learned before a frame arrives: the first request of each pair is flooded
            // to both remotes (mesh), the reply teaches the sender.
            for from in 0..<3 { for to in 0..<3 where to != from { #expect(try lab.ping(vni: 0, from: from, to: to, count: 4), "VNI 10000 host\(from) -> host\(to)") } }
            // Before a MAC is learned its frames are flooded to both other hosts: the third host
            // receives that copy too (at most one per host here), so rx is exact up to those.
            var rxAfterVNI0: [UInt64] = []
            var sentCopies: UInt64 = 0, received: UInt64 = 0
            for (i, b) in bridges.enumerated() {
                let r = try b.report()
                let a = try #require(r.vni(10000)), other = try #require(r.vni(10001))
                #expect(other.rxPackets == 0 && other.txPackets == 0 && other.floodedPackets == 0 && other.droppedPackets == 0 && other.learnedMACs == 0,
                        "host\(i): VNI 10001 saw VNI 10000's traffic: \(other)")
                // 2 peers x (4 requests + 4 replies) sent and received; a frame to a MAC not
                // learned yet was flooded instead of sent unicast.
                #expect(a.txPackets + a.floodedPackets == 16, "host\(i) VNI 10000 tx: \(a)")
                #expect((16...18).contains(a.rxPackets), "host\(i) VNI 10000 rx: \(a)")
                #expect(a.floodCopies == 2 * a.floodedPackets, "mesh floods to both other hosts: \(a)")
                #expect(r.learned.allSatisfy { $0.vni == 10000 && $0.mac.description.hasPrefix("02:00:00:00:00:") }, "host\(i): \(r.learned)")
                #expect(r.mode == "mesh" && r.floodTo.count == 2)
                rxAfterVNI0.append(a.rxPackets)
                sentCopies += a.txPackets + a.floodCopies
                received += a.rxPackets
            }
            #expect(sentCopies == received, "every frame sent into the tunnel on VNI 10000 was delivered once")
            for from in 0..<3 { for to in 0..<3 where to != from { #expect(try lab.ping(vni: 1, from: from, to: to, count: 2), "VNI 10001 host\(from) -> host\(to)") } }
            for (i, b) in bridges.enumerated() {
                let r = try b.report()
                let a = try #require(r.vni(10000)), other = try #require(r.vni(10001))
                #expect(a.rxPackets == rxAfterVNI0[i] && a.txPackets + a.floodedPackets == 16, "host\(i): VNI 10000 counters moved with VNI 10001 traffic: \(a)")
                #expect((8...10).contains(other.rxPackets) && other.txPackets + other.floodedPackets == 8, "host\(i) VNI 10001: \(other)")
                for j in 0..<3 where j != i {
                    for vni in 0..<2 {
                        let e = try #require(r.entry(try EthernetAddress(Self.tenantMAC(vni: vni, host: j)), vni: Self.vnis[vni]), "host\(i) did not learn host\(j)'s VNI \(Self.vnis[vni]) tenant")
                        #expect(e.remote == Self.underlayIP(j) && e.port == "ten\(vni)", "host\(i): \(e)")
                        // The other host's tenant pinged this one and answered its pings.
                        let n: UInt64 = vni == 0 ? 8 : 4
                        #expect(e.rxPackets >= n && e.rxPackets <= n + 1, "host\(i): \(e)")
                    }
                }
            }
            bridges.forEach { $0.stop() }
            #expect(lab.leftovers().isEmpty)
        }
    }

    /// A VNI that is not configured is a counted drop with the remote that sent it; the tenant
    /// port without a mapped VNI on the receiving side never sees the frame.
    @Test func unknownVNIIsCountedDrop() throws {
        try withLab { lab in
            let host0 = try DistributedBridge.start(try lab.config(0, vnis: [0], mesh: true), store: lab.store)
            defer { host0.stop() }
            let host1 = try DistributedBridge.start(try lab.config(1, mesh: true), store: lab.store)
            defer { host1.stop() }
            #expect(try !lab.ping(vni: 1, from: 1, to: 0, count: 2))
            let r = try host0.report()
            let u = try #require(r.unknownVNIs.first, "no unknown VNI counted: \(r.totals)")
            #expect(u.vni == 10001 && u.lastRemote == Self.underlayIP(1) && u.packets >= 1, "\(u)")
            #expect(r.total(.unknownVNI)?.packets == u.packets)
            #expect(r.total(.delivered)?.packets == 0 && r.learned.isEmpty)
            #expect(try lab.ping(vni: 0, from: 1, to: 0, count: 2), "VNI 10000 still works")
        }
    }

    /// Bad input: every error is one line naming the value, and nothing is created.
    @Test func badInputIsAClearError() throws {
        try withLab { lab in
            func error(_ body: () throws -> Void) -> String {
                do { try body(); return "no error" } catch { return "\(error)" }
            }
            // A VXLAN device with a fixed VNI is not external.
            _ = try SimLab.inNamespace(lab.host(0), ["ip", "link", "add", "vx9", "type", "vxlan", "id", "42", "dstport", "4790", "dev", "eth0", "remote", "172.16.1.101"])
            var cfg = try lab.config(0)
            cfg.vxlan = "vx9"
            #expect(error { _ = try DistributedBridge.start(cfg, store: lab.store) }.contains("is not in external (collect-metadata) mode: it has the fixed VNI 42"))
            _ = try SimLab.inNamespace(lab.host(0), ["ip", "link", "del", "vx9"])
            cfg = try lab.config(0, vnis: [0])
            cfg.vxlan = "ten1"
            #expect(error { _ = try DistributedBridge.start(cfg, store: lab.store) }.contains("is a veth device, not a VXLAN device"))
            #expect(error { _ = try lab.config(0, mesh: false).with { $0.ports[0].interface = "nope" }.start(lab.store) }.contains("tenant port of VNI 10000 'nope' does not exist"))
            #expect(error { _ = try BridgeConfig.fromArguments(underlay: "eth0", vnis: ["10000=ten0"], mesh: ["host1"], group: nil, vxlan: nil, namespace: nil) }
                .contains("--mesh 'host1' is not an IPv4 address"))
            #expect(error { _ = try BridgeConfig.fromArguments(underlay: "eth0", vnis: ["10000=ten0"], mesh: ["239.1.1.1"], group: nil, vxlan: nil, namespace: nil) }
                .contains("is a multicast address"))
            #expect(error { _ = try BridgeConfig.fromArguments(underlay: "eth0", vnis: ["0=ten0"], mesh: [], group: nil, vxlan: nil, namespace: nil) }
                .contains("'0' is not a VNI"))
            #expect(error { _ = try BridgeConfig.fromArguments(underlay: "eth0", vnis: ["10000=ten0", "10000=ten1"], mesh: [], group: nil, vxlan: nil, namespace: nil) }
                .contains("--vni 10000 given twice"))
            #expect(error { _ = try BridgeConfig.fromArguments(underlay: "eth0", vnis: ["10000=ten0"], mesh: [], group: "10.0.0.1", vxlan: nil, namespace: nil) }
                .contains("is not a multicast address"))
            // Interface names are the bridge's own errors (not another controller's).
            #expect(throws: ControllerError.self) { _ = try BridgeConfig.fromArguments(underlay: "eth0/x", vnis: ["10000=ten0"], mesh: [], group: nil, vxlan: nil, namespace: nil) }
            #expect(error { _ = try BridgeConfig.fromArguments(underlay: "eth0", vnis: ["10000=a-very-long-name0"], mesh: [], group: nil, vxlan: nil, namespace: nil) }
                .contains("--vni 10000=a-very-long-name0: 'a-very-long-name0' is not an interface name"))
            var noNS = try lab.config(0)
            noNS.namespace = "nb-no-such-namespace"
            #expect(error { _ = try DistributedBridge.start(noNS, store: lab.store) }.contains("network namespace 'nb-no-such-namespace' does not exist"))
            // The CLI: one line on stderr, exit 1.
            let cli = try SimLab.netbpf(["bridge", "--netns", lab.host(0), "--underlay", "eth0", "--vni", "10000=ten0", "--mesh", "1.2.3"])
            #expect(cli.status == 1 && cli.stderr == "netbpf: --mesh '1.2.3' is not an IPv4 address; hint: the underlay address of a remote host, e.g. --mesh 172.16.1.101\n", "\(cli)")
            #expect(lab.leftovers().isEmpty)
        }
    }

    /// A frame without tunnel metadata on the tunnel program (BPF_PROG_TEST_RUN: no tunnel key)
    /// is dropped and counted as no-tunnel-key.
    @Test func frameWithoutTunnelKeyIsCountedDrop() throws {
        let compiled = try BPFCompiler().compile(file: TestPrograms.repositoryRoot.appendingPathComponent("programs/distributed_bridge.bpf.c").path)
        let object = try compiled.open().load()
        var frame = [UInt8](repeating: 0, count: 64)
        frame.replaceSubrange(0..<6, with: [0xff, 0xff, 0xff, 0xff, 0xff, 0xff])
        frame.replaceSubrange(6..<12, with: [2, 0, 0, 0, 0, 1])
        frame[12] = 0x08; frame[13] = 0x06
        let r = try object.program(named: "db_tunnel_ingress").testRun(data: frame)
        #expect(r.returnValue == 2, "TC_ACT_SHOT")
        let totals = try ArrayMap<db_total>(object.map(named: "db_totals"))
        #expect(try totals.get(DB_DROP_NO_TUNNEL_KEY.rawValue).packets == 1, "DB_DROP_NO_TUNNEL_KEY")
        #expect(try totals.get(DB_RX_DELIVERED.rawValue).packets == 0)
        // And the port program on an interface no VNI is mapped to.
        let p = try object.program(named: "db_port_ingress").testRun(data: frame)
        #expect(p.returnValue == 2)
        #expect(try totals.get(DB_DROP_NO_VNI_PORT.rawValue).packets == 1, "DB_DROP_NO_VNI_PORT")
    }
}

extension BridgeConfig {
    fileprivate func with(_ change: (inout BridgeConfig) -> Void) -> BridgeConfig { var c = self; change(&c); return c }
    fileprivate func start(_ store: AttachmentStore) throws -> DistributedBridge { try DistributedBridge.start(self, store: store) }
}
