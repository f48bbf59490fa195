import Foundation
import Testing

/// The cases of the kernel matrix (KernelMatrix.swift): each ran in Debian 12's 6.1 guest, where
/// kprobes, fentry, kprobe events and act_bpf exist and tcx and kprobe.multi do not. The counts
/// asserted are exact: `syncs` sync(2) calls, `PINGS` echo requests.
@Suite(.serialized)
struct KernelMatrixTests {
    static let syncs = 7
    static let pings = 5

    /// The guest runs the kernel the matrix is for, and netbpf's probes see what it has.
    @Test func features() throws {
        let r = try KernelMatrix.result("features")
        #expect(r.facts["release"]?.hasPrefix("6.1.") == true, "\(r.output)")
        #expect(r.counts["kprobes"] == 1, "\(r.output)")
        #expect(r.counts["fentry"] == 1, "\(r.output)")
        #expect(r.counts["tcx"] == 0, "6.1 has no tcx: \(r.output)")
    }

    @Test func kprobeByName() throws { try expectHits("kprobe-name") }
    @Test func kretprobeByName() throws { try expectHits("kretprobe-name") }
    @Test func kprobeAtOffset() throws { try expectHits("kprobe-offset") }
    @Test func kprobeBCCNaming() throws { try expectHits("kprobe-bcc-naming") }

    @Test func fentryAndFexit() throws {
        let r = try KernelMatrix.result("fentry-fexit")
        #expect(r.counts["entries"] == Self.syncs && r.counts["exits"] == Self.syncs, "\(r.counts) \(r.output)")
    }

    @Test func uprobeAndUretprobe() throws {
        let r = try KernelMatrix.result("uprobe")
        #expect(r.counts["entries"] == Self.syncs && r.counts["returns"] == Self.syncs, "\(r.counts) \(r.output)")
    }

    /// No CONFIG_FPROBE: the attach fails, non-zero exit, and the error names the reason.
    @Test func kprobeMultiReportedMissing() throws {
        let r = try KernelMatrix.result("kprobe-multi-missing")
        #expect(r.counts["exit"] != 0, "\(r.output)")
        #expect(r.counts["names_fprobe"] == 1, "\(r.output)")
        #expect(r.status == "pass", "\(r.output)")
    }

    @Test func funccountOnOneKernelFunction() throws {
        let r = try KernelMatrix.result("funccount-kprobe")
        #expect(r.counts["ksys_sync"] == Self.syncs, "\(r.counts) \(r.output)")
    }

    /// A glob over kernel functions: kprobe.multi is refused on 6.1, so funccount must fall back
    /// to one kprobe per function and still count each function on its own line.
    @Test func funccountOnAGlobWithoutKprobeMulti() throws {
        let r = try KernelMatrix.result("funccount-kprobe-glob")
        #expect(r.counts["ksys_sync"] == Self.syncs, "\(r.counts) \(r.output)")
        #expect(r.counts["x64_sys_sync"] == Self.syncs, "\(r.counts) \(r.output)")
        #expect((r.counts["probes"] ?? 0) >= 2, "\(r.counts) \(r.output)")
    }

    /// `netbpf trace trace p:ksys_sync`: one event per call.
    @Test func traceOnAKprobe() throws {
        let r = try KernelMatrix.result("trace-kprobe")
        #expect(r.counts["events"] == Self.syncs, "\(r.counts) \(r.output)")
    }

    /// A tracefs kprobe event given as a tracepoint: refused with the p:FUNCTION hint (attaching
    /// the tracepoint program to it gave a bare EINVAL before).
    @Test func traceRefusesAKprobeEventWithAHint() throws {
        let r = try KernelMatrix.result("trace-kprobe-event-refused")
        #expect(r.counts["exit"] != 0 && r.counts["hint"] == 1, "\(r.counts) \(r.output)")
    }

    /// `netbpf attach tc` without --clsact picks clsact because tcx is missing (detected).
    @Test func attachTCFallsBackToClsact() throws {
        let r = try KernelMatrix.result("tc-auto-clsact")
        #expect(r.facts["kind"] == "clsact", "\(r.output)")
        #expect(r.counts["echo_requests"] == Self.pings, "\(r.counts) \(r.output)")
        #expect(r.counts["clsact_while_attached"] == 1 && r.counts["clsact_after_detach"] == 0, "\(r.counts) \(r.output)")
    }

