import Foundation
import Glibc
import Testing
import NetBPFKit
import NetBPFTestSupport

/// The front door against the real kernel: C text in, events, histograms and errors out.
@Suite(.serialized, .enabled(if: TestEnvironment.isRoot, "requires root: loads and attaches BPF programs"))
struct BPFTests {
    /// One tracepoint program: every getpgid(ARG) call sends {pid, ARG, comm} through a ring
    /// buffer and counts log2(ARG) in `dist`. getpgid is rare, and the test filters on its pid.
    static let source = """
        #include "vmlinux.h"
        #include <bpf/bpf_helpers.h>

        struct event { __u32 pid; __u32 pad; __u64 arg; char comm[16]; };
        struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 1 << 16); } events SEC(".maps");
        struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 32); __type(key, __u32); __type(value, __u64); } dist SEC(".maps");
        struct event unused_event; /* keeps struct event in BTF however the compiler treats locals */

        SEC("tracepoint/syscalls/sys_enter_getpgid")
        int on_getpgid(struct trace_event_raw_sys_enter *ctx)
        {
            __u32 pid = bpf_get_current_pid_tgid() >> 32;
            __u64 arg = ctx->args[0];
            struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
            if (e) {
                e->pid = pid;
                e->pad = 0;
                e->arg = arg;
                bpf_get_current_comm(e->comm, sizeof(e->comm));
                bpf_ringbuf_submit(e, 0);
            }
            __u32 slot = 0;
            for (int i = 0; i < 31 && arg > 1; i++) { arg >>= 1; slot++; }
            __u64 *count = bpf_map_lookup_elem(&dist, &slot);
            if (count)
                __sync_fetch_and_add(count, 1);
            return 0;
        }

        char LICENSE[] SEC("license") = "GPL";
        """

    struct Event: BPFRecord {
        var pid: UInt32
        var pad: UInt32
        var arg: UInt64
        var comm: (UInt64, UInt64)
        static var cStruct: String { "event" }
        static var cFields: [(String, PartialKeyPath<Event>)] { [("pid", \.pid), ("pad", \.pad), ("arg", \.arg), ("comm", \.comm)] }
    }

    /// The same fields in another order: `arg` first.
    struct Misordered: BPFRecord {
        var arg: UInt64
        var pid: UInt32
        var pad: UInt32
        var comm: (UInt64, UInt64)
        static var cStruct: String { "event" }
        static var cFields: [(String, PartialKeyPath<Misordered>)] { [("pid", \.pid), ("arg", \.arg)] }
    }

    @Test func helloWorldEventsArriveTypedAndExact() async throws {
        let bpf = try BPF(text: Self.source)
        defer { try? bpf.close() }
        #expect(bpf.links.count == 1, "the tracepoint program attaches itself from its section")
        let events = try bpf.events("events", as: Event.self)
        let me = UInt32(getpid())
        for arg in 1000..<1005 { _ = getpgid(pid_t(arg)) }
        var seen: [UInt64] = []
        for try await event in events where event.pid == me {
            seen.append(event.arg)
            let comm = withUnsafeBytes(of: event.comm) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            #expect(!comm.isEmpty)
            if seen.count == 5 { break }
        }
        #expect(seen == [1000, 1001, 1002, 1003, 1004])
    }

    /// The same through a perf event array (BCC's BPF_PERF_OUTPUT): `events` takes both kinds.
    @Test func perfBufferEventsArriveTyped() async throws {
        let bpf = try BPF(text: """
            #include "vmlinux.h"
            #include <bpf/bpf_helpers.h>
            struct { __uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY); __uint(key_size, 4); __uint(value_size, 4); } samples SEC(".maps");
            SEC("tracepoint/syscalls/sys_enter_getpgid")
            int on_getpgid(struct trace_event_raw_sys_enter *ctx) {
                __u64 v[2] = { bpf_get_current_pid_tgid() >> 32, ctx->args[0] };
                bpf_perf_event_output(ctx, &samples, BPF_F_CURRENT_CPU, v, sizeof(v));
                return 0;
            }
            char LICENSE[] SEC("license") = "GPL";
            """)
        defer { try? bpf.close() }
        let events = try bpf.events("samples", as: (UInt64, UInt64).self)
        for arg in 2000..<2003 { _ = getpgid(pid_t(arg)) }
        var seen: [UInt64] = []
        for try await (pid, arg) in events where pid == UInt64(getpid()) {
            seen.append(arg)
            if seen.count == 3 { break }
        }
        #expect(seen == [2000, 2001, 2002])
    }

    @Test func log2HistogramCountsEachSlot() throws {
        let bpf = try BPF(text: Self.source)
        defer { try? bpf.close() }
        let before = try bpf.log2Histogram("dist", unit: "arg")
        for arg in [1, 2, 3, 100, 100, 4096] { _ = getpgid(pid_t(arg)) }
        var after = try bpf.log2Histogram("dist", unit: "arg")
        // Other processes may call getpgid too: compare what this test added.
        for (i, v) in before.slots.enumerated() { after.slots[i] -= v }
        #expect(after.slots[0] == 1 && after.slots[1] == 2 && after.slots[6] == 2 && after.slots[12] == 1, "\(after.slots)")
        let text = after.formatted()
        #expect(text.hasPrefix("     arg                 : count     distribution\n"), "\(text)")
        #expect(text.contains("        64 -> 127        : 2        |****************************************|") && text.contains("      4096 -> 8191       : 1        |********************                    |"), "\(text)")
    }

