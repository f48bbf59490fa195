// BCC's hello_world.py, the netbpf way: a tracepoint instead of a kprobe, a ring buffer instead
// of trace_pipe, and a typed event checked against the C struct. Usage: hello-world [SECONDS]
import Foundation
import NetBPFKit

struct Event: BPFRecord {
    var file: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) // char file[64]
    var pid: UInt32
    static var cStruct: String { "event" }
    static var cFields: [(String, PartialKeyPath<Event>)] { [("file", \.file), ("pid", \.pid)] }
}

let bpf = try BPF(text: """
    #include "vmlinux.h"
    #include <bpf/bpf_helpers.h>
    struct event { char file[64]; __u32 pid; };
    struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 1 << 16); } events SEC(".maps");
    struct event _event; /* keeps the struct in BTF for the layout check */
    SEC("tracepoint/syscalls/sys_enter_execve")
    int hello(struct trace_event_raw_sys_enter *ctx) {
        struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
        if (!e) return 0;
        e->pid = bpf_get_current_pid_tgid() >> 32;
        bpf_probe_read_user_str(e->file, sizeof(e->file), (const char *)ctx->args[0]);
        bpf_ringbuf_submit(e, 0);
        return 0;
    }
    char LICENSE[] SEC("license") = "GPL";
    """)
if let seconds = CommandLine.arguments.dropFirst().first.flatMap(Double.init) {
    Task { try await Task.sleep(for: .seconds(seconds)); exit(0) }
}
print("Tracing execve... Ctrl-C to end.")
fflush(nil)
for try await event in try bpf.events("events", as: Event.self) {
    let file = withUnsafeBytes(of: event.file) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    print("Hello, World! pid \(event.pid) runs \(file)")
    fflush(nil)
}
