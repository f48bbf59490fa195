import Foundation
import Glibc
import Testing
import NetBPF
import NetBPFAttach
import NetBPFControllers
import NetBPFNetlink
import NetBPFTestSupport

/// BCC's small networking examples with real traffic: a veth pair between two temporary
/// namespaces (IPv6 off, static neighbour: only the frames a test sends).
@Suite(.serialized, .enabled(if: TestEnvironment.isRoot, "requires root: namespaces, XDP, tc"))
struct XDPExampleTests {
    struct Pair {
        let a: String, b: String
        let stateDir: String
        var store: AttachmentStore { AttachmentStore(directory: stateDir + "/attach") }

        func run(_ ns: String, _ args: [String]) throws -> (status: Int32, stdout: String, stderr: String) { try SimLab.inNamespace(ns, args) }

        /// `count` UDP datagrams from a to b (10.9.0.2:9).
        func udp(_ count: Int) throws {
            let r = try run(a, ["python3", "-c", "import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\nfor _ in range(\(count)): s.sendto(b'x', ('10.9.0.2', 9))"])
            try #require(r.status == 0, "udp: \(r.stderr)")
        }
        /// `count` ICMP echo requests from a to b (no replies expected when b drops them).
        func ping(_ count: Int) throws { _ = try run(a, ["ping", "-n", "-q", "-c", "\(count)", "-i", "0.01", "-W", "1", "10.9.0.2"]) }
    }

    func withPair<T>(_ body: (Pair) throws -> T) throws -> T {
        let tag = "\(getpid() % 100_000)-\(UInt16.random(in: 0...UInt16.max))"
        let pair = Pair(a: "nbx-a-\(tag)", b: "nbx-b-\(tag)", stateDir: FileManager.default.temporaryDirectory.appendingPathComponent("nbx-\(tag)").path)
        defer {
            for r in pair.store.all() { try? Attacher(store: pair.store).undo(r) }
            _ = try? TestPrograms.run("/usr/sbin/ip", ["netns", "del", pair.a])
            _ = try? TestPrograms.run("/usr/sbin/ip", ["netns", "del", pair.b])
            try? FileManager.default.removeItem(atPath: pair.stateDir)
        }
        for cmd in [["netns", "add", pair.a], ["netns", "add", pair.b],
                    ["-n", pair.a, "link", "add", "va", "type", "veth", "peer", "name", "vb", "netns", pair.b]] {
            let r = try TestPrograms.run("/usr/sbin/ip", cmd)
            try #require(r.status == 0, "ip \(cmd): \(r.stderr)")
        }
        for (ns, dev, addr) in [(pair.a, "va", "10.9.0.1/24"), (pair.b, "vb", "10.9.0.2/24")] {
            _ = try pair.run(ns, ["sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1", "net.ipv6.conf.\(dev).disable_ipv6=1"])
            _ = try TestPrograms.run("/usr/sbin/ip", ["-n", ns, "addr", "add", addr, "dev", dev])
            _ = try TestPrograms.run("/usr/sbin/ip", ["-n", ns, "link", "set", dev, "up"])
        }
        let mac = try TestPrograms.run("/usr/sbin/ip", ["-n", pair.b, "-br", "link", "show", "vb"]).stdout.split(separator: " ", omittingEmptySubsequences: true)[2]
        _ = try TestPrograms.run("/usr/sbin/ip", ["-n", pair.a, "neigh", "replace", "10.9.0.2", "lladdr", String(mac), "dev", "va", "nud", "permanent"])
        return try body(pair)
    }

    /// Every frame is dropped and counted under its IP protocol, exactly, in generic and in
    /// driver mode on veth; detaching lets traffic through again.
    @Test(arguments: [XDPMode.generic, XDPMode.native])
    func dropCountPerProtocol(mode: XDPMode) throws {
        try withPair { p in
            let counter = try XDPDropCounter(interface: "vb", namespace: p.b, mode: mode, store: p.store)
            try p.ping(7)
            try p.udp(40)
            let t = try counter.totals()
            #expect(t == [1: 7, 17: 40], "\(mode): \(t)")
            counter.stop()
            #expect(p.store.all().isEmpty)
            let r = try p.run(p.a, ["ping", "-n", "-q", "-c", "1", "-W", "2", "10.9.0.2"])
            #expect(r.status == 0, "traffic still dropped after stop")
        }
    }

