// SPDX-License-Identifier: GPL-2.0
/* Distributed bridge: BCC's examples/networking/distributed_bridge (tunnel.c and tunnel_mesh.c
 * in one program), over a VXLAN device in external (collect-metadata) mode.
 *
 *  - db_tunnel_ingress, on the VXLAN device's tc ingress: reads the tunnel key
 *    (bpf_skb_get_tunnel_key: VNI and the remote VTEP's underlay address), learns
 *    (source MAC, VNI) -> remote in db_macs and redirects the frame to the VNI's tenant port
 *    (db_vni_port). Frames without tunnel metadata, of VNIs not configured here, or sent by
 *    this host itself are dropped and counted.
 *  - db_port_ingress, on each tenant port's tc ingress (what the tenant sends): the port's VNI
 *    (db_port_vni); a unicast destination learned in db_macs gets the tunnel key
 *    {VNI, remote} and is redirected to the VXLAN device; broadcast, multicast and unknown
 *    unicast go to every flood destination of the VNI (db_flood: the multicast group, or each
 *    mesh remote), one bpf_clone_redirect per destination.
 *
 * Differences from BCC: direct-action tc (this kernel has no gact), one VXLAN device for every
 * VNI in both modes (BCC's mesh mode needed a dummy device per VNI and remote), bpf_redirect
 * instead of clone + drop for unicast, learned entries keyed by VNI instead of ifindex, and
 * every drop counted by reason and by VNI.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include "distributed_bridge.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct db_config);
} db_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, DB_MAX_VNIS);
	__type(key, __u32);
	__type(value, struct db_port);
} db_vni_port SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, DB_MAX_VNIS);
	__type(key, __u32);
	__type(value, __u32);
} db_port_vni SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, DB_MAX_VNIS);
	__type(key, __u32);
	__type(value, struct db_flood);
} db_flood SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, DB_MAX_MACS);
	__type(key, struct db_mac_key);
	__type(value, struct db_remote);
} db_macs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, DB_MAX_VNIS);
	__type(key, __u32);
	__type(value, struct db_vni_stats);
} db_vni_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, DB_OUTCOMES);
	__type(key, __u32);
	__type(value, struct db_total);
} db_totals SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, DB_MAX_UNKNOWN_VNIS);
	__type(key, __u32);
	__type(value, struct db_unknown_vni);
} db_unknown_vnis SEC(".maps");

static __always_inline void count_total(__u32 outcome, __u32 len)
{
	struct db_total *t = bpf_map_lookup_elem(&db_totals, &outcome);

	if (t) {
		__sync_fetch_and_add(&t->packets, 1);
		__sync_fetch_and_add(&t->bytes, len);
	}
}

static __always_inline int drop(__u32 outcome, __u32 vni, int known_vni, __u32 len)
{
	count_total(outcome, len);
	if (known_vni) {
		struct db_vni_stats *s = bpf_map_lookup_elem(&db_vni_stats, &vni);

		if (s)
			__sync_fetch_and_add(&s->dropped_packets, 1);
	}
	return TC_ACT_SHOT;
}

static __always_inline void learn(struct db_mac_key *key, __u32 remote, __u32 len)
{
	struct db_remote *r = bpf_map_lookup_elem(&db_macs, key);
	__u64 now = bpf_ktime_get_ns();

	if (!r) {
		struct db_remote fresh = {
			.remote_ipv4 = remote,
			.rx_packets = 1,
			.rx_bytes = len,
			.first_seen_ns = now,
			.last_seen_ns = now,
		};

		if (bpf_map_update_elem(&db_macs, key, &fresh, BPF_NOEXIST) == 0)
			return;
		r = bpf_map_lookup_elem(&db_macs, key);
		if (!r)
			return;
	}
	if (r->remote_ipv4 != remote) {
		/* The MAC moved to another host: a plain store, the tx side reads one word. */
		r->remote_ipv4 = remote;
		__sync_fetch_and_add(&r->moves, 1);
	}
	__sync_fetch_and_add(&r->rx_packets, 1);
	__sync_fetch_and_add(&r->rx_bytes, len);
	r->last_seen_ns = now;
}

