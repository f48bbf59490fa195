import Foundation
import Testing
import NetBPF
import NetBPFTestSupport

/// BCC networking programs have functions with no section (BCC's Python says how each is
/// loaded): `netbpf attach tc|xdp IFACE prog.c --func NAME` gives that function the hook's
/// type and attaches it, the way `load_func(NAME, BPF.SCHED_CLS)` and pyroute2 would.
@Suite(.serialized, .enabled(if: TestEnvironment.isRoot, "requires root: attaches to veths in namespaces"))
struct BCCAttachCLITests {
    /// A BCC program in the cursor dialect, written to a temporary file.
    static func program(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("netbpf-bcc-attach-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).c").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    static let icmpCounter = """
    #include <bcc/proto.h>
    BPF_ARRAY(counts, u64, 2);

    int count_icmp(struct __sk_buff *skb) {
        u8 *cursor = 0;
        struct ethernet_t *ethernet = cursor_advance(cursor, sizeof(*ethernet));
        if (ethernet->type != ETH_P_IP)
            return 0;
        struct ip_t *ip = cursor_advance(cursor, sizeof(*ip));
        if (ip->nextp == IPPROTO_ICMP && ip->src == 0x0a630001)
            counts.increment(0);
        return 0;
    }

    int other(struct __sk_buff *skb) { return 2; }
    """

    @Test func tcFunctionAttachedByNameCountsPings() throws {
        let path = try Self.program(Self.icmpCounter)
        defer { unlink(path) }
        try AttachLab.with { lab in
            let out = try lab.netbpfOK(["attach", "tc", "b", path, "--func", "count_icmp", "--netns", lab.server, "--json"])
            let record = try AttachLab.decodeRecord(out)
            #expect(record.programName == "count_icmp")
            #expect(try lab.ping(3))
            #expect(try lab.dumpCounters(record.pinDirectory + "/maps/counts") == [3, 0])
            try lab.netbpfOK(["detach", "tc", "b", "--name", "count_icmp", "--netns", lab.server])
        }
    }

    @Test func unknownFunctionOrTypeIsOneErrorAndChangesNothing() throws {
        let path = try Self.program(Self.icmpCounter)
        defer { unlink(path) }
        try AttachLab.with { lab in
            let r = try lab.netbpf(["attach", "tc", "b", path, "--func", "nope", "--netns", lab.server])
            #expect(r.status != 0)
            #expect(r.stderr.contains("no program named 'nope'"))
            let t = try lab.netbpf(["compile", path, "--func", "count_icmp:SCHED_CLSS", "-o", "/dev/null"])
            #expect(t.status != 0)
            #expect(t.stderr.contains("unknown program type 'SCHED_CLSS'"))
            try lab.expectNothingLeft()
        }
    }

    /// `--maps-from` and `--prog-array` (one BCC module on several hooks): bad input is one
    /// error line and leaves nothing attached; a second attach with `--maps-from` counts into
    /// the first one's map.
    @Test func sharedMapsAndBadModuleOptions() throws {
        let path = try Self.program(Self.icmpCounter)
        let other = try Self.program("BPF_HASH(counts, u32, u32, 8);\nint count_icmp(struct __sk_buff *skb) { return 0; }\n")
        defer { unlink(path); unlink(other) }
        try AttachLab.with { lab in
            for (args, text) in [(["--maps-from", "/nonexistent-bn5"], "no such directory"),
                                 (["--prog-array", "counts"], "is not MAP:KEY=FUNCTION"),
                                 (["--prog-array", "counts:1=count_icmp"], "not a prog array"),
                                 (["--prog-array", "nomap:1=count_icmp"], "no map named 'nomap'")] {
                let r = try lab.netbpf(["attach", "tc", "b", path, "--func", "count_icmp", "--netns", lab.server] + args)
                AttachLab.expectOneLineError(r, text)
            }
            try lab.expectNothingLeft("after refused attaches")
            // The first on egress (replies, source 10.99.0.2: never counted), the second on
            // ingress (the client's requests: counted) into the first one's map.
            let first = try AttachLab.decodeRecord(try lab.netbpfOK(["attach", "tc", "b", path, "--func", "count_icmp", "--egress", "--netns", lab.server, "--json"]))
            let maps = first.pinDirectory + "/maps"
            let wrong = try lab.netbpf(["attach", "tc", "b", other, "--func", "count_icmp", "--netns", lab.server, "--maps-from", maps])
            AttachLab.expectOneLineError(wrong, "pinned at")
            try lab.netbpfOK(["attach", "tc", "b", path, "--func", "count_icmp", "--netns", lab.server, "--maps-from", maps])
            #expect(try lab.ping(2))
            #expect(try lab.dumpCounters(maps + "/counts") == [2, 0])
            let events = try lab.netbpf(["map", "events", maps + "/counts", "--seconds", "1"])
            AttachLab.expectOneLineError(events, "not perf_event_array")
            try lab.netbpfOK(["detach", "tc", "b", "--all", "--netns", lab.server])
        }
    }
}
