import Foundation
import Glibc
@testable import NetBPF
import NetBPFTestSupport
import Testing
@testable import NetBPFTracing

/// Two namespaces joined by a veth (A 10.201.N.1 -- B 10.201.N.2), named with the helper tag
/// `dr`, the pid and a counter, removed on the way out whatever happened.
struct DropsLab {
    let a: String, b: String, ifA: String, ifB: String, net: Int
    nonisolated(unsafe) static var counter = 0

    static func ip(_ args: [String]) throws {
        let r = try TestPrograms.run("/usr/sbin/ip", args)
        guard r.status == 0 else { throw BPFError(.state, operation: "ip \(args.joined(separator: " "))", message: r.stderr) }
    }

    /// `prefix`: the helper tag the namespaces and interfaces are named with.
    static func with<T>(prefix: String = "dr", _ body: (DropsLab) throws -> T) throws -> T {
        counter += 1
        let id = "\(getpid() % 100000)\(counter)"
        let lab = DropsLab(a: "\(prefix)A\(id)", b: "\(prefix)B\(id)", ifA: "\(prefix)a\(id)", ifB: "\(prefix)b\(id)", net: 200 + Int(getpid() % 20) + counter)
        defer {
            _ = try? TestPrograms.run("/usr/sbin/ip", ["netns", "del", lab.a])
            _ = try? TestPrograms.run("/usr/sbin/ip", ["netns", "del", lab.b])
        }
        try ip(["netns", "add", lab.a])
        try ip(["netns", "add", lab.b])
        try ip(["link", "add", lab.ifA, "netns", lab.a, "type", "veth", "peer", "name", lab.ifB, "netns", lab.b])
        try ip(["-n", lab.a, "addr", "add", "\(lab.addrA)/24", "dev", lab.ifA])
        try ip(["-n", lab.b, "addr", "add", "\(lab.addrB)/24", "dev", lab.ifB])
        for (ns, dev) in [(lab.a, lab.ifA), (lab.b, lab.ifB), (lab.a, "lo"), (lab.b, "lo")] { try ip(["-n", ns, "link", "set", dev, "up"]) }
        return try body(lab)
    }

    var addrA: String { "10.201.\(net).1" }
    var addrB: String { "10.201.\(net).2" }

    /// Sends `count` UDP datagrams of `size` bytes from namespace `ns` to host:port (python3).
    func udp(from ns: String, to host: String, port: Int, count: Int, size: Int = 1, payloadHex: String? = nil) throws {
        let payload = payloadHex.map { "bytes.fromhex('\($0)')" } ?? "b'x' * \(size)"
        let r = try TestPrograms.run("/usr/sbin/ip", ["netns", "exec", ns, "python3", "-c", """
            import socket
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            for _ in range(\(count)): s.sendto(\(payload), ('\(host)', \(port)))
            """])
        guard r.status == 0 else { throw BPFError(.state, operation: "udp traffic", message: r.stderr) }
    }
}

/// Runs `netbpf drops --json ARGS` around `traffic`: waits for its ready line, runs the
/// traffic, lets the last packets land, stops it with SIGINT and returns its final report.
func dropsReport(_ args: [String], traffic: () throws -> Void) throws -> [[String: Any]] {
    let p = try StreamingProcess(CLI.binary, ["drops", "--json"] + args)
    defer { p.interrupt() }
    let end = Date().addingTimeInterval(60)
    while !p.errorText.contains("Hit Ctrl-C"), p.process.isRunning, Date() < end { usleep(20_000) }
    guard p.errorText.contains("Hit Ctrl-C") else { throw BPFError(.state, operation: "netbpf drops", message: "not ready: \(p.errorText)") }
    try traffic()
    usleep(300_000)
    let out = p.interrupt(interruptible: true)
    #expect(p.process.terminationStatus == 0, "\(p.errorText)")
    guard let last = out.split(separator: "\n").last,
          let json = try JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any],
          let rows = json["drops"] as? [[String: Any]] else {
        throw BPFError(.state, operation: "netbpf drops", message: "no JSON report: \(out) \(p.errorText)")
    }
    return rows
}

