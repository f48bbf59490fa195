#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("tc")
int prog(struct __sk_buff *skb)
{
    int x = 1
    return x;
}
