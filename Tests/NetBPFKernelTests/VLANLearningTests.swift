import Foundation
import Glibc
import Testing
import NetBPF
import NetBPFAttach
import NetBPFControllers
import NetBPFNetlink
import NetBPFSim
import NetBPFTestSupport

/// VLAN learning on topologies/vlan-learning.yaml: clients on VLANs 10/20/30 all 172.16.1.100,
/// workers all 172.16.1.5, `netbpf vlan-learn` (or VLANLearner) on the workers' end of the trunk.
/// Each test brings the simulation up and always down (SimLab.withSimulation checks that nothing
/// is left), and checks that the learner leaves no attachment, pin or record behind.
@Suite(.serialized, .enabled(if: TestEnvironment.isRoot, "requires root: namespaces, tc programs, AF_PACKET"))
struct VLANLearningTests {
    static let clientMACs = (0..<3).map { "02:00:00:00:00:0\($0)" }
    static let workerMACs = (0..<3).map { "02:00:00:00:01:0\($0)" }

    /// A running vlan-learning simulation and a private attachment store.
    struct Lab {
        let name: String
        let stateDir: String
        var store: AttachmentStore { AttachmentStore(directory: stateDir + "/attach") }
        func ns(_ host: String) -> String { "nb-\(name)-\(host)" }
        var learnerNS: String { ns("sw-workers") }

        func config(clients: [Int] = [0, 1, 2]) throws -> VLANLearningConfig {
            try VLANLearningConfig.fromArguments(trunk: "trunk", maps: clients.map { "\(VLANLearningTests.clientMACs[$0])=w\($0)" }, namespace: learnerNS)
        }

