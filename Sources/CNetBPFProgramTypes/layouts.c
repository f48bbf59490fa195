/* The sizes the headers promise (their comments, the maps' BTF, the ring buffer records), checked
 * when the package builds; the BPF side gets the same layout from the same definitions
 * (-target bpf is LP64 with 8-byte aligned __u64, as x86-64 and arm64 are). */
#include "CNetBPFProgramTypes.h"

#define NETBPF_SIZE(type, n) _Static_assert(sizeof(type) == (n), "sizeof(" #type ") != " #n)

NETBPF_SIZE(struct db_config, 16);
NETBPF_SIZE(struct db_port, 8);
NETBPF_SIZE(struct db_flood, 4 + 4 * DB_MAX_FLOOD);
NETBPF_SIZE(struct db_mac_key, 12);
NETBPF_SIZE(struct db_remote, 56);
NETBPF_SIZE(struct db_vni_stats, 64);
NETBPF_SIZE(struct db_total, 16);
NETBPF_SIZE(struct db_unknown_vni, 24);

NETBPF_SIZE(struct http_flow, 40);
NETBPF_SIZE(struct http_session, 16);
NETBPF_SIZE(struct http_block_key, 72);
NETBPF_SIZE(struct http_block_value, 16);

NETBPF_SIZE(struct lpm_v4_key, 8);
NETBPF_SIZE(struct event_rec, 8);

NETBPF_SIZE(struct rl_key4, 8);
NETBPF_SIZE(struct rl_key6, 20);
NETBPF_SIZE(struct rl_limit, 24);
NETBPF_SIZE(struct rl_bucket, 56);
NETBPF_SIZE(struct rl_config, 16);

NETBPF_SIZE(struct icmp6_echo_event, 56);

NETBPF_SIZE(struct tm_key, 72);
NETBPF_SIZE(struct tm_counters, 64);
NETBPF_SIZE(struct tm_flood_key, 24);
NETBPF_SIZE(struct tm_flood_counters, 32);
NETBPF_SIZE(struct tm_stats, 8 * TM_STAT_COUNT);
NETBPF_SIZE(struct tm_config, 2 * TM_MAX_PORTS);

NETBPF_SIZE(struct vl_mac, 8);
NETBPF_SIZE(struct vl_client, 8);
NETBPF_SIZE(struct vl_learned, 32);
NETBPF_SIZE(struct vl_worker, 8 + 8 * VL_MAX_CLIENTS_PER_WORKER);
NETBPF_SIZE(struct vl_counters, 32);
NETBPF_SIZE(struct vl_total, 16);
NETBPF_SIZE(struct vl_unknown_key, 8);
NETBPF_SIZE(struct vl_unknown, 32);
