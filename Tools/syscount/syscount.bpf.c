// syscount: system calls counted per syscall (or per process), optionally with their time,
// from the raw_syscalls tracepoints.
#include "vmlinux.h"
#include <netbpf.h>

/* Layout mirrored by Sources/NetBPFTracing/Tools/Syscount.swift. */
struct syscall_stat {
	u64 count;
	u64 total_ns;
	char comm[16];
};

const volatile u32 target_pid = 0;
const volatile bool failed_only = false;
const volatile s32 only_errno = 0;
const volatile bool with_latency = false;
const volatile bool by_process = false;

/* -c CGROUP, as libbpf-tools (netbpf.h). */
NETBPF_CGROUP_FILTER()

BPF_HASH(started, u32, u64, 16384);
BPF_HASH(stats, u32, struct syscall_stat, 4096);

SEC("tracepoint/raw_syscalls/sys_enter")
int syscount_enter(struct trace_event_raw_sys_enter *ctx)
{
	u64 id = bpf_get_current_pid_tgid();
	u32 tid = (u32)id;
	u64 now;

	if (!with_latency)
		return 0;
	if (target_pid && (id >> 32) != target_pid)
		return 0;
	if (cgroup_refused())
		return 0;
	now = bpf_ktime_get_ns();
	bpf_map_update_elem(&started, &tid, &now, BPF_ANY);
	return 0;
}

SEC("tracepoint/raw_syscalls/sys_exit")
int syscount_exit(struct trace_event_raw_sys_exit *ctx)
{
	u64 id = bpf_get_current_pid_tgid();
	u32 tid = (u32)id, key;
	long ret = ctx->ret;
	struct syscall_stat blank = {}, *s;
	u64 *start = NULL;

	if (target_pid && (id >> 32) != target_pid)
		return 0;
	if (cgroup_refused())
		return 0;
	if (with_latency) {
		start = bpf_map_lookup_elem(&started, &tid);
		if (!start)
			return 0;
	}
	if (ctx->id < 0)
		goto done;
	if (failed_only && ret >= 0)
		goto done;
	if (only_errno && ret != -only_errno)
		goto done;
	key = by_process ? (u32)(id >> 32) : (u32)ctx->id;
	s = netbpf_lookup_or_init(&stats, &key, &blank);
	if (!s)
		goto done;
	if (by_process && s->comm[0] == 0)
		bpf_get_current_comm(s->comm, sizeof(s->comm));
	__sync_fetch_and_add(&s->count, 1);
	if (start)
		__sync_fetch_and_add(&s->total_ns, bpf_ktime_get_ns() - *start);
done:
	if (with_latency)
		bpf_map_delete_elem(&started, &tid);
	return 0;
}

NETBPF_LICENSE("GPL");
