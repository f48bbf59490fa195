// SPDX-License-Identifier: GPL-2.0
/* BCC's examples/networking/xdp/xdp_macswap_count.py (xdp_prog2): send frames back out of the
 * interface they came in on (XDP_TX) with source and destination MAC swapped, counted per IP
 * protocol (programs/include/xdp_ip_proto.h).
 *
 * BCC swaps and bounces every frame. Here only unicast UDP is bounced: IPv4 protocol or IPv6
 * next header 17, with a destination MAC whose group bit is clear. Every unicast UDP frame
 * arriving on the interface is sent back, whoever sent it (DNS, NTP, QUIC as much as a traffic
 * generator). Broadcast and multicast UDP (DHCP, mDNS) would come back with a group address as
 * its source MAC, so it is passed like everything else (ARP, NDP, ICMP, TCP), which keeps the
 * interface usable. Every frame is counted per protocol in `rxcnt`, bounced or not, so
 * `netbpf xdp-macswap` shows the other protocols too; the bounced ones are counted once more in
 * `txcnt` (one slot). The IP addresses are left alone: the sender gets its datagram back
 * addressed to the MAC it came from, but to an IP that is not its own. */
#include "xdp_ip_proto.h"

XDP_PROTO_COUNTER(rxcnt);

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} txcnt SEC(".maps");

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
	if (proto != IPPROTO_UDP || (void *)(eth + 1) > data_end || (eth->h_dest[0] & 1))
		return XDP_PASS;
	swap_macs(eth);
	xdp_count_protocol(&txcnt, 0);
	return XDP_TX;
}

char LICENSE[] SEC("license") = "GPL";
