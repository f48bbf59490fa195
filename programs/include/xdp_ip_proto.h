/* The IP protocol of an Ethernet frame for BCC's XDP examples (xdp_drop_count, xdp_macswap,
 * xdp_redirect_map): the IPv4 protocol or IPv6 next header after up to two VLAN tags
 * (802.1Q / 802.1ad), 0 for anything else (ARP, a truncated header). The counters of those
 * programs are per-CPU arrays of 256 indexed by it; the Swift side reads them with
 * XDPProtocolCounts (Sources/NetBPFControllers/XDPProtocolCounts.swift). */
#ifndef NETBPF_XDP_IP_PROTO_H
#define NETBPF_XDP_IP_PROTO_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct xdp_vlan_hdr {
	__be16 tci;
	__be16 proto;
};

static __always_inline __u32 xdp_ip_protocol(void *data, void *data_end)
{
	struct ethhdr *eth = data;
	__u64 off = sizeof(*eth);
	__u16 proto;
	int i;

	if (data + off > data_end)
		return 0;
	proto = eth->h_proto;
	for (i = 0; i < 2; i++) {
		struct xdp_vlan_hdr *v = data + off;

		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		if ((void *)(v + 1) > data_end)
			return 0;
		proto = v->proto;
		off += sizeof(*v);
	}
	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = data + off;

		if ((void *)(ip + 1) <= data_end)
			return ip->protocol;
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = data + off;

		if ((void *)(ip6 + 1) <= data_end)
			return ip6->nexthdr;
	}
	return 0;
}

/* One counter per protocol number, summed over CPUs by the reader. */
#define XDP_PROTO_COUNTER(name)                       \
	struct {                                      \
		__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); \
		__uint(max_entries, 256);             \
		__type(key, __u32);                   \
		__type(value, __u64);                 \
	} name SEC(".maps")

static __always_inline void xdp_count_protocol(void *map, __u32 proto)
{
	__u64 *count = bpf_map_lookup_elem(map, &proto);

	if (count)
		*count += 1;
}

#endif
