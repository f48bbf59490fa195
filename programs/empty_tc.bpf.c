/* The baseline for per-packet costs: a tc classifier and a socket filter that do nothing. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

SEC("tc")
int empty_tc(struct __sk_buff *skb)
{
	return TC_ACT_OK;
}

SEC("socket")
int empty_socket(struct __sk_buff *skb)
{
	return skb->len;
}

char LICENSE[] SEC("license") = "GPL";