    /// act_bpf as an action on a match-all cls_bpf filter (`netbpf attach tc-action`).
    @Test func bpfProgramAsATCAction() throws {
        let r = try KernelMatrix.result("tc-action-bpf")
        #expect(r.counts["bpf_actions"] == 1, "\(r.counts) \(r.output)")
        #expect(r.counts["echo_requests"] == Self.pings, "\(r.counts) \(r.output)")
        #expect(r.counts["clsact_after"] == 0, "the command removes its filter and qdisc: \(r.output)")
    }

    /// Two clients with real 802.1Q sub-interfaces (8021q), VLAN 10 and VLAN 20, share the trunk
    /// through a Linux bridge; vlan-learn (clsact, tcx missing) pops and pushes their tags in BPF
    /// and learns each client's VLAN.
    @Test func vlanLearningWithTwo8021QClients() throws {
        let r = try KernelMatrix.result("vlan-8021q")
        #expect(r.counts["real_8021q"] == 2, "\(r.output)")
        #expect(r.counts["clsact"] == 1 && r.counts["tcx_hooks"] == 0, "\(r.counts) \(r.facts) \(r.output)")
        #expect(r.counts["replies"] == Self.pings && r.counts["replies_c2"] == 3, "\(r.counts) \(r.output)")
        #expect(r.counts["learned_clients"] == 2, "\(r.counts)")
        #expect(r.counts["learned_vlan"] == 10 && r.counts["learned_vlan_c2"] == 20, "\(r.counts)")
        #expect(r.facts["worker"] == "w1" && r.facts["worker_c2"] == "w2", "\(r.facts)")
        // Both ways through BPF: each client's ARP request and echo requests in (rx), the ARP
        // reply and the echo replies out (tx). Lower bounds: a neighbour re-probe by either side
        // may add a frame, and its answer may come after the last report.
        #expect((r.counts["rx_packets"] ?? 0) >= Self.pings + 1 && (r.counts["tx_packets"] ?? 0) >= Self.pings + 1, "\(r.counts)")
        #expect((r.counts["rx_packets_c2"] ?? 0) >= 3 + 1 && (r.counts["tx_packets_c2"] ?? 0) >= 3 + 1, "\(r.counts)")
    }

    /// BCC's neighbor_sharing (tc police) and netbpf's token bucket on one flow, 10 Mbit/s limit:
    /// both must hold the flow to the limit (figures in docs/benchmarks.md).
    @Test func policeActionAndTokenBucketHoldTheLimit() throws {
        let r = try KernelMatrix.result("police-vs-bucket")
        let limit = r.counts["limit_kbit"] ?? 0, police = r.counts["police_kbit"] ?? 0, bucket = r.counts["bucket_kbit"] ?? 0
        #expect(police > 0 && bucket > 0, "\(r.counts) \(r.output)")
        #expect(police <= limit * 11 / 10 && bucket <= limit * 11 / 10, "over the limit: \(r.counts)")
    }

    /// The rate limiter on clsact (tcx missing, detected), dropping over its rate: 1 kbit/s, a
    /// 2085-byte burst, ten 1042-byte UDP frames in about a second: exactly 3 pass, 7 drop.
    @Test func rateLimiterDropsOverItsRateOnClsact() throws {
        let r = try KernelMatrix.result("ratelimit-clsact")
        #expect(r.counts["clsact"] == 1 && r.facts["kind"] == "clsact", "\(r.counts) \(r.facts) \(r.output)")
        #expect(r.facts["hooks"] == "tc/egress:ratelimit" && r.counts["tcx_hooks"] == 0, "\(r.facts)")
        #expect(r.counts["burst_bytes"] == 2085, "\(r.counts)")
        #expect(r.counts["passed_packets"] == 3 && r.counts["dropped_packets"] == 7, "\(r.counts) \(r.output)")
        #expect(r.counts["passed_bytes"] == 3 * 1042, "\(r.counts)")
        #expect(r.counts["clsact_after_detach"] == 0, "\(r.counts)")
    }

