// Per-event output, as BCC's hello_perf_output.py and sleepsnoop: every clock_nanosleep with the
// time asked for, the process and its command. Usage: sleepsnoop [SECONDS]
import Foundation
import NetBPFKit

struct Sleep: BPFRecord {
    var nanoseconds: UInt64
    var pid: UInt32
    var comm: (UInt32, UInt32, UInt32, UInt32) // char comm[16], 4-byte aligned as in C
    static var cStruct: String { "sleep" }
    static var cFields: [(String, PartialKeyPath<Sleep>)] { [("nanoseconds", \.nanoseconds), ("pid", \.pid), ("comm", \.comm)] }
}

let bpf = try BPF(text: """
    #include "vmlinux.h"
    #include <bpf/bpf_helpers.h>
    struct sleep { __u64 nanoseconds; __u32 pid; char comm[16]; };
    struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 1 << 16); } events SEC(".maps");
    struct sleep _sleep;
    SEC("tracepoint/syscalls/sys_enter_clock_nanosleep")
    int on_sleep(struct trace_event_raw_sys_enter *ctx) {
        struct __kernel_timespec ts;
        if (bpf_probe_read_user(&ts, sizeof(ts), (void *)ctx->args[2])) return 0;
        struct sleep *s = bpf_ringbuf_reserve(&events, sizeof(*s), 0);
        if (!s) return 0;
        s->nanoseconds = ts.tv_sec * 1000000000ULL + ts.tv_nsec;
        s->pid = bpf_get_current_pid_tgid() >> 32;
        bpf_get_current_comm(s->comm, sizeof(s->comm));
        bpf_ringbuf_submit(s, 0);
        return 0;
    }
    char LICENSE[] SEC("license") = "GPL";
    """)
if let seconds = CommandLine.arguments.dropFirst().first.flatMap(Double.init) {
    Task { try await Task.sleep(for: .seconds(seconds)); exit(0) }
}
print("PID      COMM             SECONDS")
fflush(nil)
for try await s in try bpf.events("events", as: Sleep.self) {
    let comm = withUnsafeBytes(of: s.comm) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    print(String(format: "%-8u %-16@ %.3f", s.pid, comm as NSString, Double(s.nanoseconds) / 1e9))
    fflush(nil)
}
