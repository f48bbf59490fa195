import Foundation
import Testing
import NetBPF
import NetBPFAttach
import NetBPFControllers
import NetBPFNetlink
import NetBPFTestSupport

/// The rate limiter with real TCP traffic (iperf3) on the `pair` topology: client h1 10.0.0.1
/// (and 10.0.0.11), server h2 10.0.0.2, limiter on the server's ingress keyed on the source.
@Suite(.serialized, .enabled(if: TestEnvironment.isRoot, "requires root: namespaces, tc programs, iperf3"))
struct RateLimitTests {
    struct Pair {
        let client: String, server: String
        let store: AttachmentStore
    }

    /// The `pair` topology (h1 10.0.0.1 -- h2 10.0.0.2) under a unique name, plus a second
    /// address 10.0.0.11 on h1 for a second, separately limited source.
    func withPair<T>(_ body: (Pair) throws -> T) throws -> T {
        let name = "rl\(getpid() % 10000)\(Int.random(in: 100...999))"
        let stateDir = FileManager.default.temporaryDirectory.appendingPathComponent("nbrl-state-\(name)").path
        setenv("NETBPF_STATE_DIR", stateDir, 1) // so CLI children use the same attachment records
        defer {
            _ = try? CLI.run(["sim", "down", name])
            unsetenv("NETBPF_STATE_DIR")
            try? FileManager.default.removeItem(atPath: stateDir)
        }
        let up = try CLI.run(["sim", "up", TestPrograms.repositoryRoot.appendingPathComponent("topologies/pair.yaml").path, "--name", name])
        guard up.status == 0 else { throw ControllerError("sim up pair: \(up.stderr)") }
        let c = "nb-\(name)-h1", s = "nb-\(name)-h2"
        _ = try TestPrograms.run("/usr/sbin/ip", ["-n", c, "addr", "add", "10.0.0.11/24", "dev", "eth0"])
        let pair = Pair(client: c, server: s, store: AttachmentStore(directory: stateDir + "/attach"))
        let result = try body(pair)
        // Whatever the test attached must be gone after detach: no records, no pins.
        #expect(pair.store.all().isEmpty)
        return result
    }