func packets(_ rows: [[String: Any]], _ reason: String) -> Int {
    rows.filter { $0["reason"] as? String == reason }.reduce(0) { $0 + ($1["packets"] as? Int ?? 0) }
}

@Suite(.serialized, .enabled(if: TestEnvironment.isRoot, "requires root: drops loads a BPF program and makes namespaces"))
struct DropsTests {
    @Test func udpToAClosedPortIsExactlyNNoSocketDropsThere() throws {
        try DropsLab.with { lab in
            // The pcap filter runs in the kernel: the unmatched port 10 datagrams never count.
            let rows = try dropsReport(["--netns", lab.b, "udp", "and", "dst", "port", "9"]) {
                try lab.udp(from: lab.a, to: lab.addrB, port: 9, count: 7)
                try lab.udp(from: lab.a, to: lab.addrB, port: 10, count: 3)
            }
            #expect(rows.count == 1, "\(rows)")
            let r = rows.first
            #expect(r?["reason"] as? String == "NO_SOCKET")
            #expect(r?["packets"] as? Int == 7)
            #expect(r?["place"] as? String == "\(lab.b)/\(lab.ifB)")
            #expect(r?["proto"] as? String == "udp")
            #expect(r?["source"] as? String == lab.addrA)
            #expect(r?["destination"] as? String == "\(lab.addrB):9")
            #expect((r?["location"] as? String ?? "").hasPrefix("__udp4_lib_rcv"), "\(r ?? [:])")
        }
    }

    @Test func routesThatDropForwardedPackets() throws {
        try DropsLab.with { lab in
            try DropsLab.ip(["netns", "exec", lab.b, "sysctl", "-qw", "net.ipv4.ip_forward=1"])
            try DropsLab.ip(["-n", lab.b, "route", "add", "blackhole", "10.202.9.0/24"])
            try DropsLab.ip(["-n", lab.a, "route", "add", "10.202.0.0/16", "via", lab.addrB])
            let rows = try dropsReport(["--netns", lab.b, "udp"]) {
                try lab.udp(from: lab.a, to: "10.202.9.1", port: 9, count: 5)   // blackhole route
                try lab.udp(from: lab.a, to: "10.202.8.1", port: 9, count: 4)   // no route at all
            }
            // 6.18's ip_error() gives a blackhole route's EINVAL no reason of its own (NOT_SPECIFIED);
            // a missing route while forwarding is IP_INNOROUTES.
            let blackhole = rows.filter { $0["destination"] as? String == "10.202.9.1:9" }
            #expect(blackhole.count == 1 && blackhole.first?["packets"] as? Int == 5, "\(rows)")
            #expect((blackhole.first?["location"] as? String ?? "").hasPrefix("ip_error"))
            let noRoute = rows.filter { $0["destination"] as? String == "10.202.8.1:9" }
            #expect(noRoute.count == 1 && noRoute.first?["reason"] as? String == "IP_INNOROUTES" && noRoute.first?["packets"] as? Int == 4, "\(rows)")
        }
    }

    @Test func vxlanFrameWithAnUnknownVNI() throws {
        try DropsLab.with { lab in
            try DropsLab.ip(["-n", lab.b, "link", "add", "vx\(lab.net)", "type", "vxlan", "id", "100", "dstport", "4789",
                             "local", lab.addrB, "dev", lab.ifB, "nolearning"])
            try DropsLab.ip(["-n", lab.b, "link", "set", "vx\(lab.net)", "up"])
            // VXLAN header with the I flag and VNI 999, then an inner Ethernet frame (ARP type, zero body).
            let frame = "08000000" + "0003e7" + "00" + "ffffffffffff" + "0a0000000001" + "0806" + String(repeating: "00", count: 28)
            let rows = try dropsReport(["--netns", lab.b, "udp port 4789"]) {
                try lab.udp(from: lab.a, to: lab.addrB, port: 4789, count: 4, payloadHex: frame)
            }
            #expect(packets(rows, "VXLAN_VNI_NOT_FOUND") == 4, "\(rows)")
            #expect(rows.count == 1, "\(rows)")
        }
    }

