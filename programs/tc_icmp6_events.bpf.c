// SPDX-License-Identifier: GPL-2.0
/* BCC's examples/networking/tc_perf_event.py with a ring buffer instead of a perf buffer: a
 * direct-action classifier for egress that reports every ICMPv6 echo request (type 128) leaving
 * the interface: addresses, interface, length, echo id and sequence, hop limit
 * (programs/include/tc_icmp6_events.h). Only packets whose IPv6 next header is ICMPv6 are
 * seen (no extension headers are walked). The headers are read relative to the network header
 * (bpf_skb_load_bytes_relative with BPF_HDR_START_NET, kernel 4.18), so it works on Ethernet
 * devices and on L3 devices without a link-layer header (tun, wireguard, ip6tnl) alike. It
 * never changes a verdict: TC_ACT_UNSPEC lets the
 * next program of a tcx chain, or the rest of tc, decide (for a single cls_bpf filter it means
 * the default action, pass). Records that do not fit in the ring buffer are counted in `lost`.
 * Ring buffer: kernel 5.8. */
#include <linux/bpf.h>
#include <linux/if_ether.h> /* ETH_P_IPV6 */
#include <linux/in.h>
#include <linux/ipv6.h>
#include <linux/icmpv6.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "tc_icmp6_events.h"

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, ICMP6_EVENTS_RINGBUF_BYTES);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} lost SEC(".maps");

/* Echo request header: type, code, checksum, identifier, sequence. */
struct echo_hdr {
	__u8 type;
	__u8 code;
	__be16 checksum;
	__be16 id;
	__be16 seq;
};

SEC("tc")
int tc_icmp6_events(struct __sk_buff *skb)
{
	struct ipv6hdr ip6;
	struct echo_hdr echo;
	struct icmp6_echo_event *e;

	if (skb->protocol != bpf_htons(ETH_P_IPV6))
		return TC_ACT_UNSPEC;
	if (bpf_skb_load_bytes_relative(skb, 0, &ip6, sizeof(ip6), BPF_HDR_START_NET) < 0 || ip6.nexthdr != IPPROTO_ICMPV6)
		return TC_ACT_UNSPEC;
	if (bpf_skb_load_bytes_relative(skb, sizeof(ip6), &echo, sizeof(echo), BPF_HDR_START_NET) < 0
	    || echo.type != ICMPV6_ECHO_REQUEST)
		return TC_ACT_UNSPEC;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		__u32 zero = 0;
		__u64 *n = bpf_map_lookup_elem(&lost, &zero);

		if (n)
			__sync_fetch_and_add(n, 1);
		return TC_ACT_UNSPEC;
	}
	e->timestamp_ns = bpf_ktime_get_ns();
	__builtin_memcpy(e->src, &ip6.saddr, 16);
	__builtin_memcpy(e->dst, &ip6.daddr, 16);
	e->ifindex = skb->ifindex;
	e->len = skb->len;
	e->id = bpf_ntohs(echo.id);
	e->seq = bpf_ntohs(echo.seq);
	e->hop_limit = ip6.hop_limit;
	e->pad[0] = e->pad[1] = e->pad[2] = 0;
	bpf_ringbuf_submit(e, 0);
	return TC_ACT_UNSPEC;
}

char LICENSE[] SEC("license") = "GPL";
