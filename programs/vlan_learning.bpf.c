// SPDX-License-Identifier: GPL-2.0
/* VLAN learning: BCC's examples/networking/vlan_learning, done right.
 *
 * Clients on different VLANs (they may all have the same IP address) reach the workers over
 * one 802.1Q trunk; each client MAC is mapped to one worker interface by the controller
 * (netbpf vlan-learn). Two tc ingress programs:
 *
 *  - vl_trunk_ingress, on the trunk: a tagged frame from a configured client MAC teaches
 *    vl_learned where that client lives (VLAN tag, trunk), loses its tag (bpf_skb_vlan_pop) and
 *    is redirected to the client's worker interface. Untagged frames and frames from MACs not
 *    in vl_clients are dropped and counted per MAC in vl_unknown.
 *  - vl_worker_ingress, on each worker interface: a unicast frame to a learned client gets that
 *    client's tag back (bpf_skb_vlan_push) and is redirected to the trunk it was learned on,
 *    if the client is mapped to this worker. Broadcast and multicast frames (the worker's ARP
 *    requests) are flooded to the worker's own learned clients only: one copy per distinct
 *    (trunk, tag), each tagged with that client's VLAN (bpf_clone_redirect). Frames to MACs not
 *    configured or not learned yet, or to another worker's client, are dropped and counted.
 *
 * Nothing is forwarded in BCC's way of keying the worker side by ifindex, so a worker cannot
 * reach another worker's clients, and per-client tx is counted where it happens (BCC's tx
 * counters were never read back and always printed 0).
 *
 * Differences from BCC: direct-action tc (no gact drop action on this kernel), bpf_redirect
 * instead of bpf_clone_redirect + drop for unicast, per-CPU counters, a learned entry records
 * when it was first and last seen and how often the client moved.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "vlan_learning.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, VL_MAX_CLIENTS);
	__type(key, struct vl_mac);
	__type(value, struct vl_client);
} vl_clients SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, VL_MAX_CLIENTS);
	__type(key, struct vl_mac);
	__type(value, struct vl_learned);
} vl_learned SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, VL_MAX_CLIENTS);
	__type(key, __u32);
	__type(value, struct vl_worker);
} vl_workers SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, VL_MAX_CLIENTS);
	__type(key, struct vl_mac);
	__type(value, struct vl_counters);
} vl_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, VL_OUTCOMES);
	__type(key, __u32);
	__type(value, struct vl_total);
} vl_totals SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, VL_MAX_UNKNOWN);
	__type(key, struct vl_unknown_key);
	__type(value, struct vl_unknown);
} vl_unknown SEC(".maps");

/* The size of one frame on a wire: packets and bytes. */
struct wire {
	__u64 packets;
	__u64 bytes;
};

/* Length of the Ethernet + IPv4/IPv6 + TCP/UDP headers at the start of the frame (the tag, if
 * any, is skb metadata here), or 0 when they are something else. */
static __always_inline __u32 header_length(struct __sk_buff *skb)
{
	__u16 proto;
	__u8 b, l4;
	__u32 l3;

	if (bpf_skb_load_bytes(skb, 12, &proto, 2) < 0)
		return 0;
	if (proto == bpf_htons(ETH_P_IP)) {
		if (bpf_skb_load_bytes(skb, ETH_HLEN, &b, 1) < 0 ||
		    bpf_skb_load_bytes(skb, ETH_HLEN + 9, &l4, 1) < 0)
			return 0;
		l3 = (b & 0x0f) * 4;
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		if (bpf_skb_load_bytes(skb, ETH_HLEN + 6, &l4, 1) < 0)
			return 0;
		l3 = 40;
	} else {
		return 0;
	}
	if (l4 == IPPROTO_UDP)
		return ETH_HLEN + l3 + 8;
	if (l4 != IPPROTO_TCP || l3 < 20 || l3 > 60)
		return 0;
	if (bpf_skb_load_bytes(skb, ETH_HLEN + l3 + 12, &b, 1) < 0)
		return 0;
	return ETH_HLEN + l3 + (b >> 4) * 4;
}

/* A GSO packet (64 KiB from a local TCP socket over veth) is counted as the frames it becomes:
 * gso_segs of them, each carrying its own copy of the headers. gso_segs is 0 on GSO packets
 * from untrusted sources (tap, virtio) until the stack validates them: then the count comes
 * from gso_size. */