    /// Driver mode where the device has no native XDP (lo): a clear one-line error.
    @Test func driverModeUnsupportedIsAClearError() throws {
        try withPair { p in
            let r = try SimLab.netbpf(["xdp-drop-count", "lo", "--netns", p.b, "--mode", "driver", "--seconds", "1"], environment: ["NETBPF_STATE_DIR": p.stateDir])
            #expect(r.status == 1)
            #expect(r.stderr.contains("operation not supported (EOPNOTSUPP)") && r.stderr.contains("use generic mode") && r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
        }
    }

    /// Starts `netbpf xdp-drop-count vb` in b (generic mode, no --seconds) and waits until it is
    /// attached (its header line and the program on vb).
    func startDropCount(_ p: Pair) throws -> SimLab.Spawned {
        let cmd = try SimLab.Spawned([CLI.binary, "xdp-drop-count", "vb", "--netns", p.b], environment: ["NETBPF_STATE_DIR": p.stateDir])
        let deadline = Date().addingTimeInterval(30)
        while !cmd.stdout.contains("hit CTRL+C"), Date() < deadline, cmd.wait(timeout: 0.05) == nil {}
        try #require(cmd.stdout.contains("hit CTRL+C"), "\(cmd.stderr)")
        try #require(try NetlinkSocket(namespace: p.b).xdp(on: .name("vb")).attached != .none)
        return cmd
    }

    /// The command prints `17: N pkt/s` while UDP flows and the exact totals when SIGTERM stops
    /// it (sent once the traffic is through, so no batch can miss a time window).
    @Test func dropCountCommandPrintsRates() throws {
        try withPair { p in
            let cmd = try startDropCount(p)
            for _ in 0..<4 { try p.udp(25); usleep(300_000) }
            usleep(1_200_000) // at least one report after the traffic
            cmd.signal(SIGTERM)
            #expect(cmd.wait(timeout: 20) == 0, "\(cmd.stderr)")
            let out = cmd.stdout
            #expect(out.contains("Printing drops per IP protocol-number on vb (generic mode), hit CTRL+C to stop"))
            #expect(out.split(separator: "\n").contains { $0.hasPrefix("17: ") && $0.hasSuffix(" pkt/s") }, "\(out)")
            #expect(out.contains("Removing filter from device; total drops: proto 17: 100"), "\(out)")
            #expect(p.store.all().isEmpty)
        }
    }

    /// A closed terminal (SIGHUP) stops the command like Ctrl-C: it prints the totals, exits 0
    /// and nothing stays attached, so traffic flows again.
    @Test func dropCountCommandDetachesOnSIGHUP() throws {
        try withPair { p in
            let cmd = try startDropCount(p)
            try p.udp(5)
            usleep(200_000)
            cmd.signal(SIGHUP)
            #expect(cmd.wait(timeout: 20) == 0, "\(cmd.stderr)")
            #expect(cmd.stdout.contains("Removing filter from device; total drops: proto 17: 5"), "\(cmd.stdout)")
            #expect(p.store.all().isEmpty)
            #expect(try NetlinkSocket(namespace: p.b).xdp(on: .name("vb")).attached == .none)
            #expect(try p.run(p.a, ["ping", "-n", "-q", "-c", "1", "-W", "2", "10.9.0.2"]).status == 0, "traffic still dropped after SIGHUP")
        }
    }

    /// BCC's simple_tc as the docs/examples.md recipe: a classifier on ingress and egress of a
    /// veth through the CLI, traffic passes, everything is removed.
    @Test func simpleTCRecipe() throws {
        try withPair { p in
            let env = ["NETBPF_STATE_DIR": p.stateDir]
            let program = SimLab.root + "/programs/empty_tc.bpf.c"
            for dir in ["--ingress", "--egress"] {
                let r = try SimLab.netbpf(["attach", "tc", "va", program, "--section", "tc", dir, "--netns", p.a], environment: env)
                #expect(r.status == 0 && r.stdout.contains("attached empty_tc"), "\(r.stderr)")
            }
            let list = try SimLab.netbpf(["list", "--netns", p.a], environment: env)
            #expect(list.stdout.contains("tcx/ingress") && list.stdout.contains("tcx/egress"), "\(list.stdout)")
            #expect(try p.run(p.a, ["ping", "-n", "-q", "-c", "3", "-i", "0.1", "-W", "2", "10.9.0.2"]).stdout.contains(" 0% packet loss"))
            let d = try SimLab.netbpf(["detach", "tc", "va", "--all", "--netns", p.a], environment: env)
            #expect(d.status == 0 && d.stdout.components(separatedBy: "detached empty_tc").count == 3, "\(d.stdout) \(d.stderr)")
            let after = try SimLab.netbpf(["list", "--netns", p.a], environment: env)
            #expect(!after.stdout.contains("empty_tc"), "\(after.stdout)")
        }
    }
}
