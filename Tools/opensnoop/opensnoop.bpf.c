// opensnoop: open(), openat() and openat2() with their result, from the syscall tracepoints
// (libbpf-tools' way) or, with --kprobe or where the kernel has no syscall tracepoints, from
// kprobes and kretprobes on the syscall functions (BCC's way; libbpf's ksyscall sections).
// User space loads one set of programs (Sources/NetBPFTracing/SyscallProbes.swift).
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <netbpf.h>

/* Layout mirrored by Sources/NetBPFTracing/Tools/Opensnoop.swift. */
struct open_event {
	u64 ts_ns;
	u32 pid;
	u32 tid;
	u32 uid;
	s32 ret;
	s32 flags;
	u32 _pad;
	char comm[16];
	char path[256]; /* sent up to its NUL: records are 48 + strlen + 1 bytes */
};
_Static_assert(sizeof(struct open_event) == 304, "open_event layout");

struct open_args {
	const char *path;
	s32 flags;
	u32 _pad;
};

const volatile u32 target_pid = 0;
const volatile u32 target_tid = 0;
const volatile u32 target_uid = (u32)-1;
const volatile bool failed_only = false;

BPF_HASH(inflight, u32, struct open_args, 8192);
BPF_PERCPU_ARRAY(scratch, struct open_event, 1);
BPF_RINGBUF_OUTPUT(events, 64);

/* Records the ring buffer could not take (it was full): user space reports them. */
NETBPF_LOST_COUNTER()

static __always_inline bool wanted(void)
{
	u64 id = bpf_get_current_pid_tgid();

	if (target_pid && (id >> 32) != target_pid)
		return false;
	if (target_tid && (u32)id != target_tid)
		return false;
	if (target_uid != (u32)-1 && (u32)bpf_get_current_uid_gid() != target_uid)
		return false;
	return true;
}

static __always_inline int remember(const char *path, long flags)
{
	u32 tid = (u32)bpf_get_current_pid_tgid();
	struct open_args a = { .path = path, .flags = (s32)flags };

	if (wanted())
		bpf_map_update_elem(&inflight, &tid, &a, BPF_ANY);
	return 0;
}

static __always_inline int finish(long ret)
{
	u64 id = bpf_get_current_pid_tgid();
	u32 tid = (u32)id;
	struct open_args *a = bpf_map_lookup_elem(&inflight, &tid);
	struct open_event *e;
	u32 zero = 0;
	long n;

	if (!a)
		return 0;
	if (failed_only && ret >= 0)
		goto done;
	/* Built in a per-CPU scratch slot and sent with the path's real length: records average
	 * well under 100 bytes instead of 304, so the ring holds three to four times more. */
	e = bpf_map_lookup_elem(&scratch, &zero);
	if (!e)
		goto done;
	e->ts_ns = bpf_ktime_get_ns();
	e->pid = id >> 32;
	e->tid = tid;
	e->uid = (u32)bpf_get_current_uid_gid();
	e->ret = (s32)ret;
	e->flags = a->flags;
	e->_pad = 0;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	n = bpf_probe_read_user_str(e->path, sizeof(e->path), a->path);
	if (n <= 0) {
		e->path[0] = 0;
		n = 1;
	}
	if (n > sizeof(e->path))
		n = sizeof(e->path);
	if (bpf_ringbuf_output(&events, e, offsetof(struct open_event, path) + n, 0))
		count_lost();
done:
	bpf_map_delete_elem(&inflight, &tid);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_open")
int opensnoop_open(struct trace_event_raw_sys_enter *ctx)
{
	return remember((const char *)ctx->args[0], (long)ctx->args[1]);
}

SEC("tracepoint/syscalls/sys_enter_openat")
int opensnoop_openat(struct trace_event_raw_sys_enter *ctx)
{
	return remember((const char *)ctx->args[1], (long)ctx->args[2]);
}

/* openat2(dfd, path, struct open_how *how, size): the flags are how->flags, read from user
 * memory (Linux 5.6+). */
SEC("tracepoint/syscalls/sys_enter_openat2")
int opensnoop_openat2(struct trace_event_raw_sys_enter *ctx)
{
	u64 flags = 0;

	bpf_probe_read_user(&flags, sizeof(flags), (const void *)ctx->args[2]);
	return remember((const char *)ctx->args[1], (long)flags);
}

SEC("tracepoint/syscalls/sys_exit_openat2")
int opensnoop_openat2_ret(struct trace_event_raw_sys_exit *ctx)
{
	return finish(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_open")
int opensnoop_open_ret(struct trace_event_raw_sys_exit *ctx)
{
	return finish(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_openat")
int opensnoop_openat_ret(struct trace_event_raw_sys_exit *ctx)
{
	return finish(ctx->ret);
}

/* The kprobe set: libbpf attaches each to its syscall function (__x64_sys_openat ...), and
 * BPF_KSYSCALL reads the user's arguments through the syscall wrapper's pt_regs. */
SEC("ksyscall/open")
int BPF_KSYSCALL(opensnoop_kprobe_open, const char *path, long flags)
{
	return remember(path, flags);
}

SEC("ksyscall/openat")
int BPF_KSYSCALL(opensnoop_kprobe_openat, long dfd, const char *path, long flags)
{
	return remember(path, flags);
}

SEC("ksyscall/openat2")
int BPF_KSYSCALL(opensnoop_kprobe_openat2, long dfd, const char *path, const void *how)
{
	u64 flags = 0;

	bpf_probe_read_user(&flags, sizeof(flags), how);
	return remember(path, (long)flags);
}

SEC("kretsyscall/open")
int BPF_KRETPROBE(opensnoop_kprobe_open_ret, long ret)
{
	return finish(ret);
}

SEC("kretsyscall/openat")
int BPF_KRETPROBE(opensnoop_kprobe_openat_ret, long ret)
{
	return finish(ret);
}

SEC("kretsyscall/openat2")
int BPF_KRETPROBE(opensnoop_kprobe_openat2_ret, long ret)
{
	return finish(ret);
}

NETBPF_LICENSE("GPL");