static __always_inline struct wire wire_size(struct __sk_buff *skb)
{
	struct wire w = { .packets = 1, .bytes = skb->len };
	__u32 segs = skb->gso_segs, size = skb->gso_size, hdr;

	if (segs > 1 || (segs == 0 && size > 0)) {
		hdr = header_length(skb);
		if (segs == 0) {
			if (!hdr || skb->len <= hdr)
				return w;
			segs = (skb->len - hdr + size - 1) / size;
		}
		w.packets = segs;
		w.bytes += (__u64)(segs - 1) * hdr;
	}
	return w;
}

static __always_inline void count_total(__u32 outcome, struct wire w)
{
	struct vl_total *t = bpf_map_lookup_elem(&vl_totals, &outcome);

	if (t) {
		t->packets += w.packets;
		t->bytes += w.bytes;
	}
}

static __always_inline void count_client(struct vl_mac *mac, int tx, struct wire w)
{
	struct vl_counters *c = bpf_map_lookup_elem(&vl_stats, mac);

	if (!c) {
		/* The controller creates entries for the clients it configures; this is the
		 * fallback for a client added while the programs run. */
		struct vl_counters zero = {};

		bpf_map_update_elem(&vl_stats, mac, &zero, BPF_NOEXIST);
		c = bpf_map_lookup_elem(&vl_stats, mac);
		if (!c)
			return;
	}
	if (tx) {
		c->tx_packets += w.packets;
		c->tx_bytes += w.bytes;
	} else {
		c->rx_packets += w.packets;
		c->rx_bytes += w.bytes;
	}
}

/* Drops a frame, counting it in vl_totals and under its MAC in vl_unknown. */
static __always_inline int drop(const __u8 *addr, __u8 reason, __u32 ifindex, __u16 tci, struct wire w)
{
	struct vl_unknown_key key = { .reason = reason };
	struct vl_unknown *u;

	__builtin_memcpy(key.addr, addr, ETH_ALEN);
	count_total(reason, w);
	u = bpf_map_lookup_elem(&vl_unknown, &key);
	if (!u) {
		struct vl_unknown zero = {};

		bpf_map_update_elem(&vl_unknown, &key, &zero, BPF_NOEXIST);
		u = bpf_map_lookup_elem(&vl_unknown, &key);
		if (!u)
			return TC_ACT_SHOT;
	}
	__sync_fetch_and_add(&u->packets, w.packets);
	__sync_fetch_and_add(&u->bytes, w.bytes);
	u->last_seen_ns = bpf_ktime_get_ns();
	u->ifindex = ifindex;
	u->vlan_tci = tci;
	return TC_ACT_SHOT;
}

/* Records (or refreshes) where a client was seen: its tag and trunk. */
static __always_inline void learn(struct vl_mac *mac, struct __sk_buff *skb)
{
	struct vl_learned *l = bpf_map_lookup_elem(&vl_learned, mac);
	__u64 now = bpf_ktime_get_ns();
	__u16 tci = skb->vlan_tci, proto = skb->vlan_proto;

	if (!l) {
		struct vl_learned fresh = {
			.trunk_ifindex = skb->ifindex,
			.vlan_tci = tci,
			.vlan_proto = proto,
			.first_seen_ns = now,
			.last_seen_ns = now,
		};

		bpf_map_update_elem(&vl_learned, mac, &fresh, BPF_NOEXIST);
		return;
	}
	if (l->trunk_ifindex != skb->ifindex || l->vlan_tci != tci || l->vlan_proto != proto) {
		/* The client moved: replace the entry whole, so the worker side never reads a
		 * tag of one VLAN with the trunk of another. */
		struct vl_learned moved = {
			.trunk_ifindex = skb->ifindex,
			.vlan_tci = tci,
			.vlan_proto = proto,
			.first_seen_ns = l->first_seen_ns,
			.last_seen_ns = now,
			.moves = l->moves + 1,
		};

		bpf_map_update_elem(&vl_learned, mac, &moved, BPF_EXIST);
		return;
	}
	l->last_seen_ns = now;
}

SEC("tc")
int vl_trunk_ingress(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct vl_mac src = {};
	struct vl_client *client;
	struct wire w = wire_size(skb);
	__u32 worker;

	if ((void *)(eth + 1) > data_end) {
		count_total(VL_DROP_ERROR, w);
		return TC_ACT_SHOT;
	}
	__builtin_memcpy(src.addr, eth->h_source, ETH_ALEN);
	if (!skb->vlan_present)
		return drop(src.addr, VL_DROP_UNTAGGED, skb->ifindex, 0, w);
	client = bpf_map_lookup_elem(&vl_clients, &src);
	if (!client)
		return drop(src.addr, VL_DROP_UNKNOWN_SOURCE, skb->ifindex, skb->vlan_tci, w);
	worker = client->worker_ifindex;
	learn(&src, skb);
	if (bpf_skb_vlan_pop(skb) < 0) {
		count_total(VL_DROP_ERROR, w);
		return TC_ACT_SHOT;
	}
	count_client(&src, 0, w);
	count_total(VL_TO_WORKER, w);
	return bpf_redirect(worker, 0);
}

