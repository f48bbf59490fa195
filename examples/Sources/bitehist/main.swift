// BCC's bitehist.py, turned on a command of your choice: a log2 histogram of the sizes the
// command writes (write(2) byte counts), printed in BCC's layout when it exits.
// Usage: bitehist COMMAND [ARGS...]
import Foundation
import NetBPFKit

let command = Array(CommandLine.arguments.dropFirst())
guard !command.isEmpty else { print("usage: bitehist COMMAND [ARGS...]"); exit(2) }

// The command waits on its stdin until the program is attached, so no write is missed.
let child = Process()
child.executableURL = URL(fileURLWithPath: "/bin/sh")
child.arguments = ["-c", "read go; exec \"$@\"", "sh"] + command
let gate = Pipe()
child.standardInput = gate
try child.run()

let bpf = try BPF(text: """
    #include "vmlinux.h"
    #include <bpf/bpf_helpers.h>
    struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 64); __type(key, __u32); __type(value, __u64); } dist SEC(".maps");
    SEC("tracepoint/syscalls/sys_enter_write")
    int on_write(struct trace_event_raw_sys_enter *ctx) {
        if (bpf_get_current_pid_tgid() >> 32 != TARGET) return 0;
        __u64 bytes = ctx->args[2];
        __u32 slot = 0;
        for (int i = 0; i < 63 && bytes > 1; i++) { bytes >>= 1; slot++; }
        __u64 *count = bpf_map_lookup_elem(&dist, &slot);
        if (count) __sync_fetch_and_add(count, 1);
        return 0;
    }
    char LICENSE[] SEC("license") = "GPL";
    """, defines: ["TARGET=\(child.processIdentifier)"])

print("Tracing writes of \(command.joined(separator: " ")) (pid \(child.processIdentifier))...")
gate.fileHandleForWriting.write(Data("go\n".utf8))
child.waitUntilExit()
try bpf.printLog2Histogram("dist", unit: "bytes")