    /// Mbit/s the server received from `from` over `seconds` (iperf3 TCP, first 2 s omitted).
    func iperf(_ p: Pair, from source: String = "10.0.0.1", seconds: Int = 5, port: Int = 5201) throws -> Double {
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        server.arguments = ["netns", "exec", p.server, "iperf3", "-s", "-B", "10.0.0.2", "-p", "\(port)", "-1"]
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        try server.run()
        usleep(300_000)
        let r = try TestPrograms.run("/usr/sbin/ip", ["netns", "exec", p.client, "iperf3", "-c", "10.0.0.2", "-B", source, "-p", "\(port)",
                                                      "-t", "\(seconds)", "-O", "2", "-J"])
        server.waitUntilExit()
        guard let json = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any],
              let end = json["end"] as? [String: Any], let received = end["sum_received"] as? [String: Any],
              let bps = received["bits_per_second"] as? Double else {
            throw ControllerError("iperf3 gave no result: \(r.stderr) \(r.stdout.prefix(300))")
        }
        return bps / 1e6
    }

    @Test(arguments: [1.0, 10.0, 100.0])
    func tcpThroughputMatchesTheRate(mbit: Double) throws {
        try withPair { p in
            let rl = try RateLimiter.attach(interface: "eth0", namespace: p.server, direction: .ingress, keyOn: .source, store: p.store)
            try rl.add(try AddressPrefix("10.0.0.1"), rateBitsPerSecond: UInt64(mbit * 1e6))
            let achieved = try iperf(p)
            #expect(abs(achieved - mbit) / mbit <= 0.10, "achieved \(achieved) Mbit/s for a \(mbit) Mbit/s limit")
            let entry = try rl.entries().first { $0.prefix == "10.0.0.1" }
            #expect((entry?.passedBytes ?? 0) > 0)
            try rl.detach(store: p.store)
        }
    }

    @Test func unlimitedAddressIsUnaffectedAndTwoLimitsAreSeparate() throws {
        try withPair { p in
            let unlimited = try iperf(p, from: "10.0.0.11", seconds: 3)
            let rl = try RateLimiter.attach(interface: "eth0", namespace: p.server, direction: .ingress, keyOn: .source, store: p.store)
            try rl.add(try AddressPrefix("10.0.0.1"), rateBitsPerSecond: 10_000_000)
            let stillUnlimited = try iperf(p, from: "10.0.0.11", seconds: 3)
            #expect(stillUnlimited > 0.5 * unlimited, "unlimited address: \(stillUnlimited) vs \(unlimited) Mbit/s before")
            #expect(stillUnlimited > 200)
            try rl.add(try AddressPrefix("10.0.0.11"), rateBitsPerSecond: 20_000_000)
            let a = try iperf(p, from: "10.0.0.1", seconds: 4)
            let b = try iperf(p, from: "10.0.0.11", seconds: 4, port: 5202)
            #expect(abs(a - 10) <= 1.0, "10.0.0.1 got \(a)")
            #expect(abs(b - 20) <= 2.0, "10.0.0.11 got \(b)")
            try rl.detach(store: p.store)
        }
    }

    @Test func rateChangedMidFlowTakesEffectWithinASecond() throws {
        try withPair { p in
            let rl = try RateLimiter.attach(interface: "eth0", namespace: p.server, direction: .ingress, keyOn: .source, store: p.store)
            let prefix = try AddressPrefix("10.0.0.1")
            try rl.add(prefix, rateBitsPerSecond: 50_000_000)
            let server = Process()
            server.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
            server.arguments = ["netns", "exec", p.server, "iperf3", "-s", "-B", "10.0.0.2", "-1"]
            server.standardOutput = FileHandle.nullDevice
            server.standardError = FileHandle.nullDevice
            try server.run()
            usleep(300_000)
            let client = Process()
            client.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
            client.arguments = ["netns", "exec", p.client, "iperf3", "-c", "10.0.0.2", "-t", "6", "-J"]
            let out = Pipe()
            client.standardOutput = out
            client.standardError = FileHandle.nullDevice
            try client.run()
            sleep(3)
            try rl.add(prefix, rateBitsPerSecond: 5_000_000) // live change, same key
            let data = out.fileHandleForReading.readDataToEndOfFile()
            client.waitUntilExit()
            server.waitUntilExit()
            let json = try JSONSerialization.jsonObject(with: data) as? [String: Any]
            let intervals = (json?["intervals"] as? [[String: Any]])?.compactMap { ($0["sum"] as? [String: Any])?["bits_per_second"] as? Double } ?? []
            #expect(intervals.count >= 6)
            // Second 2 ran at 50 Mbit/s; the change to 5 Mbit/s came at second 3.
            #expect(intervals[1] / 1e6 > 25, "before: \(intervals.map { $0 / 1e6 })") // well above the new 5 Mbit/s
            // A policed TCP flow at 5 Mbit/s moves in bursts (0, 9, 8 ... per second), so the mean over
            // the seconds from one after the change is what must sit near the new rate.
            let after = (intervals[4] + intervals[5]) / 2 / 1e6
            // Bound loose enough for a loaded 2-CPU machine, far below the 50 Mbit/s before.
            #expect(after < 12, "after the change: \(intervals.map { Int($0 / 1e6) }) Mbit/s")
            try rl.detach(store: p.store)
        }
    }

    @Test func cliAddListDelAndBadValues() throws {
        try withPair { p in
            let attach = try CLI.run(["ratelimit", "attach", "eth0", "--netns", p.server, "--ingress", "--key", "source"])
            #expect(attach.status == 0, "\(attach.stderr)")
            #expect(try CLI.run(["ratelimit", "add", "10.0.0.0/24", "5mbit", "--burst", "300k"]).status == 0)
            let bad = try CLI.run(["ratelimit", "add", "10.0.0.999", "5mbit"])
            #expect(bad.status == 1 && bad.stderr.contains("'10.0.0.999'"))
            let badRate = try CLI.run(["ratelimit", "add", "10.0.0.1", "5 furlongs"])
            #expect(badRate.status == 1 && badRate.stderr.contains("'5 furlongs' is not a rate"))
            _ = try TestPrograms.run("/usr/sbin/ip", ["netns", "exec", p.client, "ping", "-c", "3", "-i", "0.2", "-q", "10.0.0.2"])
            let list = try CLI.run(["ratelimit", "list", "--json", "--interval", "0.1"])
            let rows = try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]]
            let row = rows?.first { ($0["entry"] as? [String: Any])?["prefix"] as? String == "10.0.0.0/24" }?["entry"] as? [String: Any]
            #expect(row?["rateBitsPerSecond"] as? Int == 5_000_000)
            #expect((row?["passedPackets"] as? Int ?? 0) >= 3)
            #expect(try CLI.run(["ratelimit", "del", "10.0.0.0/24"]).status == 0)
            #expect(try CLI.run(["ratelimit", "del", "10.0.0.0/24"]).stderr.contains("no limit is set"))
            #expect(try CLI.run(["ratelimit", "detach"]).status == 0)
            let pins = (try? FileManager.default.contentsOfDirectory(atPath: Pinning.root + "/\(p.server)")) ?? []
            #expect(pins.isEmpty)
        }
    }

    @Test func shapingPutsTCPAtTheRate() throws {
        try withPair { p in
            // Shape the server's replies? No: shape what the client sends, on the client's egress.
            let rl = try RateLimiter.attach(interface: "eth0", namespace: p.client, direction: .egress, keyOn: .destination, shape: true, store: p.store)
            try rl.add(try AddressPrefix("10.0.0.2"), rateBitsPerSecond: 20_000_000)
            let achieved = try iperf(p, seconds: 4)
            #expect(abs(achieved - 20) / 20 <= 0.10, "shaped TCP got \(achieved) Mbit/s")
            try rl.detach(store: p.store)
            let qdiscs = try TestPrograms.run("/usr/sbin/tc", ["-n", p.client, "qdisc", "show", "dev", "eth0"]).stdout
            #expect(!qdiscs.contains("htb"))
        }
    }
}

