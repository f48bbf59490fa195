// tcpaccept: TCP connections accepted by a process (BCC's tcpaccept), on tracepoints only.
// BCC reads the new socket on the return of inet_csk_accept() (a kretprobe). Here it is
// syscalls:sys_exit_accept/accept4: the returned fd is looked up in the caller's file table
// (task->files->fdt->fd[fd] -> file->private_data (struct socket) -> sk), all through CO-RE.
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <netbpf.h>

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6

/* Layout mirrored by Sources/NetBPFTracing/Tools/Tcpaccept.swift. */
struct accept_event {
	u64 ts_ns;
	u32 pid;
	u16 family;
	u16 lport;
	u16 rport;
	u16 _pad;
	u32 _pad2;
	u8 laddr[16];
	u8 raddr[16];
	char comm[16];
};
_Static_assert(sizeof(struct accept_event) == 72, "accept_event layout");

const volatile u32 target_pid = 0;
const volatile u16 target_family = 0;
const volatile bool filter_lport = false;

BPF_HASH(lports, u16, u16, 64);
BPF_RINGBUF_OUTPUT(events, 64);

/* Records the ring buffer could not take (it was full): user space reports them. */
NETBPF_LOST_COUNTER()

/* The socket behind file descriptor `fd` of the current task, or NULL. */
static __always_inline struct sock *fd_sock(long fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds;
	struct file *f = NULL;
	struct socket *so;

	if (!fdt || fd < 0 || fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	fds = BPF_CORE_READ(fdt, fd);
	if (bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]) || !f)
		return NULL;
	so = BPF_CORE_READ(f, private_data);
	if (!so)
		return NULL;
	return BPF_CORE_READ(so, sk);
}

static __always_inline int accepted(long fd)
{
	u32 pid = bpf_get_current_pid_tgid() >> 32;
	struct accept_event *e;
	struct sock *sk;
	u16 family, lport;

	if (fd < 0)
		return 0;
	if (target_pid && pid != target_pid)
		return 0;
	sk = fd_sock(fd);
	if (!sk)
		return 0;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != AF_INET && family != AF_INET6)
		return 0;
	if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	if (target_family && family != target_family)
		return 0;
	lport = BPF_CORE_READ(sk, __sk_common.skc_num);
	if (filter_lport && !bpf_map_lookup_elem(&lports, &lport))
		return 0;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_lost();
		return 0;
	}
	e->ts_ns = bpf_ktime_get_ns();
	e->pid = pid;
	e->family = family;
	e->lport = lport;
	e->rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	e->_pad = 0;
	e->_pad2 = 0;
	__builtin_memset(e->laddr, 0, 16);
	__builtin_memset(e->raddr, 0, 16);
	if (family == AF_INET) {
		bpf_core_read(e->laddr, 4, &sk->__sk_common.skc_rcv_saddr);
		bpf_core_read(e->raddr, 4, &sk->__sk_common.skc_daddr);
	} else {
		bpf_core_read(e->laddr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
		bpf_core_read(e->raddr, 16, &sk->__sk_common.skc_v6_daddr);
	}
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int tcpaccept_accept4(struct trace_event_raw_sys_exit *ctx)
{
	return accepted(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_accept")
int tcpaccept_accept(struct trace_event_raw_sys_exit *ctx)
{
	return accepted(ctx->ret);
}

NETBPF_LICENSE("GPL");
