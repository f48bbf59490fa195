/* Counts IPv4 ICMP echo requests and replies seen by a tc hook.
 * counts[0] = echo requests (type 8), counts[1] = echo replies (type 0).
 * Everything else (ARP, IPv6, TCP, UDP, other ICMP types) is not counted.
 * It never decides a packet's fate: it returns TC_ACT_UNSPEC (TCX_NEXT), so
 * the next program on the hook runs, and with none left the packet passes,
 * on tcx and on a direct-action cls_bpf filter alike. Used by the attach tests and the
 * attach benchmark (benchmarks/peers/bcc_pyroute2_tc.py is the same program
 * in BCC's dialect). UAPI headers only, so plain clang and tc build it too. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/* linux/icmp.h pulls in libc's socket headers (via linux/if.h), which a
 * -target bpf build cannot find: the first four bytes are all we read. */
struct icmp_head {
	__u8 type;
	__u8 code;
	__sum16 checksum;
};
#define ICMP_ECHOREPLY 0
#define ICMP_ECHO 8

#define ICMP_COUNT_REQUESTS 0
#define ICMP_COUNT_REPLIES 1

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

SEC("tc")
int count_icmp(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip;
	struct icmp_head *icmp;
	__u32 key;
	__u64 *v;

	if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return TC_ACT_UNSPEC;
	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end || ip->protocol != IPPROTO_ICMP || ip->ihl < 5)
		return TC_ACT_UNSPEC;
	/* Fragments after the first carry no ICMP header. */
	if (ip->frag_off & bpf_htons(0x1fff))
		return TC_ACT_UNSPEC;
	icmp = (void *)ip + ip->ihl * 4;
	if ((void *)(icmp + 1) > data_end)
		return TC_ACT_UNSPEC;
	if (icmp->type == ICMP_ECHO)
		key = ICMP_COUNT_REQUESTS;
	else if (icmp->type == ICMP_ECHOREPLY)
		key = ICMP_COUNT_REPLIES;
	else
		return TC_ACT_UNSPEC;
	v = bpf_map_lookup_elem(&counts, &key);
	if (v)
		__sync_fetch_and_add(v, 1);
	return TC_ACT_UNSPEC;
}

char LICENSE[] SEC("license") = "GPL";
