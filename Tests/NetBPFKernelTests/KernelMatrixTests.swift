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

    /// A real 802.1Q sub-interface (8021q) on the client talks through vlan-learn's BPF pop/push.
    @Test func vlanLearningWithA8021QClient() throws {
        let r = try KernelMatrix.result("vlan-8021q")
        #expect(r.counts["real_8021q"] == 1, "\(r.output)")
        #expect(r.counts["clsact"] == 1, "\(r.counts) \(r.output)")
        #expect(r.counts["replies"] == Self.pings, "\(r.counts) \(r.output)")
        #expect(r.counts["learned_vlan"] == 10, "\(r.counts)")
        // Both ways through BPF: the client's ARP request and echo requests in (rx), the ARP
        // reply and the echo replies out (tx). Lower bounds: a neighbour re-probe by either side
        // may add a frame, and its answer may come after the last report.
        let rx = r.counts["rx_packets"] ?? 0, tx = r.counts["tx_packets"] ?? 0
        #expect(rx >= Self.pings + 1 && tx >= Self.pings + 1, "\(r.counts)")
    }

    /// BCC's neighbor_sharing (tc police) and netbpf's token bucket on one flow, 10 Mbit/s limit:
    /// both must hold the flow to the limit (figures in docs/benchmarks.md).
    @Test func policeActionAndTokenBucketHoldTheLimit() throws {
        let r = try KernelMatrix.result("police-vs-bucket")
        let limit = r.counts["limit_kbit"] ?? 0, police = r.counts["police_kbit"] ?? 0, bucket = r.counts["bucket_kbit"] ?? 0
        #expect(police > 0 && bucket > 0, "\(r.counts) \(r.output)")
        #expect(police <= limit * 11 / 10 && bucket <= limit * 11 / 10, "over the limit: \(r.counts)")
    }

    @Test func rateLimiterOnClsact() throws {
        let r = try KernelMatrix.result("ratelimit-clsact")
        #expect(r.counts["clsact"] == 1 && r.facts["kind"] == "clsact", "\(r.counts) \(r.facts) \(r.output)")
        #expect(r.counts["passed_packets"] == Self.pings, "\(r.counts) \(r.output)")
    }

    func expectHits(_ name: String) throws {
        let r = try KernelMatrix.result(name)
        #expect(r.counts["hits"] == Self.syncs, "\(r.counts) \(r.output)")
        #expect(r.status == "pass", "\(r.output)")
    }
}
