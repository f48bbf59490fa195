// killsnoop: signals sent with kill(2), tkill(2) and tgkill(2) (syscall tracepoints), or every signal the kernel
// generates (signal:signal_generate) with --all.
#include "vmlinux.h"
#include <netbpf.h>

/* Layout mirrored by Sources/NetBPFTracing/Tools/Killsnoop.swift. */
struct kill_event {
	u64 ts_ns;
	u32 pid;
	u32 target;
	s32 sig;
	s32 ret;
	char comm[16];
};
_Static_assert(sizeof(struct kill_event) == 40, "kill_event layout");

const volatile u32 target_pid = 0;
const volatile s32 target_signal = 0;
const volatile bool failed_only = false;

BPF_HASH(inflight, u32, struct kill_event, 4096);
BPF_RINGBUF_OUTPUT(events, 64);

/* Records the ring buffer could not take (it was full): user space reports them. */
NETBPF_LOST_COUNTER()

/* Entry of kill(2), tkill(2) or tgkill(2): the record waits for the syscall's return. */
static __always_inline int on_enter(u32 target, s32 sig)
{
	u64 id = bpf_get_current_pid_tgid();
	u32 tid = (u32)id;
	struct kill_event e = {};

	if (target_pid && (id >> 32) != target_pid)
		return 0;
	if (target_signal && sig != target_signal)
		return 0;
	e.sig = sig;
	e.pid = id >> 32;
	e.target = target;
	bpf_get_current_comm(e.comm, sizeof(e.comm));
	bpf_map_update_elem(&inflight, &tid, &e, BPF_ANY);
	return 0;
}

/* Return of any of the three: the record goes out with the return value. */
static __always_inline int on_exit(s32 ret)
{
	u32 tid = (u32)bpf_get_current_pid_tgid();
	struct kill_event *e = bpf_map_lookup_elem(&inflight, &tid);

	if (!e)
		return 0;
	e->ret = ret;
	e->ts_ns = bpf_ktime_get_ns();
	if (!failed_only || e->ret < 0)
		if (bpf_ringbuf_output(&events, e, sizeof(*e), 0))
			count_lost();
	bpf_map_delete_elem(&inflight, &tid);
	return 0;
}

/* kill(pid, sig) */
SEC("tracepoint/syscalls/sys_enter_kill")
int killsnoop_enter(struct trace_event_raw_sys_enter *ctx)
{
	return on_enter((u32)ctx->args[0], (s32)ctx->args[1]);
}

SEC("tracepoint/syscalls/sys_exit_kill")
int killsnoop_exit(struct trace_event_raw_sys_exit *ctx)
{
	return on_exit((s32)ctx->ret);
}

/* tkill(tid, sig): the target is a thread id, as in libbpf-tools' sigsnoop -k. */
SEC("tracepoint/syscalls/sys_enter_tkill")
int killsnoop_tkill_enter(struct trace_event_raw_sys_enter *ctx)
{
	return on_enter((u32)ctx->args[0], (s32)ctx->args[1]);
}

SEC("tracepoint/syscalls/sys_exit_tkill")
int killsnoop_tkill_exit(struct trace_event_raw_sys_exit *ctx)
{
	return on_exit((s32)ctx->ret);
}

/* tgkill(tgid, tid, sig): the target printed is the thread id, as sigsnoop -k prints it. */
SEC("tracepoint/syscalls/sys_enter_tgkill")
int killsnoop_tgkill_enter(struct trace_event_raw_sys_enter *ctx)
{
	return on_enter((u32)ctx->args[1], (s32)ctx->args[2]);
}

SEC("tracepoint/syscalls/sys_exit_tgkill")
int killsnoop_tgkill_exit(struct trace_event_raw_sys_exit *ctx)
{
	return on_exit((s32)ctx->ret);
}

SEC("tracepoint/signal/signal_generate")
int killsnoop_generate(struct trace_event_raw_signal_generate *ctx)
{
	u64 id = bpf_get_current_pid_tgid();
	struct trace_event_raw_signal_generate rec;
	struct kill_event *e;

	if (target_pid && (id >> 32) != target_pid)
		return 0;
	/* Copied out: loads through a CO-RE-adjusted ctx pointer are refused. */
	if (bpf_probe_read_kernel(&rec, sizeof(rec), ctx))
		return 0;
	if (target_signal && rec.sig != target_signal)
		return 0;
	/* RESULT is the errno, as in libbpf-tools' sigsnoop: signal_generate's result codes
	 * (1 ignored, 2 already pending, ...) are not failures and are not reported. */
	if (failed_only && rec.errno == 0)
		return 0;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_lost();
		return 0;
	}
	e->ts_ns = bpf_ktime_get_ns();
	e->pid = id >> 32;
	e->target = rec.pid;
	e->sig = rec.sig;
	e->ret = rec.errno;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);
	return 0;
}

NETBPF_LICENSE("GPL");
