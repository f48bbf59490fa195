/* Packet counters and droppers for the attach tests (tc, XDP, socket filter).
 * counters[0] = packets, counters[1] = bytes; count_tc and xdp_count share it.
 * sock_icmp_only keeps only IPv4 ICMP on a socket (AF_PACKET, raw or dgram). */
#include <stddef.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "netbpf_test.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

static __always_inline void count(__u64 bytes)
{
	__u32 key = NETBPF_CNT_PACKETS;
	__u64 *v = bpf_map_lookup_elem(&counters, &key);

	if (v)
		__sync_fetch_and_add(v, 1);
	key = NETBPF_CNT_BYTES;
	v = bpf_map_lookup_elem(&counters, &key);
	if (v)
		__sync_fetch_and_add(v, bytes);
}

SEC("tc")
int count_tc(struct __sk_buff *skb)
{
	count(skb->len);
	return TC_ACT_OK;
}

SEC("tc")
int drop_all(struct __sk_buff *skb)
{
	return TC_ACT_SHOT;
}

SEC("xdp")
int xdp_count(struct xdp_md *ctx)
{
	count(ctx->data_end - ctx->data);
	return XDP_PASS;
}

SEC("xdp")
int xdp_drop(struct xdp_md *ctx)
{
	return XDP_DROP;
}

/* Where skb->data points depends on the caller: an AF_PACKET SOCK_RAW socket
 * runs the filter with the Ethernet header in front, SOCK_DGRAM and
 * BPF_PROG_TEST_RUN start at the IP header. Reading relative to the network
 * header (BPF_HDR_START_NET) gives the right byte in every case. */
SEC("socket")
int sock_icmp_only(struct __sk_buff *skb)
{
	__u8 proto;

	if (skb->protocol != bpf_htons(ETH_P_IP))
		return 0;
	if (bpf_skb_load_bytes_relative(skb, offsetof(struct iphdr, protocol),
					&proto, sizeof(proto), BPF_HDR_START_NET) < 0)
		return 0;
	return proto == IPPROTO_ICMP ? skb->len : 0;
}

char LICENSE[] SEC("license") = "GPL";
