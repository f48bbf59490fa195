// tcplife: one line per TCP session when it closes: who, endpoints, bytes each way, duration.
// From sock:inet_sock_set_state; byte counts read from the tcp_sock (CO-RE).
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <netbpf.h>

#define AF_INET 2
#define IPPROTO_TCP 6

/* Layout mirrored by Sources/NetBPFTracing/Tools/Tcplife.swift. */
struct life_event {
	u64 span_ns;
	u64 rx_bytes;
	u64 tx_bytes;
	u32 pid;
	u16 family;
	u16 sport;
	u16 dport;
	u16 _pad;
	u8 saddr[16];
	u8 daddr[16];
	char comm[16];
	u32 _pad2;
};
_Static_assert(sizeof(struct life_event) == 88, "life_event layout");

struct owner {
	u32 pid;
	char comm[16];
};

const volatile u32 target_pid = 0;
const volatile u16 target_family = 0;
const volatile bool filter_sport = false;
const volatile bool filter_dport = false;

BPF_HASH(sports, u16, u16, 64);
BPF_HASH(dports, u16, u16, 64);
BPF_HASH(born, u64, u64, 16384);
BPF_HASH(owners, u64, struct owner, 16384);
BPF_RINGBUF_OUTPUT(events, 64);

/* Records the ring buffer could not take (it was full): user space reports them. */
NETBPF_LOST_COUNTER()

SEC("tracepoint/sock/inet_sock_set_state")
int tcplife_change(struct trace_event_raw_inet_sock_set_state *ctx)
{
	u64 sk = (u64)ctx->skaddr, *start, now;
	u16 family = ctx->family, sport = ctx->sport, dport = ctx->dport;
	int newstate = ctx->newstate;
	struct tcp_sock *tp = (struct tcp_sock *)ctx->skaddr;
	struct owner who = {}, *known;
	struct life_event *e;

	if (ctx->protocol != IPPROTO_TCP)
		return 0;
	if (target_family && family != target_family)
		goto forget;
	if (filter_sport && !bpf_map_lookup_elem(&sports, &sport))
		goto forget;
	if (filter_dport && !bpf_map_lookup_elem(&dports, &dport))
		goto forget;

	/* Birth: the last state before FIN_WAIT1 (ESTABLISHED, normally), as BCC and libbpf-tools
	 * take it: a connect whose SYN is retransmitted does not add the retransmission wait. */
	if (newstate < TCP_FIN_WAIT1) {
		now = bpf_ktime_get_ns();
		bpf_map_update_elem(&born, &sk, &now, BPF_ANY);
	}
	/* The process in context when a connect starts or a passive close begins owns the session. */
	if (newstate == TCP_SYN_SENT || newstate == TCP_LAST_ACK) {
		who.pid = bpf_get_current_pid_tgid() >> 32;
		bpf_get_current_comm(who.comm, sizeof(who.comm));
		bpf_map_update_elem(&owners, &sk, &who, BPF_ANY);
	}
	if (newstate != TCP_CLOSE)
		return 0;

	start = bpf_map_lookup_elem(&born, &sk);
	if (!start)
		goto forget;
	known = bpf_map_lookup_elem(&owners, &sk);
	if (known) {
		who = *known;
	} else {
		who.pid = bpf_get_current_pid_tgid() >> 32;
		bpf_get_current_comm(who.comm, sizeof(who.comm));
	}
	if (target_pid && who.pid != target_pid)
		goto forget;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_lost();
		goto forget;
	}
	e->span_ns = bpf_ktime_get_ns() - *start;
	e->rx_bytes = BPF_CORE_READ(tp, bytes_received);
	e->tx_bytes = BPF_CORE_READ(tp, bytes_acked);
	e->pid = who.pid;
	e->family = family;
	e->sport = sport;
	e->dport = dport;
	e->_pad = 0;
	e->_pad2 = 0;
	if (family == AF_INET) {
		__builtin_memset(e->saddr, 0, 16);
		__builtin_memset(e->daddr, 0, 16);
		bpf_probe_read_kernel(e->saddr, 4, ctx->saddr);
		bpf_probe_read_kernel(e->daddr, 4, ctx->daddr);
	} else {
		bpf_probe_read_kernel(e->saddr, 16, ctx->saddr_v6);
		bpf_probe_read_kernel(e->daddr, 16, ctx->daddr_v6);
	}
	__builtin_memcpy(e->comm, who.comm, 16);
	bpf_ringbuf_submit(e, 0);
forget:
	if (newstate == TCP_CLOSE) {
		bpf_map_delete_elem(&born, &sk);
		bpf_map_delete_elem(&owners, &sk);
	}
	return 0;
}

NETBPF_LICENSE("GPL");
