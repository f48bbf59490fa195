import Foundation
import Glibc
@testable import NetBPF
import NetBPFTestSupport
import Testing
@testable import NetBPFTracing

/// tshark's fields of every packet of a pcap-ng file, one array per packet.
func tsharkFields(_ file: String, _ fields: [String], filter: String? = nil) throws -> [[String]] {
    var args = ["-r", file, "-T", "fields", "-E", "separator=|"]
    for f in fields { args += ["-e", f] }
    if let filter { args += ["-Y", filter] }
    let r = try TestPrograms.run("/usr/bin/tshark", args)
    guard r.status == 0 else { throw BPFError(.state, operation: "tshark", message: r.stderr) }
    return r.stdout.split(separator: "\n").map { $0.split(separator: "|", omittingEmptySubsequences: false).map(String.init) }
}

@Suite(.serialized, .enabled(if: TestEnvironment.isRoot, "requires root: capture attaches tc programs in namespaces"),
       .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/tshark"), "requires tshark (scripts/setup.sh installs it)"))
struct CaptureTests {
    @Test func pingAndCurlAcrossTwoNamespacesReadByTshark() throws {
        try DropsLab.with { lab in
            let file = "/tmp/netbpf-dr-capture-\(getpid()).pcapng"
            defer { unlink(file) }
            let server = Process()
            server.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
            server.arguments = ["netns", "exec", lab.b, "python3", "-m", "http.server", "8080", "--bind", lab.addrB]
            server.standardOutput = FileHandle.nullDevice
            server.standardError = FileHandle.nullDevice
            try server.run()
            // SIGKILL: children inherit the runner's blocked SIGTERM, so terminate() would not end it.
            defer { kill(server.processIdentifier, SIGKILL); server.waitUntilExit() }
            // The server is up once a connection succeeds (before the capture: its SYNs are not in the file).
            for _ in 0..<100 {
                if (try? TestPrograms.run("/usr/sbin/ip", ["netns", "exec", lab.a, "curl", "-s", "-o", "/dev/null", "http://\(lab.addrB):8080/"]))?.status == 0 { break }
                usleep(100_000)
            }
            let a = "\(lab.a)/\(lab.ifA)", b = "\(lab.b)/\(lab.ifB)"
            let p = try StreamingProcess(CLI.binary, ["capture", a, b, "-w", file, "icmp", "or", "tcp", "port", "8080"])
            defer { p.interrupt() }
            let end = Date().addingTimeInterval(60)
            while !p.errorText.contains("Hit Ctrl-C"), p.process.isRunning, Date() < end { usleep(20_000) }
            try #require(p.errorText.contains("Hit Ctrl-C"), "\(p.errorText)")
            _ = try TestPrograms.run("/usr/sbin/ip", ["netns", "exec", lab.a, "ping", "-c", "2", "-i", "0.2", "-q", lab.addrB])
            // Other traffic the filter must keep out: UDP and IPv6 neighbour chatter.
            try lab.udp(from: lab.a, to: lab.addrB, port: 9, count: 5)
            let curl = try TestPrograms.run("/usr/sbin/ip", ["netns", "exec", lab.a, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "http://\(lab.addrB):8080/"])
            #expect(curl.stdout == "200")
            usleep(300_000)
            p.interrupt(interruptible: true)
            #expect(p.process.terminationStatus == 0, "\(p.errorText)")
            #expect(p.errorText.contains(" 0 lost"), "\(p.errorText)")

            let rows = try tsharkFields(file, ["frame.interface_name", "frame.comment", "icmp.type", "http.request.method", "ip.src", "ip.dst"])
            let names = Set(rows.map { $0[0] })
            #expect(names == ["\(a):ingress", "\(a):egress", "\(b):ingress", "\(b):egress"], "\(names)")
            // Exactly the two echo requests and two replies, each at both ends.
            // (The UDP datagrams bring ICMP port-unreachable errors, type 3: the filter keeps those too.)
            let icmp = rows.filter { $0[2] == "8" || $0[2] == "0" }
            #expect(icmp.count == 8, "\(rows)")
            #expect(rows.filter { $0[2] == "3" }.count == 10, "5 port unreachables, each at B egress and A ingress")
            // Written in time order across hooks.
            let times = try tsharkFields(file, ["frame.time_epoch"]).compactMap { Double($0[0]) }
            #expect(times == times.sorted())
            #expect(icmp.filter { $0[2] == "8" && $0[0] == "\(a):egress" }.count == 2)
            #expect(icmp.filter { $0[2] == "8" && $0[0] == "\(b):ingress" }.count == 2)
            #expect(icmp.filter { $0[2] == "0" && $0[0] == "\(b):egress" }.count == 2)
            #expect(icmp.filter { $0[2] == "0" && $0[0] == "\(a):ingress" }.count == 2)
            // The GET leaves A and enters B once each; nothing outside the filter got in.
            // (By bytes: tshark takes the second copy of a segment for a retransmission and does not dissect its HTTP.)
            let gets = try tsharkFields(file, ["frame.interface_name"], filter: "frame contains \"GET / HTTP/1.1\"").map { $0[0] }
            #expect(gets.sorted() == ["\(a):egress", "\(b):ingress"].sorted())
            #expect(try tsharkFields(file, ["frame.number"], filter: "not (icmp or tcp.port == 8080)").isEmpty)
            #expect(rows.allSatisfy { $0[1].contains("mark=0x") }, "\(rows.first ?? [])")
        }
    }

    @Test func droppedPacketsCarryTheirReason() throws {
        try DropsLab.with { lab in
            let file = "/tmp/netbpf-dr-capture-drop-\(getpid()).pcapng"
            let state = "/tmp/netbpf-dr-state-cap-\(getpid())"
            setenv("NETBPF_STATE_DIR", state, 1)
            defer {
                _ = try? CLI.run(["ratelimit", "detach", "--interface", lab.ifB, "--netns", lab.b])
                unsetenv("NETBPF_STATE_DIR")
                _ = try? FileManager.default.removeItem(atPath: state)
                unlink(file)
            }
            let attach = try CLI.run(["ratelimit", "attach", lab.ifB, "--netns", lab.b, "--ingress", "--key", "source"])
            try #require(attach.status == 0, "\(attach.stderr)")
            #expect(try CLI.run(["ratelimit", "add", lab.addrA, "64kbit", "--burst", "4k"]).status == 0)
            let b = "\(lab.b)/\(lab.ifB)"
            let p = try StreamingProcess(CLI.binary, ["capture", b, "--hook", "ingress", "-w", file, "udp", "port", "9"])
            defer { p.interrupt() }
            let end = Date().addingTimeInterval(60)
            while !p.errorText.contains("Hit Ctrl-C"), p.process.isRunning, Date() < end { usleep(20_000) }
            try #require(p.errorText.contains("Hit Ctrl-C"), "\(p.errorText)")
            try lab.udp(from: lab.a, to: lab.addrB, port: 9, count: 20, size: 1000)
            usleep(500_000)
            p.interrupt(interruptible: true)
            let comments = try tsharkFields(file, ["frame.comment"]).map { $0[0] }
            // Every datagram entered B's ingress: the limiter dropped some there (TC_INGRESS, after
            // the capture program, which runs first), the closed port the rest (NO_SOCKET).
            #expect(comments.count == 20, "\(comments)")
            let limited = comments.filter { $0.hasSuffix("dropped: TC_INGRESS") }.count
            let closed = comments.filter { $0.hasSuffix("dropped: NO_SOCKET") }.count
            #expect(limited > 0 && limited + closed == 20, "\(comments)")
            // The limiter is named as the program that shot exactly those; it handed the others on.
            let shot = comments.filter { $0.contains(/verdict: ratelimit \(id \d+\) SHOT dropped: TC_INGRESS$/) }.count
            let next = comments.filter { $0.contains(/verdict: ratelimit \(id \d+\) next dropped: NO_SOCKET$/) }.count
            #expect(shot == limited && next == closed, "\(comments)")
        }
    }

    /// A small tc program for the verdict test: drops ICMP echo requests with an odd sequence
    /// number (TC_ACT_SHOT), passes those with an even one (TC_ACT_OK: ends the tcx chain) and
    /// hands everything else on (TC_ACT_UNSPEC = TCX_NEXT).
    static let oddEcho = """
        #include <linux/bpf.h>
        #include <linux/pkt_cls.h>
        #include <bpf/bpf_helpers.h>
        #include <bpf/bpf_endian.h>

        SEC("tc")
        int odd_echo(struct __sk_buff *skb)
        {
        	__u8 ip[20], icmp[8];

        	if (skb->protocol != bpf_htons(0x0800))
        		return TC_ACT_UNSPEC;
        	if (bpf_skb_load_bytes(skb, 14, ip, sizeof(ip)) || ip[9] != 1)
        		return TC_ACT_UNSPEC;
        	if (bpf_skb_load_bytes(skb, 14 + (ip[0] & 0xf) * 4, icmp, sizeof(icmp)) || icmp[0] != 8)
        		return TC_ACT_UNSPEC;
        	return (icmp[7] & 1) ? TC_ACT_SHOT : TC_ACT_OK;
        }

        char LICENSE[] SEC("license") = "GPL";
        """

    /// Three programs attached with `netbpf attach tc` on B's ingress (count_icmp, odd_echo,
    /// count_tc), none on its egress; 4 pings A -> B and 2 B -> A. Every packet's comment names
    /// each program with its verdict: SHOT (and TC_INGRESS) for the odd requests, ok for the
    /// even ones (odd_echo ended the chain: count_tc not run), next for the replies to B until
    /// count_tc (which passes everything: ok), "no programs" on the egress hook.
    @Test func eachProgramsVerdictPerPacket() throws {
        try DropsLab.with(prefix: "cv") { lab in
            let dir = "/tmp/netbpf-cv-capture-\(getpid())"
            let file = dir + "/verdicts.pcapng"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            setenv("NETBPF_STATE_DIR", dir + "/state", 1)
            defer {
                _ = try? CLI.run(["detach", "tc", lab.ifB, "--netns", lab.b, "--all"])
                unsetenv("NETBPF_STATE_DIR")
                _ = try? FileManager.default.removeItem(atPath: "/sys/fs/bpf/netbpf/\(lab.b)")
                _ = try? FileManager.default.removeItem(atPath: dir)
            }
            try Self.oddEcho.write(toFile: dir + "/odd_echo.bpf.c", atomically: true, encoding: .utf8)
            let programs = TestPrograms.repositoryRoot.appendingPathComponent("programs").path
            var ids: [String: UInt32] = [:]
            for (name, args) in [("count_icmp", ["\(programs)/count_icmp.bpf.c"]), ("odd_echo", [dir + "/odd_echo.bpf.c"]),
                                 ("count_tc", ["\(programs)/count_packets.bpf.c", "--program-name", "count_tc"])] {
                let r = try CLI.run(["attach", "tc", lab.ifB] + args + ["--netns", lab.b, "--ingress", "--tcx", "--json"])
                try #require(r.status == 0, "\(name): \(r.stderr)")
                let record = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
                ids[name] = (record?["programID"] as? NSNumber)?.uint32Value
            }
            let (count, odd, tc) = (ids["count_icmp"] ?? 0, ids["odd_echo"] ?? 0, ids["count_tc"] ?? 0)
            try #require(count != 0 && odd != 0 && tc != 0, "\(ids)")

            let b = "\(lab.b)/\(lab.ifB)"
            let p = try StreamingProcess(CLI.binary, ["capture", b, "-w", file, "icmp"])
            defer { p.interrupt() }
            let end = Date().addingTimeInterval(60)
            while !p.errorText.contains("Hit Ctrl-C"), p.process.isRunning, Date() < end { usleep(20_000) }
            try #require(p.errorText.contains("Hit Ctrl-C"), "\(p.errorText)")
            // Requests 1 and 3 are dropped (no reply), 2 and 4 answered.
            _ = try TestPrograms.run("/usr/sbin/ip", ["netns", "exec", lab.a, "ping", "-c", "4", "-i", "0.2", "-W", "1", "-q", lab.addrB])
            let back = try TestPrograms.run("/usr/sbin/ip", ["netns", "exec", lab.b, "ping", "-c", "2", "-i", "0.2", "-W", "1", "-q", lab.addrA])
            #expect(back.status == 0, "\(back.stdout) \(back.stderr)")
            usleep(400_000)
            p.interrupt(interruptible: true)
            #expect(p.process.terminationStatus == 0, "\(p.errorText)")
            #expect(p.errorText.contains(" 0 lost"), "\(p.errorText)")

            // (interface, ICMP type, sequence, verdict, drop reason) of every packet.
            let rows = try tsharkFields(file, ["frame.interface_name", "icmp.type", "icmp.seq", "frame.comment"]).map { r -> [String] in
                let comment = r[3]
                let verdict = comment.range(of: "verdict: ").map { String(comment[$0.lowerBound...]) } ?? ""
                let parts = verdict.components(separatedBy: " dropped: ")
                return [r[0], r[1], r[2], parts[0], parts.count > 1 ? parts[1] : ""]
            }
            let ingress = rows.filter { $0[0] == "\(b):ingress" }, egress = rows.filter { $0[0] == "\(b):egress" }
            #expect(ingress.count == 6 && egress.count == 4, "\(rows)")
            let shot = "verdict: count_icmp (id \(count)) next; odd_echo (id \(odd)) SHOT; count_tc (id \(tc)) not run"
            let passed = "verdict: count_icmp (id \(count)) next; odd_echo (id \(odd)) ok; count_tc (id \(tc)) not run"
            let handedOn = "verdict: count_icmp (id \(count)) next; odd_echo (id \(odd)) next; count_tc (id \(tc)) ok"
            let requests = ingress.filter { $0[1] == "8" }
            #expect(requests.map { [$0[2], $0[3], $0[4]] } == [["1", shot, "TC_INGRESS"], ["2", passed, ""], ["3", shot, "TC_INGRESS"], ["4", passed, ""]], "\(requests)")
            // Replies to B's pings: handed on to count_tc, which passes everything (TC_ACT_OK). (A root ping may read them on a
            // raw socket's clone and the original is then freed as NO_SOCKET: not a tc drop.)
            let replies = ingress.filter { $0[1] == "0" }
            #expect(replies.count == 2 && replies.allSatisfy { $0[3] == handedOn && !$0[4].hasPrefix("TC_") }, "\(replies)")
            // (The replies to A may end as NO_SOCKET at A: the same skb crosses the veth.)
            #expect(egress.allSatisfy { $0[3] == "verdict: no programs" && !$0[4].hasPrefix("TC_") }, "\(egress)")
            #expect(egress.filter { $0[1] == "0" }.map { $0[2] } == ["2", "4"] && egress.filter { $0[1] == "8" }.count == 2, "\(egress)")
        }
    }

    /// --hook xdp: frames seen at the XDP hook (before tc) go in their own interface block; the
    /// hook is free again when capture ends; a taken XDP hook is one error line.
    @Test func xdpHookBeforeTCIngress() throws {
        try DropsLab.with { lab in
            let file = "/tmp/netbpf-dr-capture-xdp-\(getpid()).pcapng"
            defer { unlink(file) }
            let b = "\(lab.b)/\(lab.ifB)"
            let p = try StreamingProcess(CLI.binary, ["capture", b, "--hook", "xdp,ingress", "-w", file, "icmp"])
            defer { p.interrupt() }
            let end = Date().addingTimeInterval(60)
            while !p.errorText.contains("Hit Ctrl-C"), p.process.isRunning, Date() < end { usleep(20_000) }
            try #require(p.errorText.contains("Hit Ctrl-C"), "\(p.errorText)")
            let link = try TestPrograms.run("/usr/sbin/ip", ["-n", lab.b, "-d", "link", "show", lab.ifB])
            #expect(link.stdout.contains("prog/xdp"), "\(link.stdout)")
            _ = try TestPrograms.run("/usr/sbin/ip", ["netns", "exec", lab.a, "ping", "-c", "3", "-i", "0.2", "-q", lab.addrB])
            usleep(300_000)
            p.interrupt(interruptible: true)
            #expect(p.process.terminationStatus == 0, "\(p.errorText)")
            let rows = try tsharkFields(file, ["frame.interface_name", "icmp.type", "frame.comment"])
            // Only B's ingress side: the 3 echo requests, each at XDP and then at tc ingress.
            #expect(rows.map { $0[0] } == Array(repeating: ["\(b):xdp", "\(b):ingress"], count: 3).flatMap { $0 }, "\(rows)")
            #expect(rows.allSatisfy { $0[1] == "8" }, "\(rows)")
            #expect(rows.filter { $0[0].hasSuffix(":xdp") }.allSatisfy { !$0[2].contains("mark=") }, "\(rows)")
            let after = try TestPrograms.run("/usr/sbin/ip", ["-n", lab.b, "-d", "link", "show", lab.ifB])
            #expect(!after.stdout.contains("prog/xdp"), "capture left its XDP program: \(after.stdout)")

            // The hook taken by another XDP program: one line naming it, nothing attached.
            let state = "/tmp/netbpf-dr-state-capx-\(getpid())"
            setenv("NETBPF_STATE_DIR", state, 1)
            defer {
                _ = try? CLI.run(["detach", "xdp", lab.ifB, "--netns", lab.b])
                unsetenv("NETBPF_STATE_DIR")
                _ = try? FileManager.default.removeItem(atPath: state)
            }
            let program = TestPrograms.repositoryRoot.appendingPathComponent("programs/count_packets.bpf.c").path
            let other = try CLI.run(["attach", "xdp", lab.ifB, program, "--netns", lab.b])
            try #require(other.status == 0, "\(other.stderr)")
            let taken = try CLI.run(["capture", b, "--hook", "xdp", "-w", file])
            #expect(taken.status == 1 && taken.stderr.split(separator: "\n").count == 1 && taken.stderr.contains("another XDP program is attached"), "\(taken.stderr)")
        }
    }

    @Test func badInput() throws {
        let none = try CLI.run(["capture", "-w", "/tmp/netbpf-dr-x.pcapng", "no-such-if-dr"])
        #expect(none.status == 1 && none.stderr.split(separator: "\n").count == 1 && none.stderr.contains("not an interface"), "\(none.stderr)")
        let ns = try CLI.run(["capture", "-w", "/tmp/netbpf-dr-x.pcapng", "no-such-ns-dr/eth0"])
        #expect(ns.status == 1 && ns.stderr.contains("no network namespace"), "\(ns.stderr)")
        let hook = try CLI.run(["capture", "-w", "/tmp/netbpf-dr-x.pcapng", "--hook", "xdp,tail", "lo"])
        #expect(hook.status == 1 && hook.stderr.contains("'tail' is not a hook"), "\(hook.stderr)")
        unlink("/tmp/netbpf-dr-x.pcapng")
    }
}

@Suite struct PcapNGUnitTests {
    @Test func blocksAreWellFormed() {
        var w = PcapNGWriter(application: "t")
        w.interface(name: "h2/eth0:ingress", description: "d", snaplen: 100)
        let bytes: [UInt8] = [1, 2, 3]
        bytes.withUnsafeBytes { w.packet(interface: 0, timestampNs: 5, data: $0, originalLength: 3, inbound: true, comment: "c") }
        let out = w.take()
        // Walk the blocks: each total length is at both ends and a multiple of 4.
        var o = 0, types: [UInt32] = []
        out.withUnsafeBytes { b in
            while o + 12 <= b.count {
                let type = b.u32(o), len = Int(b.u32(o + 4))
                #expect(len % 4 == 0 && o + len <= b.count && b.u32(o + len - 4) == UInt32(len))
                types.append(type)
                o += max(len, 12)
            }
        }
        #expect(types == [0x0A0D_0D0A, 1, 6])
        #expect(o == out.count)
    }
}

/// The comment's verdict from the slots that saw a packet (pure logic, no kernel).
@Suite struct CaptureVerdictUnitTests {
    // Two programs with a probe in front of each and one after: slots 0, 1, 2.
    let info = PacketPath.HookInfo(place: "eth0", programs: [.init(name: "a", id: 5), .init(name: "b", id: 9)], probesAfter: [0, 1, 2])

    @Test func wordsPerSlot() {
        #expect(Capture.verdictText(info, maxSlot: 0, shot: true) == "verdict: a (id 5) SHOT; b (id 9) not run")
        #expect(Capture.verdictText(info, maxSlot: 0, shot: false) == "verdict: a (id 5) ok; b (id 9) not run")
        #expect(Capture.verdictText(info, maxSlot: 1, shot: true) == "verdict: a (id 5) next; b (id 9) SHOT")
        #expect(Capture.verdictText(info, maxSlot: 2, shot: false) == "verdict: a (id 5) next; b (id 9) next")
        // Past the last probe only a clsact filter can still drop it.
        #expect(Capture.verdictText(info, maxSlot: 2, shot: true) == "verdict: a (id 5) next; b (id 9) next; tc filter SHOT")
    }

    @Test func noProgramsAndTooMany() {
        #expect(Capture.verdictText(PacketPath.HookInfo(place: "eth0", programs: [], probesAfter: [0]), maxSlot: 0, shot: false) == "verdict: no programs")
        #expect(Capture.verdictText(nil, maxSlot: 0, shot: false) == "verdict: no programs")
        // More programs than slots: probes first and last only, so the deciders are a group.
        let many = PacketPath.HookInfo(place: "eth0", programs: [.init(name: "a", id: 1), .init(name: "b", id: 2)], probesAfter: [0, 2])
        #expect(Capture.verdictText(many, maxSlot: 0, shot: true) == "verdict: a|b SHOT")
    }
}
