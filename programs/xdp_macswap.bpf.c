// SPDX-License-Identifier: GPL-2.0
/* BCC's examples/networking/xdp/xdp_macswap_count.py (xdp_prog2): send frames back out of the
 * interface they came in on (XDP_TX) with source and destination MAC swapped, counted per IP
 * protocol (programs/include/xdp_ip_proto.h).
 *
 * BCC swaps and bounces every frame. Here only UDP (IPv4 protocol or IPv6 next header 17) is
 * bounced; everything else (ARP, NDP, ICMP, TCP) gets XDP_PASS, so the interface stays usable
 * and the bounced traffic is only what a test or a traffic generator sends. Every frame is
 * counted, bounced or not, so `netbpf xdp-macswap` shows the other protocols too. The IP
 * addresses are left alone: the sender gets its datagram back addressed to the MAC it came
 * from, but to an IP that is not its own. */
#include "xdp_ip_proto.h"

XDP_PROTO_COUNTER(rxcnt);

static __always_inline void swap_macs(struct ethhdr *eth)
{
	unsigned char tmp[ETH_ALEN];

	__builtin_memcpy(tmp, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, tmp, ETH_ALEN);
}

SEC("xdp")
int xdp_macswap(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u32 proto = xdp_ip_protocol(data, data_end);

	xdp_count_protocol(&rxcnt, proto);
	if (proto != IPPROTO_UDP || (void *)(eth + 1) > data_end)
		return XDP_PASS;
	swap_macs(eth);
	return XDP_TX;
}

char LICENSE[] SEC("license") = "GPL";
