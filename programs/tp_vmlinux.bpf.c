/* Kernel types from BTF (vmlinux.h) and CO-RE: reads the syscall id from the tracepoint's
 * context struct and the pid from task_struct with BPF_CORE_READ, for one process. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, u32);
	__type(value, u64);
} seen SEC(".maps"); /* 0: last syscall id, 1: pid read through CO-RE */

const volatile u32 target_tgid = 0;

SEC("tracepoint/raw_syscalls/sys_enter")
int on_sys_enter(struct trace_event_raw_sys_enter *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	u32 k0 = 0, k1 = 1;
	u64 id, pid;

	if ((u32)(bpf_get_current_pid_tgid() >> 32) != target_tgid)
		return 0;
	id = ctx->id;
	pid = BPF_CORE_READ(task, tgid);
	bpf_map_update_elem(&seen, &k0, &id, BPF_ANY);
	bpf_map_update_elem(&seen, &k1, &pid, BPF_ANY);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