    @Test func rateLimiterOverItsRateIsTCIngressNamingTheProgram() throws {
        try DropsLab.with { lab in
            let state = "/tmp/netbpf-dr-state-\(getpid())"
            setenv("NETBPF_STATE_DIR", state, 1)
            defer {
                _ = try? CLI.run(["ratelimit", "detach", "--interface", lab.ifB, "--netns", lab.b])
                unsetenv("NETBPF_STATE_DIR")
                _ = try? FileManager.default.removeItem(atPath: state)
            }
            let attach = try CLI.run(["ratelimit", "attach", lab.ifB, "--netns", lab.b, "--ingress", "--key", "source"])
            try #require(attach.status == 0, "\(attach.stderr)")
            #expect(try CLI.run(["ratelimit", "add", "\(lab.addrA)/32", "64kbit", "--burst", "4k"]).status == 0)
            let sent = 40
            let rows = try dropsReport(["--netns", lab.b, "udp", "dst", "port", "9"]) {
                try lab.udp(from: lab.a, to: lab.addrB, port: 9, count: sent, size: 1000)
            }
            let list = try CLI.run(["ratelimit", "list", "--json", "--interval", "0.1"])
            let limits = try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]]
            let entry = limits?.first { ($0["entry"] as? [String: Any])?["prefix"] as? String == lab.addrA }?["entry"] as? [String: Any]
            let dropped = entry?["droppedPackets"] as? Int ?? -1
            #expect(dropped > 0, "\(list.stdout)")
            // Every datagram is accounted for: the limiter's drops at tc ingress, the rest at the closed port.
            #expect(packets(rows, "TC_INGRESS") == dropped, "\(rows)")
            #expect(packets(rows, "TC_INGRESS") + packets(rows, "NO_SOCKET") == sent, "\(rows)")
            let program = rows.first { $0["reason"] as? String == "TC_INGRESS" }?["program"] as? String ?? ""
            #expect(program.contains("(id ") && program.contains("on \(lab.b)/\(lab.ifB)") && program.contains("ingress"), "\(program)")
        }
    }

    @Test func prometheusMetricsByReasonAndHost() throws {
        try DropsLab.with { lab in
            let p = try StreamingProcess(CLI.binary, ["drops", "--netns", lab.b, "--listen", "127.0.0.1:0", "--interval", "0.2", "udp"])
            defer { p.interrupt(interruptible: true) }
            #expect(p.wait(for: "Hit Ctrl-C"))
            let url = try #require(p.text.split(whereSeparator: { $0 == " " || $0 == "\n" }).first(where: { $0.hasPrefix("http://") }).map({ String($0) }),
                                   "no metrics URL in \(p.text)")
            try lab.udp(from: lab.a, to: lab.addrB, port: 9, count: 3)
            let expected = "netbpf_drops_packets_total{reason=\"NO_SOCKET\",host=\"\(lab.b)\",interface=\"\(lab.ifB)\"} 3\n"
            var scrape = try TestPrograms.run("/usr/bin/curl", ["-s", "-i", url])
            for _ in 0..<50 where !scrape.stdout.contains(expected) {
                usleep(100_000)
                scrape = try TestPrograms.run("/usr/bin/curl", ["-s", "-i", url])
            }
            #expect(scrape.stdout.contains("Content-Type: text/plain; version=0.0.4"), "\(scrape.stdout)")
            #expect(scrape.stdout.contains("# TYPE netbpf_drops_packets_total counter"))
            #expect(scrape.stdout.contains(expected), "\(scrape.stdout)")
        }
    }

    @Test func simulationHostsNameThePlace() throws {
        let name = "dr\(getpid() % 100_000)-pair"
        let topology = TestPrograms.repositoryRoot.path + "/topologies/pair.yaml"
        defer { _ = try? CLI.run(["sim", "down", name]) }
        let up = try CLI.run(["sim", "up", topology, "--name", name])
        try #require(up.status == 0, "\(up.stderr)")
        let rows = try dropsReport(["--netns", "nb-\(name)-h2", "udp", "port", "9"]) {
            let r = try CLI.run(["sim", "exec", "h1", "--sim", name, "--", "python3", "-c",
                                 "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\nfor _ in range(2): s.sendto(b'x', ('10.0.0.2', 9))"])
            try #require(r.status == 0, "\(r.stderr)")
        }
        #expect(rows.count == 1 && rows.first?["place"] as? String == "h2/eth0" && rows.first?["packets"] as? Int == 2, "\(rows)")
    }

    @Test func badInputIsOneLine() throws {
        let ns = try CLI.run(["drops", "--netns", "no-such-ns-dr", "--seconds", "1"])
        #expect(ns.status == 1 && ns.stderr.split(separator: "\n").count == 1 && ns.stderr.contains("no-such-ns-dr"), "\(ns.stderr)")
        let filter = try CLI.run(["drops", "--seconds", "1", "udp", "port", "banana"])
        #expect(filter.status == 1 && filter.stderr.split(separator: "\n").count == 1 && filter.stderr.contains("pcap"), "\(filter.stderr)")
    }
}

