import Foundation
import Testing
import NetBPF
import NetBPFAttach
import NetBPFControllers
import NetBPFNetlink
import NetBPFTestSupport

/// The rate limiter with real TCP traffic (iperf3) between two namespaces on a veth pair:
/// client 10.77.0.1 (ns "c"), server 10.77.0.2 (ns "s"), limiter on the server's ingress keyed
/// on the source address.
@Suite(.serialized, .enabled(if: TestEnvironment.isRoot, "requires root: namespaces, tc programs, iperf3"))
struct RateLimitTests {
    struct Pair {
        let client: String, server: String
        let store: AttachmentStore
    }

    func withPair<T>(_ body: (Pair) throws -> T) throws -> T {
        let tag = "\(getpid() % 10000)\(Int.random(in: 100...999))"
        let c = "nbrl-c\(tag)", s = "nbrl-s\(tag)"
        let stateDir = FileManager.default.temporaryDirectory.appendingPathComponent("nbrl-state-\(tag)").path
        setenv("NETBPF_STATE_DIR", stateDir, 1) // so the CLI children use the same records
        defer {
            unsetenv("NETBPF_STATE_DIR")
            _ = try? TestPrograms.run("/usr/bin/pkill", ["-f", "iperf3 -s -B 10.77.0.2"])
            try? NetworkNamespace.delete(c)
            try? NetworkNamespace.delete(s)
            try? FileManager.default.removeItem(atPath: stateDir)
        }
        for cmd in [["netns", "add", c], ["netns", "add", s],
                    ["link", "add", "vc", "netns", c, "type", "veth", "peer", "name", "vs", "netns", s],
                    ["-n", c, "addr", "add", "10.77.0.1/24", "dev", "vc"], ["-n", s, "addr", "add", "10.77.0.2/24", "dev", "vs"],
                    ["-n", c, "link", "set", "vc", "up"], ["-n", s, "link", "set", "vs", "up"],
                    ["-n", c, "link", "set", "lo", "up"], ["-n", s, "link", "set", "lo", "up"],
                    ["-n", c, "addr", "add", "10.77.0.11/24", "dev", "vc"]] {
            let r = try TestPrograms.run("/usr/sbin/ip", cmd)
            guard r.status == 0 else { throw RateLimitError("ip \(cmd.joined(separator: " ")): \(r.stderr)") }
        }
        let pair = Pair(client: c, server: s, store: AttachmentStore(directory: stateDir + "/attach"))
        let result = try body(pair)
        // Whatever the test attached must be gone after detach: no records, no pins.
        #expect(pair.store.all().isEmpty)
        return result
    }

