import Foundation
import Glibc
import Testing
import NetBPF
import NetBPFNetlink
import NetBPFTestSupport

/// `netbpf prog run --live`: the generators (programs/tc_udp_gen.bpf.c with bpf_clone_redirect,
/// programs/xdp_udp_gen.bpf.c in XDP live-frames mode where the kernel allows it) deliver exactly
/// the frames they report into a veth's receive path, exactly 1 in 100 of them to UDP port 9;
/// counted by a tcx ingress program (programs/count_udp_ports.bpf.c) in the same namespace.
@Suite(.serialized, .enabled(if: TestEnvironment.isRoot, "requires root: live frames and tcx in temporary namespaces"))
struct LiveFramesTests {
    static var generator: String { TestPrograms.repositoryRoot.path + "/programs/xdp_udp_gen.bpf.c" }

    /// Ethernet to `dstMAC`, IPv4 `src` -> `dst` (no options), UDP 4000 -> 10, 18 bytes of payload.
    static func frame(dstMAC: [UInt8], src: [UInt8], dst: [UInt8]) -> [UInt8] {
        let payload = Array("netbpf-live-frames".utf8)
        let udpLength = 8 + payload.count
        var ip: [UInt8] = [0x45, 0, UInt8((20 + udpLength) >> 8), UInt8((20 + udpLength) & 0xFF), 0, 0, 0x40, 0, 64, 17, 0, 0] + src + dst
        var sum = 0
        for i in stride(from: 0, to: 20, by: 2) { sum += Int(ip[i]) << 8 | Int(ip[i + 1]) }
        while sum > 0xFFFF { sum = (sum & 0xFFFF) + (sum >> 16) }
        ip[10] = UInt8((~sum >> 8) & 0xFF); ip[11] = UInt8(~sum & 0xFF)
        let udp: [UInt8] = [0x0F, 0xA0, 0, 10, UInt8(udpLength >> 8), UInt8(udpLength & 0xFF), 0, 0] + payload
        return dstMAC + [0x02, 0, 0, 0, 0, 1] + [0x08, 0x00] + ip + udp
    }

    static func mac(_ ns: String, _ dev: String) throws -> [UInt8] {
        let r = try TestPrograms.run("/usr/sbin/ip", ["-n", ns, "-br", "link", "show", dev])
        let word = r.stdout.split(separator: " ", omittingEmptySubsequences: true).dropFirst(2).first ?? ""
        let bytes = word.split(separator: ":").compactMap { UInt8($0, radix: 16) }
        guard bytes.count == 6 else { throw BPFError(.state, operation: "ip link show", subject: dev, message: r.stdout + r.stderr) }
        return bytes
    }

    static func u64(_ map: BPFMap, _ key: UInt32) throws -> UInt64 {
        guard let v = try map.lookup(key: withUnsafeBytes(of: key) { Array($0) }) else { return 0 }
        return v.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
    }

    /// Whether this kernel runs XDP live frames (this project's 6.18 VMs answer EPERM).
    static let kernelAllowsLiveFrames: Bool = {
        guard TestEnvironment.isRoot, let path = try? TestPrograms.object("count_packets"),
              let object = try? BPFObject.load(path: path), let drop = try? object.program(named: "xdp_drop") else { return false }
        var frame = [UInt8](repeating: 0, count: 60)
        frame[12] = 0x08
        return (try? drop.testRunLive(frame: frame, ifindex: 1, count: 1)) != nil
    }()