SEC("tc")
int db_tunnel_ingress(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct bpf_tunnel_key tkey = {};
	struct db_mac_key key = {};
	struct db_config *cfg;
	struct db_port *port;
	struct db_vni_stats *s;
	__u32 zero = 0, vni, len = skb->len;

	if (bpf_skb_get_tunnel_key(skb, &tkey, sizeof(tkey), 0) < 0)
		return drop(DB_DROP_NO_TUNNEL_KEY, 0, 0, len);
	vni = tkey.tunnel_id;
	port = bpf_map_lookup_elem(&db_vni_port, &vni);
	if (!port) {
		struct db_unknown_vni *u = bpf_map_lookup_elem(&db_unknown_vnis, &vni);

		if (!u) {
			struct db_unknown_vni fresh = { .packets = 1, .bytes = len, .last_remote_ipv4 = tkey.remote_ipv4 };

			if (bpf_map_update_elem(&db_unknown_vnis, &vni, &fresh, BPF_NOEXIST) == 0)
				return drop(DB_DROP_UNKNOWN_VNI, vni, 0, len);
			u = bpf_map_lookup_elem(&db_unknown_vnis, &vni);
		}
		if (u) {
			__sync_fetch_and_add(&u->packets, 1);
			__sync_fetch_and_add(&u->bytes, len);
			u->last_remote_ipv4 = tkey.remote_ipv4;
		}
		return drop(DB_DROP_UNKNOWN_VNI, vni, 0, len);
	}
	if ((void *)(eth + 1) > data_end)
		return drop(DB_DROP_ERROR, vni, 1, len);
	cfg = bpf_map_lookup_elem(&db_config, &zero);
	if (cfg && cfg->local_ipv4 && cfg->local_ipv4 == tkey.remote_ipv4)
		return drop(DB_DROP_LOOP, vni, 1, len);
	__builtin_memcpy(key.addr, eth->h_source, ETH_ALEN);
	key.vni = vni;
	if (!(key.addr[0] & 1))
		learn(&key, tkey.remote_ipv4, len);
	s = bpf_map_lookup_elem(&db_vni_stats, &vni);
	if (s) {
		__sync_fetch_and_add(&s->rx_packets, 1);
		__sync_fetch_and_add(&s->rx_bytes, len);
	}
	count_total(DB_RX_DELIVERED, len);
	return bpf_redirect(port->ifindex, 0);
}

static __always_inline int set_key(struct __sk_buff *skb, __u32 vni, __u32 remote, __u32 ttl)
{
	struct bpf_tunnel_key tkey = {};

	tkey.tunnel_id = vni;
	tkey.remote_ipv4 = remote;
	tkey.tunnel_ttl = ttl;
	return bpf_skb_set_tunnel_key(skb, &tkey, sizeof(tkey), 0);
}

SEC("tc")
int db_port_ingress(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct db_mac_key key = {};
	struct db_config *cfg;
	struct db_flood *flood;
	struct db_remote *r;
	struct db_vni_stats *s;
	__u32 zero = 0, ifindex = skb->ifindex, len = skb->len, vni, vxlan, ttl, sent = 0;
	__u32 *pvni;
	int i;

	pvni = bpf_map_lookup_elem(&db_port_vni, &ifindex);
	if (!pvni)
		return drop(DB_DROP_NO_VNI_PORT, 0, 0, len);
	vni = *pvni;
	cfg = bpf_map_lookup_elem(&db_config, &zero);
	if (!cfg || !cfg->vxlan_ifindex || (void *)(eth + 1) > data_end)
		return drop(DB_DROP_ERROR, vni, 1, len);
	vxlan = cfg->vxlan_ifindex;
	ttl = cfg->ttl ? cfg->ttl : 64;
	s = bpf_map_lookup_elem(&db_vni_stats, &vni);
	__builtin_memcpy(key.addr, eth->h_dest, ETH_ALEN);
	key.vni = vni;
	if (!(key.addr[0] & 1)) {
		r = bpf_map_lookup_elem(&db_macs, &key);
		if (r) {
			if (set_key(skb, vni, r->remote_ipv4, ttl) < 0)
				return drop(DB_DROP_ERROR, vni, 1, len);
			__sync_fetch_and_add(&r->tx_packets, 1);
			__sync_fetch_and_add(&r->tx_bytes, len);
			if (s) {
				__sync_fetch_and_add(&s->tx_packets, 1);
				__sync_fetch_and_add(&s->tx_bytes, len);
			}
			count_total(DB_TX_UNICAST, len);
			return bpf_redirect(vxlan, 0);
		}
	}
	/* Broadcast, multicast or a MAC not learned yet: every flood destination. */
	flood = bpf_map_lookup_elem(&db_flood, &vni);
	if (!flood || flood->count == 0)
		return drop(DB_DROP_NO_FLOOD, vni, 1, len);
	for (i = 0; i < DB_MAX_FLOOD; i++) {
		if (i >= flood->count)
			break;
		if (set_key(skb, vni, flood->remotes[i], ttl) < 0 || bpf_clone_redirect(skb, vxlan, 0) < 0) {
			count_total(DB_DROP_ERROR, len);
			continue;
		}
		sent++;
	}
	if (!sent)
		return drop(DB_DROP_ERROR, vni, 1, len);
	if (s) {
		__sync_fetch_and_add(&s->flooded_packets, 1);
		__sync_fetch_and_add(&s->flood_copies, sent);
	}
	count_total(DB_TX_FLOODED, len);
	return TC_ACT_SHOT;
}

char LICENSE[] SEC("license") = "GPL";
