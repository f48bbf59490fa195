#!/usr/bin/env python3
# The hello world of the toolkit benchmark, in BCC 0.26: the same program as netbpf's
# examples/Sources/hello-world (execve tracepoint -> ring buffer -> one line per exec).
# BCC's own hello_world.py uses a kprobe, which this project's kernel does not have.
from bcc import BPF

b = BPF(text=r"""
struct event { char file[64]; u32 pid; };
BPF_RINGBUF_OUTPUT(events, 16);
TRACEPOINT_PROBE(syscalls, sys_enter_execve) {
    struct event *e = events.ringbuf_reserve(sizeof(*e));
    if (!e) return 0;
    e->pid = bpf_get_current_pid_tgid() >> 32;
    bpf_probe_read_user_str(e->file, sizeof(e->file), args->filename);
    events.ringbuf_submit(e, 0);
    return 0;
}
""")

def hello(ctx, data, size):
    e = b["events"].event(data)
    print("Hello, World! pid %d runs %s" % (e.pid, e.file.decode()), flush=True)

b["events"].open_ring_buffer(hello)
print("Tracing execve... Ctrl-C to end.", flush=True)
while True:
    b.ring_buffer_poll()
