/* Empty programs of the HTTP filter's two types, the baseline of netbpf-bench http: what a
 * BPF_PROG_TEST_RUN costs with nothing to do. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

SEC("socket")
int empty_socket(struct __sk_buff *skb)
{
	return skb->len;
}

SEC("tc")
int empty_tc(struct __sk_buff *skb)
{
	return TC_ACT_UNSPEC;
}

char LICENSE[] SEC("license") = "GPL";
