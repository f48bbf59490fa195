// SPDX-License-Identifier: GPL-2.0
/* BCC's examples/networking/xdp/xdp_drop_count.py: drop every frame, counted per IP protocol
 * (IPv4 protocol or IPv6 next header; 0 for anything else), after up to two VLAN tags
 * (802.1Q / 802.1ad). netbpf xdp-drop-count prints the per-second deltas. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u64);
} dropcnt SEC(".maps");

struct vlan_hdr {
	__be16 tci;
	__be16 proto;
};

SEC("xdp")
int xdp_drop_count(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u64 off = sizeof(*eth);
	__u16 proto;
	__u32 index = 0;
	__u64 *count;
	int i;

	if (data + off > data_end)
		goto out;
	proto = eth->h_proto;
	for (i = 0; i < 2; i++) {
		struct vlan_hdr *v = data + off;

		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		if ((void *)(v + 1) > data_end)
			goto out;
		proto = v->proto;
		off += sizeof(*v);
	}
	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = data + off;

		if ((void *)(ip + 1) <= data_end)
			index = ip->protocol;
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = data + off;

		if ((void *)(ip6 + 1) <= data_end)
			index = ip6->nexthdr;
	}
out:
	count = bpf_map_lookup_elem(&dropcnt, &index);
	if (count)
		*count += 1;
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