    /// Runs `generator` (programs/NAME.bpf.c) twice into a veth's ingress and checks with a tcx
    /// counter there that exactly the frames it reported arrived, 1 in 100 of them to port 9.
    func checkGenerator(_ generator: String) throws {
        let source = TestPrograms.repositoryRoot.path + "/programs/\(generator).bpf.c"
        try NetworkNamespace.withTemporaryPair(prefix: "lg\(getpid())", addresses: ("10.207.0.1/24", "10.207.0.2/24")) { _, b in
            let object = try BPFObject.load(path: try TestPrograms.object("count_udp_ports"))
            let counter = try object.program(named: "count_udp_ports")
            let link = try withNamespace(b) { try counter.attachTCX(ifindex: Int32(if_nametoindex("vb")), direction: .ingress) }
            defer { try? link.detach() }
            let totals = try object.map(named: "totals"), ports = try object.map(named: "udp_dst_ports")
            let hex = Self.frame(dstMAC: try Self.mac(b, "vb"), src: [10, 207, 0, 1], dst: [10, 207, 0, 2]).map { String(format: "%02x", $0) }.joined()

            // A count: exactly 10,001 frames (not a whole number of bursts), paced at 100k/s.
            let r = try CLI.run(["prog", "run", source, "--data", hex, "--live", "vb", "--netns", b,
                                 "--repeat", "10001", "--rate", "100000", "--json"])
            try #require(r.status == 0, "\(r.stderr)")
            let report = (try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])?["report"] as? [String: Any]
            #expect(report?["frames"] as? Int == 10001, "\(r.stdout)")
            #expect(report?["failed"] as? Int == 0, "\(r.stdout)")
            #expect(try Self.u64(totals, 1) == 10001)
            #expect(try Self.u64(ports, 9) == 101) // frames 0, 100, ..., 10000
            #expect(try Self.u64(ports, 10) == 9900)
            // The rate held: 10,001 frames at 100k/s take about 0.1 s, not the few ms they take unpaced.
            let seconds = report?["seconds"] as? Double ?? 0
            #expect(seconds > 0.08 && seconds < 2, "\(r.stdout)")

            // A duration: whatever it reports is what arrived. Each run loads the program anew, so
            // its count starts at 0 again: frames 0, 100, 200, ... go to port 9.
            let t = try CLI.run(["prog", "run", source, "--data", hex, "--live", "vb", "--netns", b,
                                 "--seconds", "0.3", "--rate", "20000", "--json"])
            try #require(t.status == 0, "\(t.stderr)")
            let json = try JSONSerialization.jsonObject(with: Data(t.stdout.utf8)) as? [String: Any]
            let frames = (json?["report"] as? [String: Any])?["frames"] as? Int ?? -1
            #expect(frames > 3000 && frames < 9000, "\(t.stdout)")
            #expect(json?["askedRate"] as? Double == 20000, "\(t.stdout)")
            #expect(try Self.u64(totals, 1) == UInt64(10001 + frames))
            #expect(try Self.u64(ports, 9) == UInt64(101 + (frames + 99) / 100))
        }
    }

    @Test func tcGeneratorSendsExactlyTheFramesItReportsOnePercentToPort9() throws {
        try checkGenerator("tc_udp_gen")
    }

    /// Every clone fails on an interface that is down: one line, not a loop retrying for ever
    /// (the first test run tries 3 bursts of 32 of the 100 frames).
    @Test func tcGeneratorIntoAnInterfaceThatIsDownIsOneLine() throws {
        try NetworkNamespace.withTemporaryPair(prefix: "lg\(getpid())", addresses: ("10.207.1.1/24", "10.207.1.2/24")) { _, b in
            _ = try TestPrograms.run("/usr/sbin/ip", ["-n", b, "link", "set", "vb", "down"])
            let hex = Self.frame(dstMAC: try Self.mac(b, "vb"), src: [10, 207, 1, 1], dst: [10, 207, 1, 2]).map { String(format: "%02x", $0) }.joined()
            let r = try CLI.run(["prog", "run", TestPrograms.repositoryRoot.path + "/programs/tc_udp_gen.bpf.c", "--data", hex,
                                 "--live", "vb", "--netns", b, "--repeat", "100"])
            #expect(r.status == 1 && r.stderr.split(separator: "\n").count == 1
                    && r.stderr.contains("the program sent no frame (96 failed); hint: is the interface up?"), "\(r.stderr)")
        }
    }

    @Test(.enabled(if: LiveFramesTests.kernelAllowsLiveFrames, "this kernel refuses BPF_F_TEST_XDP_LIVE_FRAMES (EPERM on this project's 6.18 VMs)"))
    func xdpLiveFramesSendExactlyTheFramesReportedOnePercentToPort9() throws {
        try checkGenerator("xdp_udp_gen")
    }

    @Test(.enabled(if: TestEnvironment.isRoot && !LiveFramesTests.kernelAllowsLiveFrames, "this kernel runs XDP live frames"))
    func aKernelThatRefusesLiveFramesIsOneLineNamingTheTCGenerator() throws {
        let r = try CLI.run(["prog", "run", Self.generator, "--data", String(repeating: "00", count: 60), "--live", "lo"])
        #expect(r.status == 1 && r.stderr.split(separator: "\n").count == 1
                && r.stderr.contains("this kernel refuses live frames") && r.stderr.contains("tc_udp_gen"), "\(r.stderr)")
    }

    @Test func badInputIsOneLine() throws {
        let hex = String(repeating: "00", count: 60)
        let cases: [([String], String)] = [
            (["--live", "nosuch-lg", "--repeat", "1"], "no interface 'nosuch-lg' in this network namespace"),
            (["--live", "lo", "--netns", "nosuch-lg\(getpid())"], "no network namespace 'nosuch-lg\(getpid())'"),
            (["--rate", "1000"], "--netns, --rate, --seconds, --batch-size and --burst go with --live IFACE"),
            (["--live", "lo", "--batch-size", "300"], "--batch-size must be 1-256"),
        ]
        for (args, says) in cases {
            let r = try CLI.run(["prog", "run", Self.generator, "--data", hex] + args)
            #expect(r.status == 1 && r.stderr.split(separator: "\n").count == 1 && r.stderr.contains(says), "\(args): \(r.stderr)")
        }
        let socket = try CLI.run(["prog", "run", TestPrograms.repositoryRoot.path + "/programs/count_packets.bpf.c", "--program", "sock_icmp_only",
                                  "--data", hex, "--live", "lo"])
        #expect(socket.status == 1 && socket.stderr.split(separator: "\n").count == 1
                && socket.stderr.contains("a generator is an XDP program (live frames) or a tc program that sends with bpf_clone_redirect; sock_icmp_only is socket_filter"),
                "\(socket.stderr)")
    }
}
