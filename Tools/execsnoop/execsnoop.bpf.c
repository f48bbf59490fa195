// execsnoop: every exec(), with its arguments, from the execve tracepoints (libbpf-tools'
// way) or, with --kprobe or where the kernel has no syscall tracepoints, from a kprobe and a
// kretprobe on the execve syscall function (BCC's way; libbpf's ksyscall sections).
// Entry: the file name and argv are copied from user memory into a per-process record.
// Exit: the record gets the return value and the new comm and goes to the ring buffer.
// User space loads one pair of programs (Sources/NetBPFTracing/SyscallProbes.swift).
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <netbpf.h>

#define ARG_BYTES 128            /* one argument, NUL included, at most */
#define ARG_LIMIT 60             /* --max-args can go this high */
#define ARGS_AREA (ARG_LIMIT * ARG_BYTES)

/* Layout mirrored by Sources/NetBPFTracing/Tools/Execsnoop.swift (no implicit padding). */
struct exec_event {
	u64 ts_ns;
	u32 pid;
	u32 tid;
	u32 ppid;
	u32 uid;
	s32 retval;
	u32 args_count;
	u32 args_size;
	u32 _pad;
	char comm[16];
	char args[ARGS_AREA];
};
_Static_assert(sizeof(struct exec_event) == 56 + ARGS_AREA, "exec_event layout");

const volatile u32 target_uid = (u32)-1;
const volatile u32 max_args = 20;
const volatile bool include_failed = false;

/* -c CGROUP, as libbpf-tools (netbpf.h). */
NETBPF_CGROUP_FILTER()

static const struct exec_event blank;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, u32);
	__type(value, struct exec_event);
} pending SEC(".maps");

BPF_RINGBUF_OUTPUT(events, 64);

/* Records the ring buffer could not take (it was full): user space reports them. */
NETBPF_LOST_COUNTER()

static __always_inline int enter(const char *filename, const char *const *argv)
{
	u64 id = bpf_get_current_pid_tgid();
	u32 pid = id >> 32;
	u32 uid = (u32)bpf_get_current_uid_gid();
	const char *arg = NULL;
	struct exec_event *e;
	struct task_struct *task;
	long n;
	u32 used;

	if (target_uid != (u32)-1 && uid != target_uid)
		return 0;
	if (cgroup_refused())
		return 0;
	if (bpf_map_update_elem(&pending, &pid, &blank, BPF_NOEXIST))
		return 0;
	e = bpf_map_lookup_elem(&pending, &pid);
	if (!e)
		return 0;

	e->ts_ns = bpf_ktime_get_ns();
	e->pid = pid;
	e->tid = (u32)id;
	e->uid = uid;
	task = (struct task_struct *)bpf_get_current_task();
	e->ppid = BPF_CORE_READ(task, real_parent, tgid);

	/* The path being executed stands in for argv[0], as in BCC. */
	n = bpf_probe_read_user_str(e->args, ARG_BYTES, filename);
	if (n <= 0) {
		e->args[0] = 0;
		n = 1;
	}
	e->args_size = n;
	e->args_count = 1;

	for (u32 i = 1; i < ARG_LIMIT; i++) {
		if (i >= max_args)
			break;
		if (bpf_probe_read_user(&arg, sizeof(arg), &argv[i]) || !arg)
			return 0;
		used = e->args_size;
		if (used > ARGS_AREA - ARG_BYTES)
			return 0;
		n = bpf_probe_read_user_str(&e->args[used], ARG_BYTES, arg);
		if (n <= 0)
			return 0;
		e->args_count++;
		e->args_size = used + n;
	}
	/* One more than max_args means "there were more" (printed as "..."). Only the pointer
	 * argv[max_args] is read, never its string, so this holds at max_args == ARG_LIMIT too. */
	if (!bpf_probe_read_user(&arg, sizeof(arg), &argv[max_args]) && arg)
		e->args_count++;
	return 0;
}

static __always_inline int leave(long ret)
{
	u32 pid = bpf_get_current_pid_tgid() >> 32;
	struct exec_event *e = bpf_map_lookup_elem(&pending, &pid);
	u32 size;

	if (!e)
		return 0;
	e->retval = ret;
	if (ret >= 0 || include_failed) {
		bpf_get_current_comm(e->comm, sizeof(e->comm));
		size = e->args_size;
		if (size > ARGS_AREA)
			size = ARGS_AREA;
		if (bpf_ringbuf_output(&events, e, 56 + size, 0))
			count_lost();
	}
	bpf_map_delete_elem(&pending, &pid);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_execve")
int execsnoop_enter(struct trace_event_raw_sys_enter *ctx)
{
	return enter((const char *)ctx->args[0], (const char *const *)ctx->args[1]);
}

SEC("tracepoint/syscalls/sys_exit_execve")
int execsnoop_exit(struct trace_event_raw_sys_exit *ctx)
{
	return leave(ctx->ret);
}

/* The kprobe pair: libbpf attaches them to the syscall function (__x64_sys_execve) and
 * BPF_KSYSCALL reads the user's arguments through the syscall wrapper's pt_regs. */
SEC("ksyscall/execve")
int BPF_KSYSCALL(execsnoop_kprobe_enter, const char *filename, const char *const *argv)
{
	return enter(filename, argv);
}

SEC("kretsyscall/execve")
int BPF_KRETPROBE(execsnoop_kprobe_exit, long ret)
{
	return leave(ret);
}

NETBPF_LICENSE("GPL");