        /// Packet and byte counters of an interface: (tx packets, tx bytes, rx packets, rx bytes).
        func counters(_ host: String, _ interface: String) throws -> (txPackets: Int, txBytes: Int, rxPackets: Int, rxBytes: Int) {
            let r = try TestPrograms.run("/usr/sbin/ip", ["-n", ns(host), "-s", "-j", "link", "show", interface])
            let all = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]]
            let stats = try #require(all?.first?["stats64"] as? [String: [String: Any]], "ip -s link show \(interface): \(r.stderr)")
            func n(_ d: String, _ k: String) -> Int { stats[d]?[k] as? Int ?? -1 }
            return (n("tx", "packets"), n("tx", "bytes"), n("rx", "packets"), n("rx", "bytes"))
        }

        /// Pins and attachment records the learner could have left.
        func leftovers() -> [String] {
            var out = store.all().map { "record \($0.place) \($0.programName)" }
            if access(Pinning.root + "/" + learnerNS, F_OK) == 0 { out.append("pins under \(Pinning.root)/\(learnerNS)") }
            return out
        }

        /// `curl http://172.16.1.5/PATH` from a client: (status, body, HTTP code).
        func curl(_ client: Int, _ path: String = "/") throws -> (status: Int32, body: String, code: String) {
            let r = try SimLab.inNamespace(ns("client\(client)"), ["curl", "-s", "-m", "3", "-w", "\n%{http_code}", "http://172.16.1.5\(path)"])
            let lines = r.stdout.split(separator: "\n", omittingEmptySubsequences: false)
            return (r.status, lines.dropLast().joined(separator: "\n").trimmingCharacters(in: .whitespacesAndNewlines), String(lines.last ?? ""))
        }
    }

    func withLab<T>(_ body: (Lab) throws -> T) throws -> T {
        let name = SimLab.name("vl")
        let stateDir = FileManager.default.temporaryDirectory.appendingPathComponent("nbvl-state-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        defer { try? FileManager.default.removeItem(atPath: stateDir) }
        return try SimLab.withSimulation(SimLab.topology("vlan-learning"), name: name) { _ in
            let lab = Lab(name: name, stateDir: stateDir)
            defer {
                // Whatever happened, nothing of the learner may be left (also checked before the
                // namespace goes: a pin would outlive it).
                let left = lab.leftovers()
                #expect(left.isEmpty, "vlan-learn left behind: \(left)")
                for r in lab.store.all() { try? Attacher(store: lab.store).undo(r) }
            }
            return try body(lab)
        }
    }

    /// Sends raw frames (hex) out of `interface` of `host` on an AF_PACKET socket.
    func inject(_ lab: Lab, host: String, interface: String, frames: [String]) throws {
        let script = """
        import socket, sys
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
        s.bind((sys.argv[1], 0))
        for f in sys.argv[2:]:
            b = bytes.fromhex(f)
            s.send(b + bytes(max(0, 60 - len(b))))
        """
        let r = try SimLab.inNamespace(lab.ns(host), ["python3", "-c", script, interface] + frames)
        try #require(r.status == 0, "inject: \(r.stderr)")
    }

    /// `netbpf vlan-learn` in the background with JSON reports; the reports it printed.
    final class LearnCommand {
        let process: SimLab.Spawned
        init(_ lab: Lab, arguments: [String]) throws {
            process = try SimLab.Spawned([CLI.binary, "vlan-learn", "--json", "--interval", "0.3"] + arguments,
                                         environment: ["NETBPF_STATE_DIR": lab.stateDir])
            // The first report comes after the programs are attached.
            let deadline = Date().addingTimeInterval(30)
            while process.stdout.isEmpty, Date() < deadline, process.wait(timeout: 0.05) == nil {}
        }
        var reports: [[String: Any]] {
            process.stdout.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        }
        func client(_ report: [String: Any]?, _ mac: String) -> [String: Any]? {
            (report?["clients"] as? [[String: Any]])?.first { $0["mac"] as? String == mac }
        }
    }

    // MARK: HTTP through the CLI

    /// Each client's requests reach its own worker (which answers with its name) and get 200,
    /// although all clients share 172.16.1.100 and all workers 172.16.1.5; the per-MAC rx/tx
    /// packets and bytes equal what each client's interface sent and received, including ARP;
    /// SIGINT detaches everything and the network is cut again.
    @Test func httpReachesEachClientsOwnWorkerAndCountersMatch() throws {
        try withLab { lab in
            let before = try (0..<3).map { try lab.counters("client\($0)", "eth0") }
            let learn = try LearnCommand(lab, arguments: ["--netns", lab.learnerNS, "--trunk", "trunk"]
                                         + (0..<3).flatMap { ["--map", "\(Self.clientMACs[$0])=w\($0)"] })
            try #require(!learn.reports.isEmpty, "vlan-learn did not start: \(learn.process.stderr)")
            let requests = [2, 3, 4]
            for (i, n) in requests.enumerated() {
                for _ in 0..<n {
                    let r = try lab.curl(i)
                    #expect(r.status == 0 && r.code == "200", "client\(i): curl \(r.status) \(r.code)")
                    #expect(r.body == "worker\(i)", "client\(i) was answered by \(r.body)")
                }
            }
            // Each worker logged exactly the requests of its client.
            let journal = try #require(try Simulation.journal(lab.name))
            for (i, n) in requests.enumerated() {
                let log = journal.processes.first { $0.host == "worker\(i)" }.flatMap { try? String(contentsOfFile: $0.log, encoding: .utf8) } ?? ""
                #expect(log.components(separatedBy: "\"GET / HTTP/1.1\" 200").count - 1 == n, "worker\(i) log: \(log)")
            }
            usleep(400_000)
            learn.process.signal(SIGINT)
            #expect(learn.process.wait(timeout: 15) == 0, "vlan-learn: \(learn.process.stderr)")
            let final = try #require(learn.reports.last)
            #expect(final["final"] as? Bool == true)
            for i in 0..<3 {
                let after = try lab.counters("client\(i)", "eth0")
                let c = try #require(learn.client(final, Self.clientMACs[i]))
                let learned = c["learned"] as? [String: Any]
                #expect(learned?["vlan"] as? Int == 10 * (i + 1) && learned?["trunk"] as? String == "trunk", "client\(i): \(c)")
                #expect(c["worker"] as? String == "w\(i)")
                // rx: what the client sent; tx: what it received. Exactly, frame for frame.
                #expect(c["rxPackets"] as? Int == after.txPackets - before[i].txPackets, "client\(i) rx: \(c)")
                #expect(c["rxBytes"] as? Int == after.txBytes - before[i].txBytes, "client\(i) rx bytes: \(c)")
                #expect(c["txPackets"] as? Int == after.rxPackets - before[i].rxPackets, "client\(i) tx: \(c) (BCC's tx was always 0)")
                #expect(c["txBytes"] as? Int == after.rxBytes - before[i].rxBytes, "client\(i) tx bytes: \(c)")
                // A request over HTTP/1.0 is 4-8 frames each way (handshake, request or response,
                // acknowledgements, FIN); the first adds an ARP exchange.
                let rx = c["rxPackets"] as? Int ?? 0, tx = c["txPackets"] as? Int ?? 0
                #expect(rx >= 4 * requests[i] && rx <= 8 * requests[i] + 2, "client\(i) rx packets \(rx) for \(requests[i]) requests")
                #expect(tx >= 4 * requests[i] && tx <= 8 * requests[i] + 2, "client\(i) tx packets \(tx) for \(requests[i]) requests")
            }
            #expect((final["unknown"] as? [Any])?.isEmpty == true, "\(final["unknown"] ?? "")")
            // Detached: nothing left, and the trunk no longer reaches the workers.
            #expect(lab.leftovers().isEmpty)
            let cut = try lab.curl(0)
            #expect(cut.code != "200", "still forwarded after vlan-learn exited")
        }
    }

    // MARK: Exact counts

    /// ping -c N with static neighbours (no ARP): exactly N frames of 98 bytes each way, counted
    /// under the pinging client only.
    @Test func pingCountsAreExact() throws {
        try withLab { lab in
            for i in 0..<3 {
                _ = try SimLab.inNamespace(lab.ns("client\(i)"), ["ip", "neigh", "replace", "172.16.1.5", "lladdr", Self.workerMACs[i], "dev", "eth0", "nud", "permanent"])
                _ = try SimLab.inNamespace(lab.ns("worker\(i)"), ["ip", "neigh", "replace", "172.16.1.100", "lladdr", Self.clientMACs[i], "dev", "eth0", "nud", "permanent"])
            }
            let learner = try VLANLearner.start(try lab.config(), store: lab.store)
            defer { learner.stop() }
            let counts = [5, 3, 7]
            for (i, n) in counts.enumerated() {
                let r = try SimLab.inNamespace(lab.ns("client\(i)"), ["ping", "-n", "-q", "-c", "\(n)", "-i", "0.05", "-W", "2", "172.16.1.5"])
                #expect(r.status == 0, "client\(i): \(r.stdout)")
            }
            let report = try learner.report()
            for (i, n) in counts.enumerated() {
                let c = try #require(report.client(try EthernetAddress(Self.clientMACs[i])))
                // 14 Ethernet + 20 IPv4 + 8 ICMP + 56 data.
                #expect(c.rxPackets == UInt64(n) && c.rxBytes == UInt64(n * 98), "client\(i): \(c)")
                #expect(c.txPackets == UInt64(n) && c.txBytes == UInt64(n * 98), "client\(i): \(c)")
                #expect(c.learned?.vlan == UInt16(10 * (i + 1)) && c.learned?.proto == "802.1Q" && c.learned?.moves == 0)
            }
            #expect(report.total(.toWorker)?.packets == 15 && report.total(.toTrunk)?.packets == 15)
            #expect(report.totals.filter { $0.outcome.isDrop }.allSatisfy { $0.packets == 0 }, "\(report.totals)")
            learner.stop()
            #expect(lab.leftovers().isEmpty)
        }
    }

    /// A 1 MB response leaves the worker as 64 KiB GSO packets over veth; they are counted as
    /// the frames they would be on a wire (at most 1514 bytes each, headers repeated).
    @Test func gsoPacketsCountAsWireFrames() throws {
        try withLab { lab in
            let learner = try VLANLearner.start(try lab.config(clients: [0]), store: lab.store)
            defer { learner.stop() }
            let before = try lab.counters("client0", "eth0")
            let r = try SimLab.inNamespace(lab.ns("client0"), ["curl", "-s", "-m", "10", "-o", "/dev/null", "-w", "%{http_code} %{size_download}", "http://172.16.1.5/bytes/1000000"])
            #expect(r.stdout == "200 1000000")
            let after = try lab.counters("client0", "eth0")
            let c = try #require(try learner.report().client(try EthernetAddress(Self.clientMACs[0])))
            let skbs = UInt64(after.rxPackets - before.rxPackets), skbBytes = UInt64(after.rxBytes - before.rxBytes)
            #expect(c.txBytes > 1_000_000 && c.txBytes <= c.txPackets * 1514, "tx \(c.txPackets) frames / \(c.txBytes) bytes")
            // 1 MB needs at least 1000000 / 1460 full frames.
            #expect(c.txPackets >= 1_000_000 / 1460, "tx \(c.txPackets) frames")
            // The client's veth counts skbs: fewer of them (GSO), and each carries its headers once.
            // Every extra frame repeats 66 bytes: Ethernet 14, IPv4 20, TCP 32 (with timestamps).
            try #require(skbs < c.txPackets, "no GSO packet went through (veth: \(skbs) skbs, counted \(c.txPackets) frames)")
            #expect(c.txBytes - skbBytes == (c.txPackets - skbs) * 66, "veth: \(skbs) skbs / \(skbBytes) bytes; counted \(c.txPackets) / \(c.txBytes)")
        }
    }

    // MARK: What is not forwarded

    /// Untagged frames on the trunk, tagged frames from unknown MACs (crafted on an AF_PACKET
    /// socket, and a real client that is not mapped) reach no worker and are counted per MAC.
    @Test func untaggedAndUnknownMACsAreDroppedAndCounted() throws {
        try withLab { lab in
            let learner = try VLANLearner.start(try lab.config(clients: [0, 1]), store: lab.store)
            defer { learner.stop() }
            let workersBefore = try (0..<3).map { try lab.counters("worker\($0)", "eth0").rxPackets }
            // 1: client1's own MAC, but untagged (a broadcast ARP request, as a client would send).
            // 2: tagged VLAN 20 from a MAC nobody mapped. 3: tagged VLAN 10 unicast to worker0's MAC.
            let arp = "0806" + "0001080006040001" + "02000000000" + "1" + "ac100164" + "000000000000" + "ac100105"
            try inject(lab, host: "sw-clients", interface: "trunk", frames: [
                "ffffffffffff" + "020000000001" + arp,
                "ffffffffffff" + "02000000ee01" + "81000014" + arp,
                "020000000100" + "02000000ee02" + "8100000a" + "0800" + String(repeating: "00", count: 46),
            ])
            // client2 exists and is tagged with VLAN 30, but 02:00:00:00:00:02 is not mapped.
            #expect(try !SimLab.ping(lab.ns("client2"), "172.16.1.5", count: 2))
            usleep(100_000)
            let report = try learner.report()
            func unknown(_ mac: String, _ reason: VLANLearningReport.Outcome) -> VLANLearningReport.Unknown? {
                report.unknown.first { $0.mac.description == mac && $0.reason == reason }
            }
            #expect(unknown("02:00:00:00:00:01", .untagged)?.packets == 1, "\(report.unknown)")
            #expect(unknown("02:00:00:00:00:01", .untagged)?.vlan == nil)
            #expect(unknown("02:00:00:00:ee:01", .unknownSource)?.vlan == 20, "\(report.unknown)")
            #expect(unknown("02:00:00:00:ee:02", .unknownSource)?.vlan == 10)
            #expect(unknown("02:00:00:00:ee:02", .unknownSource)?.bytes == 60)
            let client2 = unknown("02:00:00:00:00:02", .unknownSource)
            #expect((client2?.packets ?? 0) >= 2 && client2?.vlan == 30 && client2?.interface == "trunk", "\(report.unknown)")
            #expect(report.total(.untagged)?.packets == 1)
            #expect(report.total(.toWorker)?.packets == 0 && report.total(.toTrunk)?.packets == 0)
            // Nothing was learned, nothing reached a worker.
            #expect(report.clients.allSatisfy { $0.learned == nil && $0.rxPackets == 0 })
            let workersAfter = try (0..<3).map { try lab.counters("worker\($0)", "eth0").rxPackets }
            #expect(workersAfter == workersBefore, "frames reached a worker: \(workersBefore) -> \(workersAfter)")
        }
    }

    /// A worker's broadcast (its ARP request for the shared client address) reaches only its own
    /// client, tagged with that client's VLAN; before the client is learned it goes nowhere. A
    /// worker cannot send to another worker's client; a tagged frame from a worker is dropped.
    @Test func workerBroadcastsReachOnlyTheirClientsAndWorkersAreIsolated() throws {
        try withLab { lab in
            let learner = try VLANLearner.start(try lab.config(), store: lab.store)
            defer { learner.stop() }
            // Nobody learned yet: worker1's ARP request is dropped.
            #expect(try !SimLab.ping(lab.ns("worker1"), "172.16.1.100", count: 1))
            #expect((try learner.report().total(.noClient)?.packets ?? 0) >= 1)
            // client1 is learned by its first frame; then worker1 resolves 172.16.1.100 afresh.
            #expect(try SimLab.ping(lab.ns("client1"), "172.16.1.5", count: 1))
            _ = try SimLab.inNamespace(lab.ns("worker1"), ["ip", "neigh", "flush", "all"])
            let others = try [0, 2].map { try lab.counters("client\($0)", "eth0").rxPackets }
            let flooded = try learner.report().total(.flooded)?.packets ?? 0
            var resolved = false
            let trunkCapture = try SimLab.capture(lab.ns("sw-clients"), "trunk", ["arp"], count: 1) {
                resolved = try SimLab.ping(lab.ns("worker1"), "172.16.1.100", count: 2)
            }
            #expect(resolved, "worker1 could not reach its client")
            #expect(trunkCapture.contains("vlan 20") && trunkCapture.contains("> ff:ff:ff:ff:ff:ff") && trunkCapture.contains("Request who-has 172.16.1.100"),
                    "trunk: \(trunkCapture)")
            #expect((try learner.report().total(.flooded)?.packets ?? 0) > flooded)
            #expect(try [0, 2].map { try lab.counters("client\($0)", "eth0").rxPackets } == others, "a broadcast of worker1 reached client0 or client2")
            let neigh = try SimLab.inNamespace(lab.ns("worker1"), ["ip", "neigh", "show", "172.16.1.100"]).stdout
            #expect(neigh.contains(Self.clientMACs[1]), "worker1 resolved 172.16.1.100 to \(neigh)")

            // worker0 sends to client1's MAC: dropped as another worker's client.
            _ = try SimLab.inNamespace(lab.ns("worker0"), ["ip", "neigh", "replace", "172.16.1.100", "lladdr", Self.clientMACs[1], "dev", "eth0", "nud", "permanent"])
            let client1Before = try lab.counters("client1", "eth0").rxPackets
            #expect(try !SimLab.ping(lab.ns("worker0"), "172.16.1.100", count: 2))
            #expect(try lab.counters("client1", "eth0").rxPackets == client1Before)
            let r = try learner.report()
            let other = r.unknown.first { $0.reason == .otherWorker }
            #expect(other?.mac.description == Self.clientMACs[1] && other?.interface == "w0" && other?.packets == 2, "\(r.unknown)")
            // A tagged frame from a worker.
            try inject(lab, host: "worker2", interface: "eth0", frames: ["020000000002" + "020000000102" + "8100001e" + "0800" + String(repeating: "00", count: 46)])
            #expect(try learner.report().total(.taggedByWorker)?.packets == 1)
        }
    }

    /// A client seen on another VLAN is learned there (a move is counted), and back again.
    @Test func clientMovingToAnotherVLANIsRelearned() throws {
        try withLab { lab in
            let learner = try VLANLearner.start(try lab.config(), store: lab.store)
            defer { learner.stop() }
            let mac = try EthernetAddress(Self.clientMACs[1])
            #expect(try SimLab.ping(lab.ns("client1"), "172.16.1.5", count: 1))
            #expect(try learner.report().client(mac)?.learned?.vlan == 20)
            // client1's MAC shows up tagged with VLAN 30.
            try inject(lab, host: "sw-clients", interface: "trunk", frames: ["020000000101" + Self.clientMACs[1].replacingOccurrences(of: ":", with: "") + "8100001e" + "0800"])
            let moved = try #require(try learner.report().client(mac)?.learned)
            #expect(moved.vlan == 30 && moved.moves == 1, "\(moved)")
            #expect(try SimLab.ping(lab.ns("client1"), "172.16.1.5", count: 1))
            let back = try #require(try learner.report().client(mac)?.learned)
            #expect(back.vlan == 20 && back.moves == 2, "\(back)")
        }
    }

    // MARK: The command line

    /// Bad MAC, unknown interface or namespace, malformed config: one line naming the value,
    /// exit 1, nothing attached, pinned or recorded.
    @Test func badInputIsOneLineAndCreatesNothing() throws {
        try withLab { lab in
            try SimLab.withTemporaryDirectory { dir in
                let badConfig = dir + "/bad.yaml"
                try "trunk: trunk\nnetns: \(lab.learnerNS)\nclients:\n  02:00:00:00:00:00: w0\n  02:00:00:00:zz:01: w1\n".write(toFile: badConfig, atomically: true, encoding: .utf8)
                let goodMaps = ["--map", "02:00:00:00:00:00=w0"]
                let cases: [([String], String)] = [
                    (["--netns", lab.learnerNS, "--trunk", "trunk", "--map", "02:00:00:00:00:0q=w0"], "'02:00:00:00:00:0q' is not a MAC address"),
                    (["--netns", lab.learnerNS, "--trunk", "trunk", "--map", "02:00:00:00:00:00=w0", "--map", "02:00:00:00:00:01=w7"],
                     "worker interface 'w7' does not exist in network namespace '\(lab.learnerNS)'"),
                    (["--netns", lab.learnerNS, "--trunk", "trunk0"] + goodMaps, "trunk interface 'trunk0' does not exist"),
                    (["--netns", "nb-no-such-namespace", "--trunk", "trunk"] + goodMaps, "network namespace 'nb-no-such-namespace' does not exist"),
                    (["--config", badConfig], "\(badConfig):5: clients.02:00:00:00:zz:01: '02:00:00:00:zz:01' is not a MAC address"),
                    (["--config", dir + "/missing.yaml"], "missing.yaml: cannot read the file"),
                    (["--config", badConfig, "--trunk", "trunk"], "give one or the other"),
                    (["--netns", lab.learnerNS, "--trunk", "trunk"], "give at least one --map"),
                    (["--netns", lab.learnerNS, "--trunk", "trunk", "--interval", "0"] + goodMaps, "--interval 0.0 must be a positive number"),
                ]
                for (args, says) in cases {
                    let r = try SimLab.netbpf(["vlan-learn"] + args, environment: ["NETBPF_STATE_DIR": lab.stateDir])
                    #expect(r.status == 1, "\(args): exit \(r.status)")
                    #expect(r.stderr.hasPrefix("netbpf: ") && r.stderr.contains(says), "\(args): \(r.stderr)")
                    #expect(r.stderr.split(separator: "\n").count == 1, "\(args): \(r.stderr)")
                    #expect(r.stdout.isEmpty)
                    #expect(lab.leftovers().isEmpty, "\(args)")
                }
                let tc = try SimLab.inNamespace(lab.learnerNS, ["tc", "filter", "show", "dev", "trunk", "ingress"])
                let tcx = try TestPrograms.run("/usr/sbin/bpftool", ["net", "show"])
                #expect(tc.stdout.isEmpty && !tcx.stdout.contains("vl_"), "\(tc.stdout) \(tcx.stdout)")
            }
        }
    }

    /// --config works, SIGTERM detaches, and so does the end of --seconds; a second learner on
    /// the same trunk is refused while the first runs.
    @Test func configFileSIGTERMAndSeconds() throws {
        try withLab { lab in
            try SimLab.withTemporaryDirectory { dir in
                let config = dir + "/vl.yaml"
                try """
                trunk: trunk
                netns: \(lab.learnerNS)
                clients:
                  02:00:00:00:00:00: w0
                  02:00:00:00:00:02: w2
                """.write(toFile: config, atomically: true, encoding: .utf8)
                let learn = try LearnCommand(lab, arguments: ["--config", config])
                try #require(!learn.reports.isEmpty, "vlan-learn did not start: \(learn.process.stderr)")
                #expect(try lab.curl(2).body == "worker2")
                let second = try SimLab.netbpf(["vlan-learn", "--config", config, "--seconds", "1"], environment: ["NETBPF_STATE_DIR": lab.stateDir])
                #expect(second.status == 1 && second.stderr.contains("already attached"), "\(second.stderr)")
                #expect(try lab.curl(0).body == "worker0", "the refused second learner broke the first")
                learn.process.signal(SIGTERM)
                #expect(learn.process.wait(timeout: 15) == 0, "\(learn.process.stderr)")
                #expect(lab.leftovers().isEmpty)
                let client2 = learn.client(learn.reports.last, Self.clientMACs[2])
                #expect((client2?["rxPackets"] as? Int ?? 0) > 0 && (client2?["txPackets"] as? Int ?? 0) > 0)

                let timed = try SimLab.netbpf(["vlan-learn", "--config", config, "--seconds", "0.5", "--interval", "0.2"], environment: ["NETBPF_STATE_DIR": lab.stateDir])
                #expect(timed.status == 0, "\(timed.stderr)")
                #expect(timed.stdout.contains("learning on trunk trunk (netns \(lab.learnerNS)): 02:00:00:00:00:00 -> w0, 02:00:00:00:00:02 -> w2"))
                #expect(timed.stdout.contains("(final)") && timed.stdout.contains("MAC                WORKER  VLAN"), "\(timed.stdout)")
                #expect(lab.leftovers().isEmpty)
            }
        }
    }
}
