/* A one-million-entry u32 -> u64 hash map for the batch dump test and the
 * map dump benchmark. The socket program only exists so the object has a
 * program; it keeps every packet. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1000000);
	__type(key, __u32);
	__type(value, __u64);
} big SEC(".maps");

SEC("socket")
int hash_1m_pass(struct __sk_buff *skb)
{
	return skb->len;
}

char LICENSE[] SEC("license") = "GPL";
