/* Key and value layouts of programs/distributed_bridge.bpf.c, shared with the Swift controller
 * (imported through the CNetBPFProgramTypes target: Sources/NetBPFControllers/BridgeMaps.swift
 * uses these structs as they are; the typed map views refuse a size mismatch when the controller
 * opens the maps).
 *
 * Addresses in these maps are IPv4 in host byte order, as struct bpf_tunnel_key holds them.
 * "rx" is what came in from the tunnel (a remote's frame, delivered to a tenant port), "tx" what
 * a tenant port sent into the tunnel. Counters are updated with atomic adds. */
#ifndef NETBPF_DISTRIBUTED_BRIDGE_H
#define NETBPF_DISTRIBUTED_BRIDGE_H

#include <linux/types.h>

#define DB_MAX_VNIS 256
#define DB_MAX_MACS 8192
/* Flood destinations per VNI: one multicast group, or up to this many mesh remotes. */
#define DB_MAX_FLOOD 16
#define DB_MAX_UNKNOWN_VNIS 256

/* db_config[0]: set by the controller. */
struct db_config {
	__u32 vxlan_ifindex;	/* the VXLAN device in external (collect-metadata) mode */
	__u32 local_ipv4;	/* this host's underlay address: frames from it are loops */
	__u32 ttl;		/* outer TTL of the frames sent */
	__u32 pad;
};

/* db_vni_port: VNI -> the tenant port its frames are delivered to. */
struct db_port {
	__u32 ifindex;
	__u32 pad;
};

/* db_flood: VNI -> where broadcast, multicast and unknown-unicast frames go. */
struct db_flood {
	__u32 count;
	__u32 remotes[DB_MAX_FLOOD];
};

/* db_macs: (MAC, VNI) -> the remote VTEP it was learned behind (written by BPF). */
struct db_mac_key {
	__u8 addr[6];
	__u16 pad;
	__u32 vni;
};

struct db_remote {
	__u32 remote_ipv4;
	__u32 moves;		/* times the MAC showed up behind another remote */
	__u64 rx_packets;	/* frames from this MAC delivered to the tenant port */
	__u64 rx_bytes;
	__u64 tx_packets;	/* frames to this MAC sent to its remote (unicast) */
	__u64 tx_bytes;
	__u64 first_seen_ns;	/* bpf_ktime_get_ns */
	__u64 last_seen_ns;
};

/* db_vni_stats: VNI -> its counters (the controller creates one per configured VNI). */
struct db_vni_stats {
	__u64 rx_packets;	/* delivered from the tunnel to the VNI's port */
	__u64 rx_bytes;
	__u64 tx_packets;	/* unicast frames sent into the tunnel */
	__u64 tx_bytes;
	__u64 flooded_packets;	/* frames flooded (each counted once) */
	__u64 flood_copies;	/* copies sent, one per flood destination */
	__u64 dropped_packets;	/* frames of this VNI dropped (see db_totals for why) */
	__u64 pad;
};

/* What happened to a frame: the index of db_totals. */
enum db_outcome {
	DB_RX_DELIVERED = 0,	/* tunnel frame delivered to the VNI's tenant port */
	DB_TX_UNICAST = 1,	/* tenant frame to a learned MAC: sent to its remote */
	DB_TX_FLOODED = 2,	/* broadcast/multicast/unknown: sent to every flood destination */
	DB_DROP_NO_TUNNEL_KEY = 3,	/* frame on the tunnel side without tunnel metadata */
	DB_DROP_UNKNOWN_VNI = 4,	/* tunnel frame of a VNI not configured here */
	DB_DROP_LOOP = 5,	/* tunnel frame from this host's own underlay address */
	DB_DROP_NO_VNI_PORT = 6,	/* frame on a port that no VNI is mapped to */
	DB_DROP_NO_FLOOD = 7,	/* flood frame of a VNI without flood destinations */
	DB_DROP_ERROR = 8,	/* truncated frame or a helper failure */
	DB_OUTCOMES = 9,
};

struct db_total {
	__u64 packets;
	__u64 bytes;
};

/* db_unknown_vnis: VNI not configured -> frames dropped and the last remote that sent one. */
struct db_unknown_vni {
	__u64 packets;
	__u64 bytes;
	__u32 last_remote_ipv4;
	__u32 pad;
};

#endif /* NETBPF_DISTRIBUTED_BRIDGE_H */
