#include <uapi/linux/ptrace.h>
#include <net/sock.h>
BPF_HASH(currsock, u32, struct sock *);
BPF_TABLE("hash", u32, u64, t, 64);
int kprobe__tcp_v4_connect(struct pt_regs *ctx, struct sock *sk) {
    u32 pid = bpf_get_current_pid_tgid();
    currsock.update(&pid, &sk);
    u64 *v = t.lookup_or_try_init(&pid, &(u64){0});
    if (v) t.increment(pid);
    bpf_trace_printk("connect %d\n", pid);
    return 0;
}
TRACEPOINT_PROBE(sched, sched_process_exit) { return args->pid == 0; }
