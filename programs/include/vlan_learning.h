/* Key and value layouts of programs/vlan_learning.bpf.c, shared with the Swift controller
 * (imported through the CNetBPFProgramTypes target: Sources/NetBPFControllers/VLAN*.swift uses
 * these structs as they are; a unit test compares the sizes with the compiled object's maps,
 * and the typed map views refuse any mismatch at run time).
 *
 * "rx" is what a client sent (trunk -> worker), "tx" what was sent to a client (worker ->
 * trunk), as in BCC's vlan_learning. Bytes are those of the untagged Ethernet frame without
 * FCS (the trunk carries 4 more per frame, the 802.1Q tag); a GSO packet counts as the frames
 * it becomes on a wire (gso_segs), its bytes as those frames' bytes. */
#ifndef NETBPF_VLAN_LEARNING_H
#define NETBPF_VLAN_LEARNING_H

#include <linux/types.h>

#define VL_MAX_CLIENTS 4096
/* A worker's broadcast and multicast frames are flooded to at most this many of its clients. */
#define VL_MAX_CLIENTS_PER_WORKER 8
#define VL_MAX_UNKNOWN 1024

/* A MAC address as a map key: the 6 bytes in wire order, then 2 bytes of zero. */
struct vl_mac {
	__u8 addr[6];
	__u16 pad;
};

/* vl_clients: client MAC -> the worker interface its frames go to (set by the controller). */
struct vl_client {
	__u32 worker_ifindex;
	__u32 pad;
};

/* vl_learned: client MAC -> where it was seen (written by BPF on the trunk's ingress). */
struct vl_learned {
	__u32 trunk_ifindex;
	__u16 vlan_tci;		/* host byte order: PCP, DEI and VLAN id as received */
	__u16 vlan_proto;	/* network byte order, as __sk_buff.vlan_proto: 0x8100 or 0x88a8 */
	__u64 first_seen_ns;	/* bpf_ktime_get_ns (CLOCK_MONOTONIC) */
	__u64 last_seen_ns;
	__u32 moves;		/* times the client's VLAN or trunk changed */
	__u32 pad;
};

/* vl_workers: worker ifindex -> the clients mapped to it (set by the controller), so that a
 * worker's broadcast (ARP request) reaches its clients, each tagged with its learned VLAN. */
struct vl_worker {
	__u32 count;
	__u32 pad;
	struct vl_mac clients[VL_MAX_CLIENTS_PER_WORKER];
};

/* vl_stats (per-CPU): client MAC -> its counters. */
struct vl_counters {
	__u64 rx_packets;
	__u64 rx_bytes;
	__u64 tx_packets;
	__u64 tx_bytes;
};

/* What happened to a frame: the index of vl_totals, and the reason of a vl_unknown entry. */
enum vl_outcome {
	VL_TO_WORKER = 0,		/* client frame: tag popped, sent to its worker */
	VL_TO_TRUNK = 1,		/* worker frame to a learned client: tagged, sent to the trunk */
	VL_FLOODED = 2,			/* a copy of a worker's broadcast/multicast sent to the trunk */
	VL_DROP_UNTAGGED = 3,		/* untagged frame on the trunk (source MAC in vl_unknown) */
	VL_DROP_UNKNOWN_SOURCE = 4,	/* tagged frame on the trunk from a MAC not in vl_clients */
	VL_DROP_UNKNOWN_DESTINATION = 5,/* worker frame to a MAC not configured or not yet learned */
	VL_DROP_OTHER_WORKER = 6,	/* worker frame to a client mapped to another worker */
	VL_DROP_NO_CLIENT = 7,		/* worker broadcast while none of its clients is learned */
	VL_DROP_TAGGED_BY_WORKER = 8,	/* a worker sent a tagged frame */
	VL_DROP_ERROR = 9,		/* truncated frame, or a VLAN helper failed */
	VL_OUTCOMES = 10,
};

/* vl_totals (per-CPU array indexed by enum vl_outcome). */
struct vl_total {
	__u64 packets;
	__u64 bytes;
};

/* vl_unknown (LRU): frames not forwarded, per MAC (the source MAC for trunk frames, the
 * destination MAC for worker frames) and reason (a VL_DROP_* outcome). */
struct vl_unknown_key {
	__u8 addr[6];
	__u8 reason;
	__u8 pad;
};

struct vl_unknown {
	__u64 packets;
	__u64 bytes;
	__u64 last_seen_ns;
	__u32 ifindex;		/* the interface the last such frame arrived on */
	__u16 vlan_tci;		/* its tag (trunk frames; 0 when untagged) */
	__u16 pad;
};

#endif /* NETBPF_VLAN_LEARNING_H */
