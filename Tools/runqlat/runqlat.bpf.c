// runqlat: time tasks wait on a run queue, from wake-up (or preemption) to running, as log2
// histograms. Raw tracepoints: their arguments are the task_structs themselves.
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <netbpf.h>

#define SLOTS 26

/* Layout mirrored by Sources/NetBPFTracing/Tools/Runqlat.swift. */
struct runq_hist {
	u32 slots[SLOTS];
	char comm[16];
};

const volatile u32 target_pid = 0;   /* a process (tgid) */
const volatile bool by_process = false;
const volatile bool by_thread = false;
const volatile bool by_pidns = false;   /* --pidnss: a histogram per PID namespace */
const volatile bool in_millis = false;

/* -c CGROUP, as libbpf-tools (netbpf.h). */
NETBPF_CGROUP_FILTER()

BPF_HASH(enqueued, u32, u64, 16384);
BPF_HASH(hists, u32, struct runq_hist, 4096);

/* The inode number of the task's active PID namespace: pid->numbers[pid->level].ns, what
 * task_active_pid_ns() follows (libbpf-tools' runqlat --pidnss keys the same way). */
static __always_inline u32 pid_namespace(struct task_struct *task)
{
	struct pid *pid = BPF_CORE_READ(task, thread_pid);
	unsigned int level = BPF_CORE_READ(pid, level);
	struct upid upid = {};

	bpf_core_read(&upid, sizeof(upid), &pid->numbers[level]);
	return BPF_CORE_READ(upid.ns, ns.inum);
}

static __always_inline int enqueue(struct task_struct *p)
{
	u32 tid = BPF_CORE_READ(p, pid);
	u64 now;

	if (!tid)
		return 0;
	if (target_pid && BPF_CORE_READ(p, tgid) != target_pid)
		return 0;
	now = bpf_ktime_get_ns();
	bpf_map_update_elem(&enqueued, &tid, &now, BPF_ANY);
	return 0;
}

SEC("raw_tracepoint/sched_wakeup")
int runqlat_wakeup(struct bpf_raw_tracepoint_args *ctx)
{
	if (cgroup_refused())
		return 0;
	return enqueue((struct task_struct *)ctx->args[0]);
}

SEC("raw_tracepoint/sched_wakeup_new")
int runqlat_wakeup_new(struct bpf_raw_tracepoint_args *ctx)
{
	if (cgroup_refused())
		return 0;
	return enqueue((struct task_struct *)ctx->args[0]);
}

SEC("raw_tracepoint/sched_switch")
int runqlat_switch(struct bpf_raw_tracepoint_args *ctx)
{
	/* sched_switch(bool preempt, struct task_struct *prev, struct task_struct *next, unsigned int prev_state) */
	struct task_struct *prev = (struct task_struct *)ctx->args[1];
	struct task_struct *next = (struct task_struct *)ctx->args[2];
	static const struct runq_hist blank;
	struct runq_hist *h;
	u64 *start, delta;
	u32 tid, key, slot;

	if (cgroup_refused())
		return 0;
	/* A task preempted while runnable goes straight back on the queue. */
	if (BPF_CORE_READ(prev, __state) == 0)
		enqueue(prev);

	tid = BPF_CORE_READ(next, pid);
	start = bpf_map_lookup_elem(&enqueued, &tid);
	if (!start)
		return 0;
	delta = bpf_ktime_get_ns() - *start;
	bpf_map_delete_elem(&enqueued, &tid);
	if ((s64)delta < 0)
		return 0;
	delta /= in_millis ? 1000000 : 1000;

	key = by_process ? BPF_CORE_READ(next, tgid) : by_thread ? tid : by_pidns ? pid_namespace(next) : (u32)-1;
	h = netbpf_lookup_or_init(&hists, &key, &blank);
	if (!h)
		return 0;
	if ((by_process || by_thread || by_pidns) && h->comm[0] == 0)
		BPF_CORE_READ_STR_INTO(&h->comm, next, comm);
	slot = netbpf_log2l(delta);
	if (slot >= SLOTS)
		slot = SLOTS - 1;
	__sync_fetch_and_add(&h->slots[slot], 1);
	return 0;
}

NETBPF_LICENSE("GPL");
