// SPDX-License-Identifier: GPL-2.0
/* VLAN access ports for netbpf simulations.
 *
 * This kernel has no 8021q driver and its bridge has no VLAN filtering, so a simulation's VLANs
 * are switched here, at tc ingress, inside the namespace of the host that owns the ports:
 *  - vlan_access_ingress runs on each access port: the untagged frame a client sent gets the
 *    port's 802.1Q tag (bpf_skb_vlan_push) and leaves through the port's trunk (bpf_redirect to
 *    the trunk's egress).
 *  - vlan_trunk_ingress runs on each trunk: a tagged frame loses its tag (bpf_skb_vlan_pop) and
 *    leaves through the access port configured for its VLAN id on that trunk; untagged frames
 *    and unknown VLANs are dropped.
 * There is no MAC learning: a VLAN has at most one access port per trunk.
 *
 * The tag travels as skb metadata (veth offloads VLAN insertion); AF_PACKET captures get it
 * through PACKET_AUXDATA, so `tcpdump -e -i TRUNK` prints "vlan N".
 *
 * NetBPFSim compiles this file from a copy embedded in VLANSwitch.swift (a unit test keeps the
 * two identical) and fills the maps; the structs below are mirrored there byte for byte.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/* Value of vlan_ports: what an access port does with a frame. */
struct vlan_port {
	__u32 trunk_ifindex;
	__u16 vlan;
	__u16 pad;
};

/* Key of vlan_trunks. */
struct vlan_trunk_key {
	__u32 trunk_ifindex;
	__u16 vlan;
	__u16 pad;
};

/* Value of vlan_stats, per VLAN id (index 0: untagged frames that reached a trunk). */
struct vlan_counters {
	__u64 pushed;	/* tagged on an access port and sent to the trunk */
	__u64 popped;	/* untagged on a trunk and sent to an access port */
	__u64 dropped;	/* no port for it, or a helper failed */
};

/* access port ifindex -> its VLAN and trunk */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, struct vlan_port);
} vlan_ports SEC(".maps");

/* (trunk ifindex, VLAN id) -> access port ifindex */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct vlan_trunk_key);
	__type(value, __u32);
} vlan_trunks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct vlan_counters);
} vlan_stats SEC(".maps");

static __always_inline struct vlan_counters *vlan_counters_of(__u32 vlan)
{
	return bpf_map_lookup_elem(&vlan_stats, &vlan);
}

SEC("tc")
int vlan_access_ingress(struct __sk_buff *skb)
{
	__u32 ifindex = skb->ifindex;
	struct vlan_port *port = bpf_map_lookup_elem(&vlan_ports, &ifindex);
	struct vlan_counters *c;

	if (!port)
		return TC_ACT_OK;	/* not an access port (yet): leave the frame alone */
	c = vlan_counters_of(port->vlan);
	/* A frame arriving tagged on an access port is not ours to forward. */
	if (skb->vlan_present ||
	    bpf_skb_vlan_push(skb, bpf_htons(ETH_P_8021Q), port->vlan) < 0) {
		if (c)
			__sync_fetch_and_add(&c->dropped, 1);
		return TC_ACT_SHOT;
	}
	if (c)
		__sync_fetch_and_add(&c->pushed, 1);
	return bpf_redirect(port->trunk_ifindex, 0);
}

SEC("tc")
int vlan_trunk_ingress(struct __sk_buff *skb)
{
	struct vlan_trunk_key key = {};
	struct vlan_counters *c;
	__u32 *out;

	if (!skb->vlan_present) {
		c = vlan_counters_of(0);
		if (c)
			__sync_fetch_and_add(&c->dropped, 1);
		return TC_ACT_SHOT;
	}
	key.trunk_ifindex = skb->ifindex;
	key.vlan = skb->vlan_tci & 0x0fff;
	c = vlan_counters_of(key.vlan);
	out = bpf_map_lookup_elem(&vlan_trunks, &key);
	if (!out || bpf_skb_vlan_pop(skb) < 0) {
		if (c)
			__sync_fetch_and_add(&c->dropped, 1);
		return TC_ACT_SHOT;
	}
	if (c)
		__sync_fetch_and_add(&c->popped, 1);
	return bpf_redirect(*out, 0);
}

char LICENSE[] SEC("license") = "GPL";
