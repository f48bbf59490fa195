// exitsnoop: process (or thread) exits with age and exit status, from sched_process_exit.
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <netbpf.h>

/* Layout mirrored by Sources/NetBPFTracing/Tools/Exitsnoop.swift. */
struct exit_event {
	u64 start_ns;
	u64 exit_ns;
	u32 pid;
	u32 tid;
	u32 ppid;
	s32 exit_code; /* raw task->exit_code: status << 8 | core dump bit | signal */
	char comm[16];
};
_Static_assert(sizeof(struct exit_event) == 48, "exit_event layout");

const volatile u32 target_pid = 0;
const volatile bool by_thread = false;
const volatile bool failed_only = false;

/* -c CGROUP, as libbpf-tools (netbpf.h). */
NETBPF_CGROUP_FILTER()

BPF_RINGBUF_OUTPUT(events, 64);

/* Records the ring buffer could not take (it was full): user space reports them. */
NETBPF_LOST_COUNTER()

SEC("tracepoint/sched/sched_process_exit")
int exitsnoop_exit(void *ctx)
{
	u64 id = bpf_get_current_pid_tgid();
	u32 pid = id >> 32, tid = (u32)id;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct exit_event *e;
	int code;

	if (target_pid && pid != target_pid)
		return 0;
	if (cgroup_refused())
		return 0;
	if (!by_thread && pid != tid)
		return 0;
	code = BPF_CORE_READ(task, exit_code);
	if (failed_only && code == 0)
		return 0;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_lost();
		return 0;
	}
	e->start_ns = BPF_CORE_READ(task, start_time);
	e->exit_ns = bpf_ktime_get_ns();
	e->pid = pid;
	e->tid = tid;
	e->ppid = BPF_CORE_READ(task, real_parent, tgid);
	e->exit_code = code;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);
	return 0;
}

NETBPF_LICENSE("GPL");
