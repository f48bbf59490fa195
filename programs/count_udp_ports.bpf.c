// SPDX-License-Identifier: GPL-2.0
/* Counts what a tc hook sees, for the live-frames generator's test (LiveFramesTests):
 * totals[0] every packet, totals[1] the IPv4 UDP ones; udp_dst_ports: UDP datagrams per
 * destination port (host byte order). */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <linux/udp.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} totals SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u64);
} udp_dst_ports SEC(".maps");

static __always_inline void add(void *map, __u32 key)
{
	__u64 one = 1, *v = bpf_map_lookup_elem(map, &key);

	if (!v && bpf_map_update_elem(map, &key, &one, BPF_NOEXIST) == 0)
		return;
	if (!v)
		v = bpf_map_lookup_elem(map, &key); /* another CPU created it first */
	if (v)
		__sync_fetch_and_add(v, 1);
}

SEC("tc")
int count_udp_ports(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct udphdr *udp = (void *)(ip + 1);

	add(&totals, 0);
	if ((void *)(udp + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP) ||
	    ip->ihl != 5 || ip->protocol != IPPROTO_UDP)
		return TC_ACT_OK;
	add(&totals, 1);
	add(&udp_dst_ports, bpf_ntohs(udp->dest));
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
