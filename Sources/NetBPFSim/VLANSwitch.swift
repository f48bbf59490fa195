import Foundation
import NetBPF
import NetBPFCompiler
import NetBPFNetlink

/// netbpf's VLAN switch for simulations (the kernel has no 8021q): programs/vlan_access.bpf.c,
/// embedded here so the `netbpf` binary needs no source tree (VLANSwitchTests keeps the copy
/// identical to the file). One object is loaded per host that has VLAN access ports; its maps
/// are filled with the ports' ifindexes before the programs are attached:
/// `vlan_access_ingress` on each access port, `vlan_trunk_ingress` on each trunk.
public enum VLANSwitch {
    /// The tc priority of the VLAN programs: after the topology's own programs (1, 2, ...) on
    /// the same hook, which run first and must return TC_ACT_UNSPEC (-1) to let the frame on.
    public static let filterPriority: UInt16 = 0xC000
    public static let accessProgram = "vlan_access_ingress"
    public static let trunkProgram = "vlan_trunk_ingress"
    public static let portsMap = "vlan_ports"
    public static let trunksMap = "vlan_trunks"
    public static let statsMap = "vlan_stats"
    /// The file the embedded copy comes from, relative to the repository root.
    public static let sourcePath = "programs/vlan_access.bpf.c"

    /// Compiles (through the compile cache) and opens the program.
    public static func open() throws -> BPFObjectSpec {
        try BPFCompiler().compile(source: source, path: sourcePath).open()
    }

    /// `struct vlan_port` value: trunk ifindex (u32), VLAN id (u16), pad (u16), host byte order.
    public static func portValue(trunkIndex: Int32, vlan: UInt16) -> [UInt8] {
        bytes(UInt32(bitPattern: trunkIndex)) + bytes(vlan) + [0, 0]
    }

    /// `struct vlan_trunk_key`: trunk ifindex (u32), VLAN id (u16), pad (u16).
    public static func trunkKey(trunkIndex: Int32, vlan: UInt16) -> [UInt8] {
        bytes(UInt32(bitPattern: trunkIndex)) + bytes(vlan) + [0, 0]
    }

    /// `struct vlan_counters` decoded: frames tagged, untagged, dropped for one VLAN id.
    public struct Counters: Sendable, Equatable {
        public var pushed: UInt64
        public var popped: UInt64
        public var dropped: UInt64

        public init(bytes b: [UInt8]) {
            func u64(_ o: Int) -> UInt64 { (0..<8).reduce(UInt64(0)) { $0 | UInt64(b[o + $1]) << (8 * UInt64($1)) } }
            pushed = b.count >= 24 ? u64(0) : 0
            popped = b.count >= 24 ? u64(8) : 0
            dropped = b.count >= 24 ? u64(16) : 0
        }
    }

    /// Reads the counters of `vlan` from a (pinned) vlan_stats map.
    public static func counters(_ stats: BPFMap, vlan: UInt16) throws -> Counters {
        Counters(bytes: try stats.lookup(key: bytes(UInt32(vlan))) ?? [])
    }

    static func bytes<T: FixedWidthInteger>(_ v: T) -> [UInt8] {
        withUnsafeBytes(of: v.littleEndian) { Array($0) }
    }

    /// programs/vlan_access.bpf.c, verbatim.
    public static let source = #"""
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

"""#
}
