// sofdsnoop: file descriptors passed over Unix sockets (SCM_RIGHTS), as BCC's sofdsnoop.
// BCC reads the kernel's copy of the control message on __scm_send()/scm_detach_fds()
// (kprobes). Here: syscalls:sys_enter/exit_sendmsg and _recvmsg, reading the caller's own
// struct msghdr and its first control message from user memory: for a send when sendmsg
// succeeded, for a receive after recvmsg wrote the installed descriptors there.
#include "vmlinux.h"
#include <netbpf.h>

#define SOL_SOCKET 1
#define SCM_RIGHTS 1
#define MAX_FDS 32
#define ACTION_SEND 0
#define ACTION_RECV 1

/* Layout mirrored by Sources/NetBPFTracing/Tools/Sofdsnoop.swift. */
struct fd_event {
	u64 ts_ns;
	u32 pid;
	u32 tid;
	s32 action;
	s32 sock_fd;
	u32 count;      /* descriptors in the message (fds[] holds the first MAX_FDS) */
	u32 _pad;
	s32 fds[MAX_FDS];
	char comm[16];
};
_Static_assert(sizeof(struct fd_event) == 32 + 4 * MAX_FDS + 16, "fd_event layout");

/* syscalls:sys_enter_sendmsg / _recvmsg and their exits, as tracefs describes them. */
struct msg_enter_args {
	u64 common;
	s32 nr;
	s32 _pad;
	u64 fd;
	struct user_msghdr *msg;
	u64 flags;
};
struct exit_args {
	u64 common;
	s32 nr;
	s32 _pad;
	s64 ret;
};

struct pending {
	struct user_msghdr *msg;
	s32 fd;
	s32 action;
};

const volatile u32 target_pid = 0;
const volatile u32 target_tid = 0;

BPF_HASH(inflight, u32, struct pending, 16384);
BPF_RINGBUF_OUTPUT(events, 256);

/* Records the ring buffer could not take (it was full): user space reports them. */
NETBPF_LOST_COUNTER()

static __always_inline int enter(struct msg_enter_args *ctx, int action)
{
	u64 id = bpf_get_current_pid_tgid();
	u32 tid = (u32)id;
	struct pending p = { .msg = ctx->msg, .fd = (s32)ctx->fd, .action = action };

	if (target_pid && (id >> 32) != target_pid)
		return 0;
	if (target_tid && tid != target_tid)
		return 0;
	bpf_map_update_elem(&inflight, &tid, &p, BPF_ANY);
	return 0;
}

static __always_inline int leave(struct exit_args *ctx)
{
	u64 id = bpf_get_current_pid_tgid();
	u32 tid = (u32)id;
	struct pending *p = bpf_map_lookup_elem(&inflight, &tid);
	struct user_msghdr msg;
	struct cmsghdr cmsg;
	struct fd_event *e;
	u32 bytes;
	u64 n;

	if (!p)
		return 0;
	if (ctx->ret < 0 || bpf_probe_read_user(&msg, sizeof(msg), p->msg) || !msg.msg_control ||
	    msg.msg_controllen < sizeof(cmsg) + sizeof(int))
		goto done;
	if (bpf_probe_read_user(&cmsg, sizeof(cmsg), msg.msg_control))
		goto done;
	if (cmsg.cmsg_level != SOL_SOCKET || cmsg.cmsg_type != SCM_RIGHTS || cmsg.cmsg_len < sizeof(cmsg) + sizeof(int))
		goto done;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_lost();
		goto done;
	}
	n = (cmsg.cmsg_len - sizeof(cmsg)) / sizeof(int);
	__builtin_memset(e, 0, sizeof(*e));
	e->ts_ns = bpf_ktime_get_ns();
	e->pid = id >> 32;
	e->tid = tid;
	e->action = p->action;
	e->sock_fd = p->fd;
	e->count = n;
	bytes = (n < MAX_FDS ? n : MAX_FDS) * sizeof(int);
	if (bytes > sizeof(e->fds))
		bytes = sizeof(e->fds);
	bpf_probe_read_user(e->fds, bytes, (char *)msg.msg_control + sizeof(cmsg));
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);
done:
	bpf_map_delete_elem(&inflight, &tid);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_sendmsg")
int sofdsnoop_sendmsg(struct msg_enter_args *ctx)
{
	return enter(ctx, ACTION_SEND);
}

SEC("tracepoint/syscalls/sys_exit_sendmsg")
int sofdsnoop_sendmsg_exit(struct exit_args *ctx)
{
	return leave(ctx);
}

SEC("tracepoint/syscalls/sys_enter_recvmsg")
int sofdsnoop_recvmsg(struct msg_enter_args *ctx)
{
	return enter(ctx, ACTION_RECV);
}

SEC("tracepoint/syscalls/sys_exit_recvmsg")
int sofdsnoop_recvmsg_exit(struct exit_args *ctx)
{
	return leave(ctx);
}

NETBPF_LICENSE("GPL");