    /// The HTTP filter's blocker on clsact: 3 requests for /a/b answered, 2 for /secret dropped
    /// (curl times out), each printed once with its verdict.
    @Test func httpFilterBlocksAPathOnClsact() throws {
        let r = try KernelMatrix.result("http-filter-clsact")
        #expect(r.counts["curl_200"] == 3 && r.counts["curl_blocked"] == 2, "\(r.counts) \(r.facts)")
        #expect(r.counts["requests_passed"] == 3 && r.counts["requests_blocked"] == 2, "\(r.counts) \(r.output)")
        #expect(r.counts["responses_200"] == 3, "\(r.counts)")
        // Each blocked request is dropped at least once (its retransmissions are dropped too).
        #expect((r.counts["kernel_dropped_by_path"] ?? 0) >= 2, "\(r.counts)")
        #expect(r.counts["clsact"] == 1 && r.counts["tcx_hooks"] == 0 && r.facts["hooks"] == "tc/ingress:http_block", "\(r.counts) \(r.facts)")
        #expect(r.counts["clsact_after"] == 0, "\(r.counts)")
    }

    /// The tunnel monitor on clsact: 4 echo requests of 512 bytes over a unicast VXLAN, one
    /// conversation with 4 packets of 604 bytes (inner frame + 50 bytes of VXLAN/UDP/IP/Ethernet) each way.
    @Test func tunnelMonitorCountsVXLANOnClsact() throws {
        let r = try KernelMatrix.result("tunnel-monitor-clsact")
        #expect(r.counts["replies"] == 4, "\(r.counts) \(r.output)")
        #expect(r.counts["ipv4_conversations"] == 1, "\(r.counts)")
        #expect(r.counts["tx_packets"] == 4 && r.counts["rx_packets"] == 4 && r.counts["tx_bytes"] == 4 * 604, "\(r.counts) \(r.output)")
        #expect(r.counts["errors"] == 0, "\(r.counts)")
        #expect(r.facts["hooks"] == "tc/egress:tunnel_egress tc/ingress:tunnel_ingress" && r.counts["tcx_hooks"] == 0, "\(r.facts)")
        #expect(r.counts["clsact_after"] == 0, "\(r.counts)")
    }

    /// The distributed bridge on clsact, two hosts in mesh mode: all 5 echo requests between the
    /// tenants answered, each host learned the other tenant's MAC behind the other host.
    @Test func bridgeForwardsAndLearnsOnClsact() throws {
        let r = try KernelMatrix.result("bridge-clsact")
        #expect(r.counts["replies"] == Self.pings, "\(r.counts) \(r.output)")
        #expect(r.facts["learned_h1"] == "02:00:00:00:0b:01@172.31.8.2" && r.facts["learned_h2"] == "02:00:00:00:0a:01@172.31.8.1", "\(r.facts)")
        #expect(r.counts["tcx_hooks"] == 0 && r.facts["hooks_h1"] == "tc/ingress:db_port_ingress", "\(r.counts) \(r.facts)")
        #expect(r.counts["vxlan_after"] == 0 && r.counts["clsact_after"] == 0, "\(r.counts)")
    }

    /// execsnoop --kprobe (BCC's way: kprobe + kretprobe on __x64_sys_execve): 6 of 6 execs.
    @Test func execsnoopOnKprobes() throws {
        let r = try KernelMatrix.result("execsnoop-kprobe")
        #expect(r.counts["lines"] == 6, "\(r.counts) \(r.output)")
        #expect(r.counts["kprobes_listed"] == 2 && r.counts["after_stop"] == 0, "\(r.counts)")
    }

    /// opensnoop --kprobe (open, openat, openat2 syscall functions): 5 opens with an fd, 2 with ENOENT.
    @Test func opensnoopOnKprobes() throws {
        let r = try KernelMatrix.result("opensnoop-kprobe")
        #expect(r.counts["ok_lines"] == 5 && r.counts["failed_lines"] == 2, "\(r.counts) \(r.output)")
        #expect(r.counts["kprobes_listed"] == 6 && r.counts["after_stop"] == 0, "\(r.counts)")
    }

    func expectHits(_ name: String) throws {
        let r = try KernelMatrix.result(name)
        #expect(r.counts["hits"] == Self.syncs, "\(r.counts) \(r.output)")
        #expect(r.status == "pass", "\(r.output)")
    }
}