/* A worker's broadcast or multicast frame: one copy per distinct (trunk, tag) of its learned
 * clients; each client it reaches counts it as tx. The original is dropped. */
static __always_inline int flood(struct __sk_buff *skb, const __u8 *dst, struct wire w)
{
	__u32 ifindex = skb->ifindex;
	struct vl_worker *worker = bpf_map_lookup_elem(&vl_workers, &ifindex);
	__u32 sent_trunk[VL_MAX_CLIENTS_PER_WORKER] = {};
	__u32 sent_tag[VL_MAX_CLIENTS_PER_WORKER] = {};	/* proto << 16 | tci */
	__u32 sent = 0, reached = 0;
	int i, j;

	if (!worker)
		return drop(dst, VL_DROP_NO_CLIENT, ifindex, 0, w);
	for (i = 0; i < VL_MAX_CLIENTS_PER_WORKER; i++) {
		struct vl_mac mac;
		struct vl_learned *l;
		__u32 trunk, tag;
		int copied = 0;

		if (i >= worker->count)
			break;
		mac = worker->clients[i];
		l = bpf_map_lookup_elem(&vl_learned, &mac);
		if (!l)
			continue;
		trunk = l->trunk_ifindex;
		tag = (__u32)l->vlan_proto << 16 | l->vlan_tci;
		for (j = 0; j < VL_MAX_CLIENTS_PER_WORKER; j++) {
			if (j >= sent)
				break;
			if (sent_trunk[j] == trunk && sent_tag[j] == tag)
				copied = 1;
		}
		if (!copied) {
			/* The previous copy's tag is still on the skb: replace it. */
			if (skb->vlan_present && bpf_skb_vlan_pop(skb) < 0)
				break;
			if (bpf_skb_vlan_push(skb, tag >> 16, tag & 0xffff) < 0 ||
			    bpf_clone_redirect(skb, trunk, 0) < 0) {
				count_total(VL_DROP_ERROR, w);
				continue;
			}
			if (sent < VL_MAX_CLIENTS_PER_WORKER) {
				sent_trunk[sent & (VL_MAX_CLIENTS_PER_WORKER - 1)] = trunk;
				sent_tag[sent & (VL_MAX_CLIENTS_PER_WORKER - 1)] = tag;
				sent++;
			}
			count_total(VL_FLOODED, w);
		}
		count_client(&mac, 1, w);
		reached++;
	}
	if (!reached)
		return drop(dst, VL_DROP_NO_CLIENT, ifindex, 0, w);
	return TC_ACT_SHOT;
}

SEC("tc")
int vl_worker_ingress(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct vl_mac dst = {};
	struct vl_client *client;
	struct vl_learned *l;
	struct wire w = wire_size(skb);
	__u32 trunk;
	__u16 tci, proto;

	if ((void *)(eth + 1) > data_end) {
		count_total(VL_DROP_ERROR, w);
		return TC_ACT_SHOT;
	}
	__builtin_memcpy(dst.addr, eth->h_dest, ETH_ALEN);
	if (skb->vlan_present)
		return drop(eth->h_source, VL_DROP_TAGGED_BY_WORKER, skb->ifindex, skb->vlan_tci, w);
	if (dst.addr[0] & 1)
		return flood(skb, dst.addr, w);
	client = bpf_map_lookup_elem(&vl_clients, &dst);
	l = client ? bpf_map_lookup_elem(&vl_learned, &dst) : 0;
	if (!client || !l)
		return drop(dst.addr, VL_DROP_UNKNOWN_DESTINATION, skb->ifindex, 0, w);
	if (client->worker_ifindex != skb->ifindex)
		return drop(dst.addr, VL_DROP_OTHER_WORKER, skb->ifindex, l->vlan_tci, w);
	trunk = l->trunk_ifindex;
	tci = l->vlan_tci;
	proto = l->vlan_proto;
	if (bpf_skb_vlan_push(skb, proto, tci) < 0) {
		count_total(VL_DROP_ERROR, w);
		return TC_ACT_SHOT;
	}
	count_client(&dst, 1, w);
	count_total(VL_TO_TRUNK, w);
	return bpf_redirect(trunk, 0);
}

char LICENSE[] SEC("license") = "GPL";
