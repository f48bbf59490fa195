#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

static frobnicator_t counter;

SEC("tc")
int prog(struct __sk_buff *skb)
{
	int unused;
	return skb->len;
}
