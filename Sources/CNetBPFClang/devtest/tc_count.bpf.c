// tc classifier counting IPv4 frames: UAPI headers + libbpf's bpf_helpers.h only.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u64);
} ipv4_packets SEC(".maps");

SEC("tc")
int count_ipv4(struct __sk_buff *skb)
{
    void *data = (void *)(long)skb->data;
    void *data_end = (void *)(long)skb->data_end;
    struct ethhdr *eth = data;

    if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
        return TC_ACT_OK;
    __u32 key = 0;
    __u64 *count = bpf_map_lookup_elem(&ipv4_packets, &key);
    if (count)
        __sync_fetch_and_add(count, 1);
    return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
