/* Key and value layouts of programs/ratelimit.bpf.c, shared with the Swift controller
 * (imported through the CNetBPFProgramTypes target: Sources/NetBPFControllers/RateLimit*.swift
 * uses these structs as they are). */
#ifndef NETBPF_RATELIMIT_H
#define NETBPF_RATELIMIT_H

#include <linux/types.h>
#include <linux/bpf.h> /* struct bpf_spin_lock */

/* LPM trie key: prefix length in bits, then the address (IPv4 in the first 4 bytes for
 * limits4; 16 bytes for limits6). */
struct rl_key4 {
	__u32 prefixlen;
	__u8 addr[4];
};

struct rl_key6 {
	__u32 prefixlen;
	__u8 addr[16];
};

/* One configured limit. rate 0 = unlimited. classid: HTB class for shaping mode. */
struct rl_limit {
	__u64 rate_bytes_per_sec;
	__u64 burst_bytes;
	__u32 classid;
	__u32 id; /* identifies the limit's bucket (one bucket per configured key) */
};

/* Token bucket and counters of one limit, guarded by its spin lock. */
struct rl_bucket {
	struct bpf_spin_lock lock;
	__u32 pad;
	__u64 tokens;   /* bytes available now; negative (as __s64) while paying off a large packet */
	__u64 last_ns;  /* when tokens were last refilled */
	__u64 passed_packets;
	__u64 passed_bytes;
	__u64 dropped_packets;
	__u64 dropped_bytes;
};

/* config[0] */
struct rl_config {
	__u32 key_on_destination; /* 0: police by source address, 1: by destination */
	__u32 shape;              /* 0: drop over the rate, 1: set skb->priority to the classid */
	__u32 learn_neighbors;    /* 1: addresses in `neighbors` get limit id NEIGHBOR_LIMIT_ID */
	__u32 pad;
};

/* Reserved limit ids: 0 = the default for unknown addresses, 1 = learned neighbors. */
#define RL_DEFAULT_ID 0
#define RL_NEIGHBOR_ID 1
#define RL_MAX_LIMITS 4096

#endif /* NETBPF_RATELIMIT_H */