    @Test func aLayoutThatDriftedIsAnErrorNamingTheField() throws {
        let bpf = try BPF(text: Self.source)
        defer { try? bpf.close() }
        #expect {
            _ = try bpf.events("events", as: Misordered.self)
        } throws: { error in
            "\(error)".contains("field 'pid': Swift offset 8, C offset 0")
        }
    }

    /// A map's value type is checked against its BTF, as events are.
    @Test func mapValuesAreCheckedAgainstBTF() throws {
        let bpf = try BPF(text: """
            #include "vmlinux.h"
            #include <bpf/bpf_helpers.h>
            struct stats { __u64 packets; __u32 pid; __u32 pad; };
            struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 8); __type(key, __u32); __type(value, struct stats); } by_cpu SEC(".maps");
            SEC("tracepoint/syscalls/sys_enter_getpgid")
            int count(void *ctx) {
                __u32 key = 7;
                struct stats one = { .packets = 1, .pid = bpf_get_current_pid_tgid() >> 32 };
                bpf_map_update_elem(&by_cpu, &key, &one, BPF_ANY);
                return 0;
            }
            char LICENSE[] SEC("license") = "GPL";
            """)
        defer { try? bpf.close() }
        struct Stats: BPFRecord {
            var packets: UInt64
            var pid: UInt32
            var pad: UInt32
            static var cStruct: String { "stats" }
            static var cFields: [(String, PartialKeyPath<Stats>)] { [("packets", \.packets), ("pid", \.pid), ("pad", \.pad)] }
        }
        struct Swapped: BPFRecord {
            var pid: UInt32
            var pad: UInt32
            var packets: UInt64
            static var cStruct: String { "stats" }
            static var cFields: [(String, PartialKeyPath<Swapped>)] { [("packets", \.packets), ("pid", \.pid)] }
        }
        let map = try bpf.hashMap("by_cpu", key: UInt32.self, value: Stats.self)
        _ = getpgid(1)
        #expect(try map.lookup(7)?.packets == 1)
        #expect { _ = try bpf.hashMap("by_cpu", key: UInt32.self, value: Swapped.self) } throws: {
            "\($0)".contains("field 'packets': Swift offset 8, C offset 0")
        }
    }

    @Test func misuseIsAThrownErrorWithAHint() throws {
        let bpf = try BPF(text: Self.source)
        #expect { _ = try bpf.map("nope") } throws: { "\($0)".contains("maps here: ") && "\($0)".contains("events") }
        #expect { _ = try bpf.program("nope") } throws: { "\($0)".contains("programs here: on_getpgid") }
        #expect { try bpf.attachTracepoint("syscalls:sys_enter_no_such_call", program: "on_getpgid") } throws: { "\($0)".contains("tplist") }
        #expect { try bpf.attachTracepoint("nocolon", program: "on_getpgid") } throws: { "\($0)".contains("CATEGORY:EVENT") }
        #expect { try bpf.attachXDP("on_getpgid", interface: "lo") } throws: { _ in true }
        #expect { _ = try bpf.events("dist", as: UInt64.self) } throws: { "\($0)".contains("not a ring buffer") }
        #expect { _ = try bpf.log2Histogram("events") } throws: { _ in true }
        try bpf.close()
        try bpf.close() // twice is fine
        let link = try bpf.attachTracepoint("syscalls:sys_enter_getpgid", program: "on_getpgid")
        try link.detach()
        try link.detach() // twice is fine
        #expect(bpf["nope"] == nil && bpf["dist"] != nil)
    }

    @Test func cCompileErrorsAreThrown() throws {
        #expect { _ = try BPF(text: "int broken( {") } throws: { $0 is CompileError }
    }

    /// A closure formed on the main actor runs on a namespace's thread: it is @Sendable, so it
    /// carries no main-actor isolation and no runtime check can trap it.
    @MainActor @Test func namespaceClosureFromTheMainActorDoesNotTrap() throws {
        let value = try NetworkNamespace.withTemporary(prefix: "nbkit") { name in
            try withNamespace(name) { try NetlinkSocket().interfaces().map(\.name) }
        }
        #expect(value == ["lo"])
    }

    /// Events consumed on the main actor while the ring buffer is polled on its own thread.
    @MainActor @Test func eventsConsumedOnTheMainActor() async throws {
        let bpf = try BPF(text: Self.source)
        defer { try? bpf.close() }
        let events = try bpf.events("events", as: Event.self)
        _ = getpgid(4242)
        for try await event in events where event.pid == UInt32(getpid()) && event.arg == 4242 { break }
    }
}
