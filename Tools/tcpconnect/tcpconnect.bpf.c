// tcpconnect: active TCP connects (BCC's tcpconnect), on tracepoints only.
// A connect is seen when the socket enters SYN_SENT (sock:inet_sock_set_state, in the
// connecting process: its pid, uid, comm and both addresses). The local port is chosen just
// after that, so the event is sent at the first of: connect(2) returning
// (syscalls:sys_exit_connect), the SYN being retransmitted (tcp:tcp_retransmit_skb), or the
// socket leaving SYN_SENT (ESTABLISHED, or CLOSE on a reset). BCC sends it when
// tcp_v4_connect() returns; a connect that failed before a port was chosen is not reported
// (BCC: tcp_v4_connect() returned an error).
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <netbpf.h>

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6

/* Layout mirrored by Sources/NetBPFTracing/Tools/Tcpconnect.swift. */
struct connect_event {
	u64 ts_ns;
	u32 pid;
	u32 uid;
	u16 family;
	u16 sport;
	u16 dport;
	u16 _pad;
	u8 saddr[16];
	u8 daddr[16];
	char comm[16];
};
_Static_assert(sizeof(struct connect_event) == 72, "connect_event layout");

/* -c: connects counted per (source, destination, destination port). */
struct count_key {
	u16 family;
	u16 dport;
	u32 _pad;
	u8 saddr[16];
	u8 daddr[16];
};
_Static_assert(sizeof(struct count_key) == 40, "count_key layout");

const volatile u32 target_pid = 0;
const volatile bool filter_uid = false;
const volatile u32 target_uid = 0;
const volatile u16 target_family = 0;
const volatile bool filter_dport = false;
const volatile bool do_count = false;

BPF_HASH(dports, u16, u16, 64);
/* Sockets in SYN_SENT not reported yet, and the socket each thread is connecting. */
BPF_LRU_HASH(pending, u64, struct connect_event, 16384);
BPF_LRU_HASH(connecting, u32, u64, 16384);
BPF_HASH(counts, struct count_key, u64, 16384);
BPF_RINGBUF_OUTPUT(events, 64);

/* Records the ring buffer could not take (it was full): user space reports them. */
NETBPF_LOST_COUNTER()

/* Sends (or counts) the pending connect of socket `sk` with its local port `sport`. */
static __always_inline void report(u64 sk, u16 sport)
{
	struct connect_event *p = bpf_map_lookup_elem(&pending, &sk), *e;

	if (!p)
		return;
	if (!sport) {
		/* No port was ever chosen: connect failed before sending a SYN. */
		bpf_map_delete_elem(&pending, &sk);
		return;
	}
	if (do_count) {
		struct count_key key = { .family = p->family, .dport = p->dport };
		u64 one = 1, *n;

		__builtin_memcpy(key.saddr, p->saddr, 16);
		__builtin_memcpy(key.daddr, p->daddr, 16);
		n = bpf_map_lookup_elem(&counts, &key);
		if (n)
			__sync_fetch_and_add(n, 1);
		else
			bpf_map_update_elem(&counts, &key, &one, BPF_NOEXIST);
	} else {
		e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
		if (e) {
			__builtin_memcpy(e, p, sizeof(*e));
			e->sport = sport;
			bpf_ringbuf_submit(e, 0);
		} else {
			count_lost();
		}
	}
	bpf_map_delete_elem(&pending, &sk);
}

SEC("tracepoint/sock/inet_sock_set_state")
int tcpconnect_state(struct trace_event_raw_inet_sock_set_state *ctx)
{
	u64 sk = (u64)ctx->skaddr, id;
	struct connect_event e = {};
	u32 tid;

	if (ctx->protocol != IPPROTO_TCP)
		return 0;
	if (ctx->oldstate == TCP_SYN_SENT) {
		report(sk, ctx->sport);
		return 0;
	}
	if (ctx->newstate != TCP_SYN_SENT)
		return 0;

	id = bpf_get_current_pid_tgid();
	e.pid = id >> 32;
	e.uid = (u32)bpf_get_current_uid_gid();
	e.family = ctx->family;
	e.dport = ctx->dport;
	if (target_pid && e.pid != target_pid)
		return 0;
	if (filter_uid && e.uid != target_uid)
		return 0;
	if (target_family && e.family != target_family)
		return 0;
	if (filter_dport && !bpf_map_lookup_elem(&dports, &e.dport))
		return 0;

	e.ts_ns = bpf_ktime_get_ns();
	if (e.family == AF_INET) {
		bpf_probe_read_kernel(e.saddr, 4, ctx->saddr);
		bpf_probe_read_kernel(e.daddr, 4, ctx->daddr);
	} else {
		bpf_probe_read_kernel(e.saddr, 16, ctx->saddr_v6);
		bpf_probe_read_kernel(e.daddr, 16, ctx->daddr_v6);
	}
	bpf_get_current_comm(e.comm, sizeof(e.comm));
	bpf_map_update_elem(&pending, &sk, &e, BPF_ANY);
	tid = (u32)id;
	bpf_map_update_elem(&connecting, &tid, &sk, BPF_ANY);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_connect")
int tcpconnect_return(struct trace_event_raw_sys_exit *ctx)
{
	u32 tid = (u32)bpf_get_current_pid_tgid();
	u64 *skp = bpf_map_lookup_elem(&connecting, &tid), sk;
	struct inet_sock *inet;

	if (!skp)
		return 0;
	sk = *skp;
	bpf_map_delete_elem(&connecting, &tid);
	inet = (struct inet_sock *)sk;
	report(sk, bpf_ntohs(BPF_CORE_READ(inet, inet_sport)));
	return 0;
}

/* tcp:tcp_retransmit_skb's record as tracefs describes it (the same on 4.15-6.18; the
 * struct's name in vmlinux.h changed in 6.x, so it is declared here). */
struct retransmit_args {
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

/* A blocking connect whose SYN went unanswered: report it at the first retransmission
 * instead of when connect(2) gives up. */
SEC("tracepoint/tcp/tcp_retransmit_skb")
int tcpconnect_retransmit(struct retransmit_args *ctx)
{
	if (ctx->state == TCP_SYN_SENT)
		report((u64)ctx->skaddr, ctx->sport);
	return 0;
}

NETBPF_LICENSE("GPL");
