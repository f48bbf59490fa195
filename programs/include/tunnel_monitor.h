/* Key and value layouts of programs/tunnel_monitor.bpf.c, shared with the Swift controller
 * (imported through the CNetBPFProgramTypes target: the types of
 * Sources/NetBPFControllers/TunnelMonitorMaps.swift hold these structs; the typed map views
 * refuse a size mismatch at open).
 *
 * Addresses are 16 bytes in network byte order; an IPv4 address is stored IPv4-mapped
 * (::ffff:a.b.c.d), so one key holds IPv4 and IPv6 outer and inner headers. */
#ifndef NETBPF_TUNNEL_MONITOR_H
#define NETBPF_TUNNEL_MONITOR_H

#include <linux/types.h>

/* One conversation: two tunnel endpoints (outer address + inner address behind it) on one VNI.
 * Normalised: endpoint "a" has the numerically lower outer address (or, when the outer
 * addresses are equal, the lower inner address), so both directions share one key. */
struct tm_key {
	__u8 outer_a[16];
	__u8 outer_b[16];
	__u8 inner_a[16];   /* inner source when a sends, inner destination when b sends */
	__u8 inner_b[16];
	__u32 vni;          /* 24-bit VXLAN network identifier, host byte order */
	__u16 inner_proto;  /* inner EtherType, host order: 0x0800 IPv4, 0x86dd IPv6, 0x0806 ARP
			     * (addresses = ARP sender/target protocol addresses), anything else:
			     * inner addresses all zero */
	__u16 pad;
};

/* Counter cells: which hook saw the frame and which way it went between a and b. */
enum tm_cell {
	TM_EGRESS_A_TO_B = 0,  /* "tx": sent out of the monitored interface */
	TM_EGRESS_B_TO_A = 1,
	TM_INGRESS_A_TO_B = 2, /* "rx": received on the monitored interface */
	TM_INGRESS_B_TO_A = 3,
	TM_CELLS = 4,
};

/* Per-CPU value of a conversation. packets counts wire frames (a GSO skb counts gso_segs);
 * bytes counts what those frames hold from the outer Ethernet header to the end of the frame
 * (skb->len at tc, which starts at the MAC header on both hooks, no FCS; for a GSO skb the
 * replicated headers of the other segments are added). */
struct tm_counters {
	__u64 packets[TM_CELLS];
	__u64 bytes[TM_CELLS];
};

/* Flooded frames (outer destination multicast, broadcast, or a group MAC): per VNI and outer
 * destination group, never in the conversations. */
struct tm_flood_key {
	__u8 group[16];
	__u32 vni;
	__u32 pad;
};

struct tm_flood_counters {
	__u64 packets[2]; /* [0] egress (tx), [1] ingress (rx) */
	__u64 bytes[2];
};

/* Per-CPU statistics, one slot each, in stats[0]. The error slots say why a frame that looked
 * like VXLAN was not counted. */
enum tm_stat {
	TM_STAT_SEEN = 0,          /* every frame the programs ran on */
	TM_STAT_NOT_VXLAN,         /* not IPv4/IPv6 + UDP to a VXLAN port: ignored */
	TM_STAT_COUNTED,           /* counted in a conversation */
	TM_STAT_FLOODED,           /* counted in floods instead */
	TM_STAT_OUTER_FRAGMENT,    /* fragment of an outer UDP datagram: not attributable */
	TM_ERR_OUTER_TRUNCATED,    /* outer Ethernet/VLAN/IP/UDP header cut short, bad IHL,
				    * or headers past TM_MAX_HEADER_OFFSET */
	TM_ERR_VXLAN_TRUNCATED,    /* UDP to a VXLAN port, VXLAN header cut short */
	TM_ERR_VXLAN_FLAGS,        /* VXLAN header without the I (valid VNI) flag */
	TM_ERR_INNER_TRUNCATED,    /* inner Ethernet, VLAN, IP or ARP header cut short */
	TM_ERR_TABLE_FULL,         /* the conversations map is full: frame not counted */
	TM_STAT_COUNT,
};

struct tm_stats {
	__u64 v[TM_STAT_COUNT];
};

/* config[0]: UDP destination ports that carry VXLAN, network byte order; all zero means the
 * IANA port 4789. */
#define TM_MAX_PORTS 4
struct tm_config {
	__u16 ports[TM_MAX_PORTS];
};

#define TM_DEFAULT_PORT 4789
#define TM_DEFAULT_MAX_CONVERSATIONS 65536
#define TM_MAX_FLOODS 4096
/* Headers are looked for in the first bytes of the frame only (outer + inner). */
#define TM_MAX_HEADER_OFFSET 1024

#endif /* NETBPF_TUNNEL_MONITOR_H */