/// Pure logic: no root.
@Suite struct DropsUnitTests {
    @Test func dropReasonsComeFromTheKernelsBTF() throws {
        let names = try BTFEnums.values(of: "skb_drop_reason")
        #expect(names[3] == "SKB_DROP_REASON_NO_SOCKET")
        #expect(DropReasons.value("NO_SOCKET") == 3)
        #expect(DropReasons.name(3) == "NO_SOCKET")
        #expect(BTFEnums.parse([1, 2, 3], enumName: "x") == nil)
    }

    @Test func classicFilterBecomesC() throws {
        let c = try PcapToC.function(ClassicFilter.compile(pcap: "udp and dst port 9"))
        #expect(c.contains("static __always_inline u32 netbpf_pcap_match(struct pkt_ctx *p)"))
        #expect(c.contains("pkt_ld(p, 0xcU, 2, &A)"))  // the EtherType
        let inserted = try PcapToC.insert("F\n", into: "a\n/* NETBPF_PCAP_FILTER_HERE: x */\nb\n")
        #expect(inserted == "a\nF\n/* NETBPF_PCAP_FILTER_HERE: x */\nb\n")
        let bad = ClassicFilter(instructions: [.init(code: 0x20, jt: 0, jf: 0, k: 0xffff_f004), .init(code: 0x06, jt: 0, jf: 0, k: 1)])
        #expect(throws: BPFError.self) { try PcapToC.function(bad) }
    }

    @Test func prometheusTextIsSortedAndSummed() {
        func row(_ reason: String, _ ns: String, _ n: UInt64) -> DropRow {
            DropRow(reason: reason, reasonCode: 0, location: "f", namespace: ns, netnsInode: 1, interface: "eth0", place: "x",
                    program: nil, proto: "udp", source: "", destination: "", packets: n, bytes: n * 10)
        }
        let text = DropsReport.prometheus([row("NO_SOCKET", "h2", 2), row("NO_SOCKET", "h2", 3), row("TC_INGRESS", "", 1)], tableFull: 0, seen: 9)
        #expect(text.contains("netbpf_drops_packets_total{reason=\"NO_SOCKET\",host=\"h2\",interface=\"eth0\"} 5\nnetbpf_drops_packets_total{reason=\"TC_INGRESS\",host=\"root\",interface=\"eth0\"} 1\n"))
        #expect(text.contains("netbpf_drops_seen_total 9\n"))
    }
}
