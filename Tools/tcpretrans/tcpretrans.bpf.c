// tcpretrans: TCP retransmissions (BCC's tcpretrans), from tcp:tcp_retransmit_skb.
// Tail loss probes (BCC's -l) have no tracepoint: BCC takes them from a kprobe.
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <netbpf.h>

#define AF_INET 2
#define AF_INET6 10

/* Layout mirrored by Sources/NetBPFTracing/Tools/Tcpretrans.swift. */
struct retrans_event {
	u64 ts_ns;
	u32 pid;
	s32 state;
	u32 seq;
	u16 family;
	u16 lport;
	u16 rport;
	u16 _pad;
	u32 _pad2;
	u8 laddr[16];
	u8 raddr[16];
};
_Static_assert(sizeof(struct retrans_event) == 64, "retrans_event layout");

/* -c: retransmits counted per flow. */
struct flow_key {
	u16 family;
	u16 lport;
	u16 rport;
	u16 _pad;
	u8 laddr[16];
	u8 raddr[16];
};
_Static_assert(sizeof(struct flow_key) == 40, "flow_key layout");

/* tcp:tcp_retransmit_skb's record as tracefs describes it (the same since 4.15; the struct's
 * name in vmlinux.h changed in 6.x, so it is declared here). */
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

const volatile u16 target_family = 0;
const volatile bool do_count = false;

BPF_HASH(counts, struct flow_key, u64, 16384);
BPF_RINGBUF_OUTPUT(events, 64);

/* Records the ring buffer could not take (it was full): user space reports them. */
NETBPF_LOST_COUNTER()

SEC("tracepoint/tcp/tcp_retransmit_skb")
int tcpretrans_skb(struct retransmit_args *ctx)
{
	u16 family = ctx->family;
	struct flow_key key = {};
	struct retrans_event *e;
	struct sk_buff *skb;
	u64 one = 1, *n;

	if (family != AF_INET && family != AF_INET6)
		return 0;
	if (target_family && family != target_family)
		return 0;
	key.family = family;
	key.lport = ctx->sport;
	key.rport = ctx->dport;
	if (family == AF_INET) {
		bpf_probe_read_kernel(key.laddr, 4, ctx->saddr);
		bpf_probe_read_kernel(key.raddr, 4, ctx->daddr);
	} else {
		bpf_probe_read_kernel(key.laddr, 16, ctx->saddr_v6);
		bpf_probe_read_kernel(key.raddr, 16, ctx->daddr_v6);
	}
	if (do_count) {
		n = bpf_map_lookup_elem(&counts, &key);
		if (n)
			__sync_fetch_and_add(n, 1);
		else
			bpf_map_update_elem(&counts, &key, &one, BPF_NOEXIST);
		return 0;
	}

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_lost();
		return 0;
	}
	e->ts_ns = bpf_ktime_get_ns();
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->state = ctx->state;
	/* The segment's first sequence number: TCP_SKB_CB(skb)->seq, at the start of skb->cb. */
	skb = (struct sk_buff *)ctx->skbaddr;
	e->seq = 0;
	bpf_core_read(&e->seq, sizeof(e->seq), &skb->cb);
	e->family = family;
	e->lport = key.lport;
	e->rport = key.rport;
	e->_pad = 0;
	e->_pad2 = 0;
	__builtin_memcpy(e->laddr, key.laddr, 16);
	__builtin_memcpy(e->raddr, key.raddr, 16);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

NETBPF_LICENSE("GPL");
