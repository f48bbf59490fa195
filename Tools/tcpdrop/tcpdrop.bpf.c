// tcpdrop: TCP segments the kernel drops (BCC's tcpdrop), from skb:kfree_skb with a drop
// reason (5.17+): addresses, ports and flags from the packet's headers, the socket's state
// when the packet has one (skb->sk, or rx_sk on 6.11+), and the kernel stack of the drop.
// BCC reports only drops of packets with a socket; this also reports those without one
// (a segment to a closed port: NO_SOCKET), state "-".
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <netbpf.h>

#define AF_INET 2
#define AF_INET6 10
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define IPPROTO_TCP 6

/* Layout mirrored by Sources/NetBPFTracing/Tools/Tcpdrop.swift. */
struct drop_event {
	u64 ts_ns;
	u64 location;
	u32 pid;
	s32 state;       /* 0: no socket */
	u32 reason;
	s32 stack_id;
	u16 family;
	u16 sport;
	u16 dport;
	u8 flags;
	u8 _pad;
	u8 saddr[16];
	u8 daddr[16];
};
_Static_assert(sizeof(struct drop_event) == 72, "drop_event layout");

const volatile u16 target_family = 0;
const volatile bool with_stacks = true;

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 4096);
	__uint(key_size, sizeof(u32));
	__uint(value_size, 127 * sizeof(u64));
} stacks SEC(".maps");

BPF_RINGBUF_OUTPUT(events, 64);

/* Records the ring buffer could not take (it was full): user space reports them. */
NETBPF_LOST_COUNTER()

SEC("tracepoint/skb/kfree_skb")
int tcpdrop_kfree_skb(struct trace_event_raw_kfree_skb *ctx)
{
	struct sk_buff *skb = ctx->skbaddr;
	u16 proto = ctx->protocol, family, nh;
	struct drop_event *e;
	unsigned char *head, *l4;
	struct sock *sk;
	u8 tcp[14];

	/* BCC: SKB_NOT_DROPPED_YET, SKB_CONSUMED and NOT_SPECIFIED are not drops to report. */
	if (ctx->reason <= SKB_DROP_REASON_NOT_SPECIFIED)
		return 0;
	if (proto == ETH_P_IP)
		family = AF_INET;
	else if (proto == ETH_P_IPV6)
		family = AF_INET6;
	else
		return 0;
	if (target_family && family != target_family)
		return 0;

	head = BPF_CORE_READ(skb, head);
	nh = BPF_CORE_READ(skb, network_header);
	if (nh == (u16)~0U)
		return 0;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_lost();
		return 0;
	}
	__builtin_memset(e, 0, sizeof(*e));
	if (family == AF_INET) {
		struct iphdr ip;

		if (bpf_probe_read_kernel(&ip, sizeof(ip), head + nh) || ip.protocol != IPPROTO_TCP ||
		    (ip.frag_off & bpf_htons(0x1fff)))
			goto discard;
		__builtin_memcpy(e->saddr, &ip.saddr, 4);
		__builtin_memcpy(e->daddr, &ip.daddr, 4);
		l4 = head + nh + (ip.ihl & 0xf) * 4;
	} else {
		struct ipv6hdr ip6;

		if (bpf_probe_read_kernel(&ip6, sizeof(ip6), head + nh) || ip6.nexthdr != IPPROTO_TCP)
			goto discard;
		__builtin_memcpy(e->saddr, &ip6.saddr, 16);
		__builtin_memcpy(e->daddr, &ip6.daddr, 16);
		l4 = head + nh + sizeof(ip6);
	}
	if (bpf_probe_read_kernel(tcp, sizeof(tcp), l4))
		goto discard;

	sk = BPF_CORE_READ(skb, sk);
	if (!sk && bpf_core_field_exists(ctx->rx_sk)) /* 6.11 */
		sk = ctx->rx_sk;
	e->state = sk ? BPF_CORE_READ(sk, __sk_common.skc_state) : 0;
	e->ts_ns = bpf_ktime_get_ns();
	e->location = (u64)ctx->location;
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->reason = ctx->reason;
	e->stack_id = with_stacks ? bpf_get_stackid(ctx, &stacks, 0) : -1;
	e->family = family;
	e->sport = ((u16)tcp[0] << 8) | tcp[1];
	e->dport = ((u16)tcp[2] << 8) | tcp[3];
	e->flags = tcp[13];
	bpf_ringbuf_submit(e, 0);
	return 0;
discard:
	bpf_ringbuf_discard(e, 0);
	return 0;
}

NETBPF_LICENSE("GPL");
