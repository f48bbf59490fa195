/* Per-IP and per-prefix rate limiting in BPF (this kernel has no police or gact action):
 * a tc classifier finds the limit of a packet's source (or destination) address by longest
 * prefix match, and runs that limit's token bucket, kept in a map with a spin lock. Over the
 * rate it drops (policing) or, in shaping mode, sets skb->priority to the limit's HTB class.
 * Unknown addresses use limit 0 (the default); with learning on, addresses seen by
 * learn_neighbor (on neighbor ports, as BCC's neighbor_sharing) use limit 1. Every map is
 * changed live by the controller: no re-attach. Packets that pass get TC_ACT_UNSPEC, not
 * TC_ACT_OK: on tcx and on a clsact hook with several filters that hands them on to the next
 * program (an HTTP blocker, a monitor) instead of ending the chain. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "ratelimit.h"

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, RL_MAX_LIMITS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct rl_key4);
	__type(value, struct rl_limit);
} limits4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, RL_MAX_LIMITS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct rl_key6);
	__type(value, struct rl_limit);
} limits6 SEC(".maps");

/* limit id -> bucket; ids 0 and 1 are the default and neighbor limits. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, RL_MAX_LIMITS);
	__type(key, __u32);
	__type(value, struct rl_bucket);
} buckets SEC(".maps");

/* [0] default limit, [1] neighbor limit (rate 0: unlimited). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct rl_limit);
} special SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct rl_config);
} config SEC(".maps");

/* Addresses learned on neighbor ports (IPv4), value: last seen (ns). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u64);
} neighbors SEC(".maps");

/* Runs the token bucket of limit `l`: 1 = within the rate. */
static __always_inline int take(const struct rl_limit *l, __u32 len)
{
	__u32 id = l->id;
	struct rl_bucket *b = bpf_map_lookup_elem(&buckets, &id);
	__u64 now = bpf_ktime_get_ns(), add;
	int ok;

	if (!b)
		return 1;
	bpf_spin_lock(&b->lock);
	if (b->last_ns == 0 || now < b->last_ns) {
		b->tokens = l->burst_bytes;
	} else {
		/* elapsed * rate / 1e9, in two steps so it cannot overflow for sane rates. */
		add = (now - b->last_ns) / 1000 * l->rate_bytes_per_sec / 1000000;
		b->tokens += add;
		if ((__s64)b->tokens > (__s64)l->burst_bytes)
			b->tokens = l->burst_bytes;
	}
	b->last_ns = now;
	/* A GSO packet can be larger than the burst: let it through while the bucket is not
	 * empty and carry the debt (tokens below zero, kept as a signed value), so the average
	 * rate stays exact whatever the packet sizes. */
	ok = (__s64)b->tokens > 0;
	if (ok) {
		b->tokens -= len;
		b->passed_packets++;
		b->passed_bytes += len;
	} else {
		b->dropped_packets++;
		b->dropped_bytes += len;
	}
	bpf_spin_unlock(&b->lock);
	return ok;
}

/* The limit for an IPv4 address: longest prefix, else neighbor (if learned), else default. */
static __always_inline const struct rl_limit *limit_v4(__u32 addr, const struct rl_config *cfg)
{
	struct rl_key4 key = { .prefixlen = 32 };
	__u32 idx;

	__builtin_memcpy(key.addr, &addr, 4);
	const struct rl_limit *l = bpf_map_lookup_elem(&limits4, &key);
	if (l)
		return l;
	idx = RL_DEFAULT_ID;
	if (cfg && cfg->learn_neighbors && bpf_map_lookup_elem(&neighbors, &addr))
		idx = RL_NEIGHBOR_ID;
	return bpf_map_lookup_elem(&special, &idx);
}

static __always_inline const struct rl_limit *limit_v6(const __u8 *addr, const struct rl_config *cfg)
{
	struct rl_key6 key = { .prefixlen = 128 };
	__u32 idx = RL_DEFAULT_ID;

	__builtin_memcpy(key.addr, addr, 16);
	const struct rl_limit *l = bpf_map_lookup_elem(&limits6, &key);
	if (l)
		return l;
	return bpf_map_lookup_elem(&special, &idx);
}

SEC("tc")
int ratelimit(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data, *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	__u32 zero = 0;
	const struct rl_config *cfg = bpf_map_lookup_elem(&config, &zero);
	const struct rl_limit *l = 0;
	int by_dst = cfg && cfg->key_on_destination;

	if ((void *)(eth + 1) > data_end)
		return TC_ACT_UNSPEC;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);

		if ((void *)(ip + 1) > data_end)
			return TC_ACT_UNSPEC;
		l = limit_v4(by_dst ? ip->daddr : ip->saddr, cfg);
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > data_end)
			return TC_ACT_UNSPEC;
		l = limit_v6(by_dst ? ip6->daddr.in6_u.u6_addr8 : ip6->saddr.in6_u.u6_addr8, cfg);
	} else {
		return TC_ACT_UNSPEC; /* ARP and others are never limited */
	}
	if (!l || l->rate_bytes_per_sec == 0)
		return TC_ACT_UNSPEC;
	if (cfg && cfg->shape) {
		skb->priority = l->classid;
		return TC_ACT_UNSPEC;
	}
	return take(l, skb->len) ? TC_ACT_UNSPEC : TC_ACT_SHOT;
}

/* On a neighbor port's ingress: remember the IPv4 source addresses seen there. */
SEC("tc")
int learn_neighbor(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data, *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	__u64 now;

	if ((void *)(ip + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return TC_ACT_UNSPEC;
	now = bpf_ktime_get_ns();
	bpf_map_update_elem(&neighbors, &ip->saddr, &now, BPF_ANY);
	return TC_ACT_UNSPEC;
}

char LICENSE[] SEC("license") = "GPL";
