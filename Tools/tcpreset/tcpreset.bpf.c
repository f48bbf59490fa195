// tcpreset: TCP resets sent (tcp:tcp_send_reset) and received (tcp:tcp_receive_reset), with
// the socket's state and, for sent ones, the kernel's reason (enum sk_rst_reason, 6.10+).
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <netbpf.h>

#define AF_INET 2
#define AF_INET6 10

/* Layout mirrored by Sources/NetBPFTracing/Tools/Tcpreset.swift. */
struct reset_event {
	u64 ts_ns;
	u32 pid;
	s32 state;
	u32 reason;
	u8 received;
	u8 _pad;
	u16 family;
	u16 lport;
	u16 rport;
	u32 _pad2;
	u8 laddr[16];
	u8 raddr[16];
	char comm[16];
};
_Static_assert(sizeof(struct reset_event) == 80, "reset_event layout");

/* The records as tracefs describes them (declared here: vmlinux.h's names changed).
 * tcp_send_reset since 6.10: addresses as struct sockaddr_in/in6 (28 bytes), a reason. */
struct send_reset_args {
	u64 common;
	const void *skbaddr;
	const void *skaddr;
	int state;
	u32 reason;
	u8 saddr[28];
	u8 daddr[28];
};

/* tcp_send_reset before 6.10 (class tcp_event_sk_skb), and tcp_receive_reset (tcp_event_sk). */
struct send_reset_args_old {
	u64 common;
	const void *skbaddr;
	const void *skaddr;
	int state;
	u16 sport;
	u16 dport;
	u16 family;
	u8 saddr[4];
	u8 daddr[4];
	u8 saddr_v6[16];
	u8 daddr_v6[16];
};

struct receive_reset_args {
	u64 common;
	const void *skaddr;
	u16 sport;
	u16 dport;
	u16 family;
	u8 saddr[4];
	u8 daddr[4];
	u8 saddr_v6[16];
	u8 daddr_v6[16];
};

const volatile u16 target_family = 0;
const volatile bool old_send_layout = false;
const volatile bool trace_sent = true;
const volatile bool trace_received = true;
const volatile bool filter_lport = false;
const volatile bool filter_rport = false;

BPF_HASH(lports, u16, u16, 64);
BPF_HASH(rports, u16, u16, 64);
BPF_RINGBUF_OUTPUT(events, 64);

/* Records the ring buffer could not take (it was full): user space reports them. */
NETBPF_LOST_COUNTER()

static __always_inline bool wanted(u16 family, u16 lport, u16 rport)
{
	if (family != AF_INET && family != AF_INET6)
		return false;
	if (target_family && family != target_family)
		return false;
	if (filter_lport && !bpf_map_lookup_elem(&lports, &lport))
		return false;
	if (filter_rport && !bpf_map_lookup_elem(&rports, &rport))
		return false;
	return true;
}

static __always_inline struct reset_event *reserve(void)
{
	struct reset_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e) {
		count_lost();
		return NULL;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->ts_ns = bpf_ktime_get_ns();
	e->pid = bpf_get_current_pid_tgid() >> 32;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	return e;
}

/* Port (network order at +2) and address (+4 for IPv4, +8 for IPv6) of a sockaddr. */
static __always_inline u16 sockaddr_port(const u8 *sa)
{
	return ((u16)sa[2] << 8) | sa[3];
}

SEC("tracepoint/tcp/tcp_send_reset")
int tcpreset_send(void *ctx)
{
	struct reset_event *e;
	u16 family, lport, rport;

	if (!trace_sent)
		return 0;
	if (old_send_layout) {
		struct send_reset_args_old *a = ctx;

		family = a->family;
		if (!wanted(family, a->sport, a->dport))
			return 0;
		e = reserve();
		if (!e)
			return 0;
		e->state = a->state;
		e->lport = a->sport;
		e->rport = a->dport;
		if (family == AF_INET) {
			bpf_probe_read_kernel(e->laddr, 4, a->saddr);
			bpf_probe_read_kernel(e->raddr, 4, a->daddr);
		} else {
			bpf_probe_read_kernel(e->laddr, 16, a->saddr_v6);
			bpf_probe_read_kernel(e->raddr, 16, a->daddr_v6);
		}
	} else {
		struct send_reset_args *a = ctx;

		family = *(u16 *)a->saddr;
		lport = sockaddr_port(a->saddr);
		rport = sockaddr_port(a->daddr);
		if (!wanted(family, lport, rport))
			return 0;
		e = reserve();
		if (!e)
			return 0;
		e->state = a->state;
		e->reason = a->reason;
		e->lport = lport;
		e->rport = rport;
		if (family == AF_INET) {
			bpf_probe_read_kernel(e->laddr, 4, a->saddr + 4);
			bpf_probe_read_kernel(e->raddr, 4, a->daddr + 4);
		} else {
			bpf_probe_read_kernel(e->laddr, 16, a->saddr + 8);
			bpf_probe_read_kernel(e->raddr, 16, a->daddr + 8);
		}
	}
	e->family = family;
	e->received = 0;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("tracepoint/tcp/tcp_receive_reset")
int tcpreset_receive(struct receive_reset_args *a)
{
	struct sock *sk = (struct sock *)a->skaddr;
	struct reset_event *e;
	u16 family = a->family;

	if (!trace_received || !wanted(family, a->sport, a->dport))
		return 0;
	e = reserve();
	if (!e)
		return 0;
	e->state = BPF_CORE_READ(sk, __sk_common.skc_state);
	e->received = 1;
	e->family = family;
	e->lport = a->sport;
	e->rport = a->dport;
	if (family == AF_INET) {
		bpf_probe_read_kernel(e->laddr, 4, a->saddr);
		bpf_probe_read_kernel(e->raddr, 4, a->daddr);
	} else {
		bpf_probe_read_kernel(e->laddr, 16, a->saddr_v6);
		bpf_probe_read_kernel(e->raddr, 16, a->daddr_v6);
	}
	bpf_ringbuf_submit(e, 0);
	return 0;
}

NETBPF_LICENSE("GPL");