/// BCC's neighbor_sharing on the `neighbor-sharing` topology: the wan host's traffic to neighbors
/// (addresses learned on the neighbors' bridge ports) gets the neighbor rate; locals are not limited.
@Suite(.serialized, .enabled(if: TestEnvironment.isRoot, "requires root: simulation, tc programs, iperf3"))
struct NeighborSharingTests {
    func mbit(from ns: String, to address: String) throws -> Double {
        let r = try TestPrograms.run("/usr/sbin/ip", ["netns", "exec", ns, "iperf3", "-c", address, "-t", "4", "-O", "2", "-J"])
        guard let json = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any],
              let bps = ((json["end"] as? [String: Any])?["sum_received"] as? [String: Any])?["bits_per_second"] as? Double else {
            throw ControllerError("iperf3 to \(address) gave no result: \(r.stderr)")
        }
        return bps / 1e6
    }

    @Test func neighborsGetTheNeighborRateLocalsDoNot() throws {
        let name = "ns\(getpid() % 10000)\(Int.random(in: 100...999))"
        let state = FileManager.default.temporaryDirectory.appendingPathComponent("nbns-\(name)").path
        defer {
            _ = try? CLI.run(["sim", "down", name])
            try? FileManager.default.removeItem(atPath: state)
        }
        let up = try CLI.run(["sim", "up", TestPrograms.repositoryRoot.appendingPathComponent("topologies/neighbor-sharing.yaml").path, "--name", name])
        try #require(up.status == 0, "\(up.stderr)")
        let bridge = "nb-\(name)-br100", wan = "nb-\(name)-wan0"
        let configPath = state + "/rl.yaml"
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        try """
        interface: eth0
        netns: \(wan)
        direction: egress
        key: destination
        neighbors: 10mbit
        learn_on: [\(bridge)/neighbor0-eth0, \(bridge)/neighbor1-eth0, \(bridge)/neighbor2-eth0]
        """.write(toFile: configPath, atomically: true, encoding: .utf8)
        let store = AttachmentStore(directory: state + "/attach")
        let session = try RateLimitSession.start(try RateLimitConfig.load(path: configPath), store: store)
        defer { session.stop() }
        // Neighbors become known when they send: a ping from each.
        for n in ["neighbor0", "neighbor1", "neighbor2"] {
            _ = try TestPrograms.run("/usr/sbin/ip", ["netns", "exec", "nb-\(name)-\(n)", "ping", "-c", "1", "-q", "172.16.1.5"])
        }
        let neighbor = try mbit(from: wan, to: "172.16.1.100")
        let local = try mbit(from: wan, to: "172.16.1.150")
        #expect(abs(neighbor - 10) / 10 <= 0.10, "neighbor got \(neighbor) Mbit/s for a 10 Mbit/s neighbor rate")
        #expect(local > 100, "local host got only \(local) Mbit/s")
        let learned = try HashMap<UInt32, UInt64>(BPFMap.open(pinned: session.limiter.record.pinDirectory + "/maps/neighbors")).keys()
        #expect(Set(learned.map { withUnsafeBytes(of: $0) { Array($0) } }) == [[172, 16, 1, 100], [172, 16, 1, 101], [172, 16, 1, 102]])
        session.stop()
        #expect(store.all().isEmpty)
    }
}