    /// Mbit/s the server received from `from` over `seconds` (iperf3 TCP, first 2 s omitted).
    func iperf(_ p: Pair, from source: String = "10.77.0.1", seconds: Int = 5, port: Int = 5201) throws -> Double {
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        server.arguments = ["netns", "exec", p.server, "iperf3", "-s", "-B", "10.77.0.2", "-p", "\(port)", "-1"]
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        try server.run()
        usleep(300_000)
        let r = try TestPrograms.run("/usr/sbin/ip", ["netns", "exec", p.client, "iperf3", "-c", "10.77.0.2", "-B", source, "-p", "\(port)",
                                                      "-t", "\(seconds)", "-O", "2", "-J"])
        server.waitUntilExit()
        guard let json = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any],
              let end = json["end"] as? [String: Any], let received = end["sum_received"] as? [String: Any],
              let bps = received["bits_per_second"] as? Double else {
            throw RateLimitError("iperf3 gave no result: \(r.stderr) \(r.stdout.prefix(300))")
        }
        return bps / 1e6
    }

    @Test(arguments: [1.0, 10.0, 100.0])
    func tcpThroughputMatchesTheRate(mbit: Double) throws {
        try withPair { p in
            let rl = try RateLimiter.attach(interface: "vs", namespace: p.server, direction: .ingress, keyOn: .source, store: p.store)
            try rl.add(try AddressPrefix("10.77.0.1"), rateBitsPerSecond: UInt64(mbit * 1e6))
            let achieved = try iperf(p)
            #expect(abs(achieved - mbit) / mbit <= 0.10, "achieved \(achieved) Mbit/s for a \(mbit) Mbit/s limit")
            let entry = try rl.entries().first { $0.prefix == "10.77.0.1" }
            #expect((entry?.passedBytes ?? 0) > 0)
            try rl.detach(store: p.store)
        }
    }

    @Test func unlimitedAddressIsUnaffectedAndTwoLimitsAreSeparate() throws {
        try withPair { p in
            let unlimited = try iperf(p, from: "10.77.0.11", seconds: 3)
            let rl = try RateLimiter.attach(interface: "vs", namespace: p.server, direction: .ingress, keyOn: .source, store: p.store)
            try rl.add(try AddressPrefix("10.77.0.1"), rateBitsPerSecond: 10_000_000)
            let stillUnlimited = try iperf(p, from: "10.77.0.11", seconds: 3)
            #expect(stillUnlimited > 0.5 * unlimited, "unlimited address: \(stillUnlimited) vs \(unlimited) Mbit/s before")
            #expect(stillUnlimited > 200)
            try rl.add(try AddressPrefix("10.77.0.11"), rateBitsPerSecond: 20_000_000)
            let a = try iperf(p, from: "10.77.0.1", seconds: 4)
            let b = try iperf(p, from: "10.77.0.11", seconds: 4, port: 5202)
            #expect(abs(a - 10) <= 1.0, "10.77.0.1 got \(a)")
            #expect(abs(b - 20) <= 2.0, "10.77.0.11 got \(b)")
            try rl.detach(store: p.store)
        }
    }

    @Test func rateChangedMidFlowTakesEffectWithinASecond() throws {
        try withPair { p in
            let rl = try RateLimiter.attach(interface: "vs", namespace: p.server, direction: .ingress, keyOn: .source, store: p.store)
            let prefix = try AddressPrefix("10.77.0.1")
            try rl.add(prefix, rateBitsPerSecond: 50_000_000)
            let server = Process()
            server.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
            server.arguments = ["netns", "exec", p.server, "iperf3", "-s", "-B", "10.77.0.2", "-1"]
            server.standardOutput = FileHandle.nullDevice
            server.standardError = FileHandle.nullDevice
            try server.run()
            usleep(300_000)
            let client = Process()
            client.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
            client.arguments = ["netns", "exec", p.client, "iperf3", "-c", "10.77.0.2", "-t", "6", "-J"]
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
            #expect(intervals[1] / 1e6 > 40, "before: \(intervals.map { $0 / 1e6 })")
            // A policed TCP flow at 5 Mbit/s moves in bursts (0, 9, 8 ... per second), so the mean over
            // the seconds from one after the change is what must sit near the new rate.
            let after = (intervals[4] + intervals[5]) / 2 / 1e6
            #expect(after < 7.5, "after the change: \(intervals.map { Int($0 / 1e6) }) Mbit/s")
            try rl.detach(store: p.store)
        }
    }

    @Test func cliAddListDelAndBadValues() throws {
        try withPair { p in
            let attach = try CLI.run(["ratelimit", "attach", "vs", "--netns", p.server, "--ingress", "--key", "source"])
            #expect(attach.status == 0, "\(attach.stderr)")
            #expect(try CLI.run(["ratelimit", "add", "10.77.0.0/24", "5mbit", "--burst", "300k"]).status == 0)
            let bad = try CLI.run(["ratelimit", "add", "10.77.0.999", "5mbit"])
            #expect(bad.status == 1 && bad.stderr.contains("'10.77.0.999'"))
            let badRate = try CLI.run(["ratelimit", "add", "10.77.0.1", "5 furlongs"])
            #expect(badRate.status == 1 && badRate.stderr.contains("'5 furlongs' is not a rate"))
            _ = try TestPrograms.run("/usr/sbin/ip", ["netns", "exec", p.client, "ping", "-c", "3", "-i", "0.2", "-q", "10.77.0.2"])
            let list = try CLI.run(["ratelimit", "list", "--json", "--interval", "0.1"])
            let rows = try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]]
            let row = rows?.first { ($0["entry"] as? [String: Any])?["prefix"] as? String == "10.77.0.0/24" }?["entry"] as? [String: Any]
            #expect(row?["rateBitsPerSecond"] as? Int == 5_000_000)
            #expect((row?["passedPackets"] as? Int ?? 0) >= 3)
            #expect(try CLI.run(["ratelimit", "del", "10.77.0.0/24"]).status == 0)
            #expect(try CLI.run(["ratelimit", "del", "10.77.0.0/24"]).stderr.contains("no limit is set"))
            #expect(try CLI.run(["ratelimit", "detach"]).status == 0)
            let pins = (try? FileManager.default.contentsOfDirectory(atPath: Pinning.root + "/\(p.server)")) ?? []
            #expect(pins.isEmpty)
        }
    }

    @Test func shapingPutsTCPAtTheRate() throws {
        try withPair { p in
            // Shape the server's replies? No: shape what the client sends, on the client's egress.
            let rl = try RateLimiter.attach(interface: "vc", namespace: p.client, direction: .egress, keyOn: .destination, shape: true, store: p.store)
            try rl.add(try AddressPrefix("10.77.0.2"), rateBitsPerSecond: 20_000_000)
            let achieved = try iperf(p, seconds: 4)
            #expect(abs(achieved - 20) / 20 <= 0.10, "shaped TCP got \(achieved) Mbit/s")
            try rl.detach(store: p.store)
            let qdiscs = try TestPrograms.run("/usr/sbin/tc", ["-n", p.client, "qdisc", "show", "dev", "vc"]).stdout
            #expect(!qdiscs.contains("htb"))
        }
    }
}
