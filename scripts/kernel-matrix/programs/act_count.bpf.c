/* Kernel-matrix case: a tc action (act_bpf, SEC("action")) that counts IPv4 ICMP echo
 * requests in counts[0] and every packet in counts[1], and returns TC_ACT_UNSPEC so the
 * action's configured verdict (pipe) applies. UAPI headers only. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

static __always_inline void bump(__u32 k)
{
	__u64 *n = bpf_map_lookup_elem(&counts, &k);

	if (n)
		__sync_fetch_and_add(n, 1);
}

SEC("action")
int act_count(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + sizeof(*eth);
	__u8 *icmp_type;

	bump(1);
	if ((void *)(ip + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP) || ip->protocol != IPPROTO_ICMP)
		return TC_ACT_UNSPEC;
	icmp_type = (void *)ip + ip->ihl * 4;
	if ((void *)(icmp_type + 1) > end)
		return TC_ACT_UNSPEC;
	if (*icmp_type == 8)
		bump(0);
	return TC_ACT_UNSPEC;
}

char LICENSE[] SEC("license") = "GPL";
