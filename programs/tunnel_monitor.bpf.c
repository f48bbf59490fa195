/* VXLAN tunnel monitor: tc classifiers for the ingress and egress of an underlay interface.
 * Each frame is parsed as outer Ethernet (up to two VLAN tags), IPv4 or IPv6 (IPv6 extension
 * headers skipped), UDP to a VXLAN port (config map; 4789 by default), the VXLAN header (I flag
 * checked), inner Ethernet (up to two VLAN tags) and the inner IPv4/IPv6 (or ARP) header.
 * Unicast frames are counted per conversation (programs/include/tunnel_monitor.h): packets and
 * bytes per hook and direction in a per-CPU hash; frames to a multicast or broadcast outer
 * destination are counted per VNI and group in `floods` and never as a conversation;
 * malformed frames are counted by reason in `stats`. Every frame passes untouched with
 * TC_ACT_UNSPEC, not TC_ACT_OK: on tcx (and on a clsact hook with several filters) TC_ACT_OK
 * would end the chain, and a monitor must not keep the programs after it (a rate limiter, an
 * HTTP blocker) from running; as the last program, UNSPEC passes the frame like OK.
 *
 * Headers are read in place when they are in the linear part of the skb and copied with
 * bpf_skb_load_bytes when they are not (a non-linear skb), so no frame is misread. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <linux/tcp.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "tunnel_monitor.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, TM_DEFAULT_MAX_CONVERSATIONS); /* the controller may change it before load */
	__type(key, struct tm_key);
	__type(value, struct tm_counters);
} conversations SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, TM_MAX_FLOODS);
	__type(key, struct tm_flood_key);
	__type(value, struct tm_flood_counters);
} floods SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tm_stats);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tm_config);
} config SEC(".maps");

#define ETH_P_8021Q_ 0x8100
#define ETH_P_8021AD_ 0x88A8

struct pkt {
	struct __sk_buff *skb;
	void *data;
	void *end;
	__u32 len;
};

/* `size` bytes at `off`: a pointer into the packet when they are in the linear data, else a
 * copy in `buf`; NULL when the frame is shorter. `size` is a constant at every call. */
static __always_inline void *hdr(struct pkt *p, __u32 off, __u32 size, void *buf)
{
	void *at;

	if (off > TM_MAX_HEADER_OFFSET)
		return 0;
	at = p->data + off;
	if (at + size <= p->end)
		return at;
	if (off + size > p->len)
		return 0;
	if (bpf_skb_load_bytes(p->skb, off, buf, size) < 0)
		return 0;
	return buf;
}

static __always_inline void map_v4(__u8 *dst, const void *addr)
{
	__builtin_memset(dst, 0, 10);
	dst[10] = 0xff;
	dst[11] = 0xff;
	__builtin_memcpy(dst + 12, addr, 4);
}

/* -1, 0, 1 as a compares to b, numerically (network order). */
static __always_inline int cmp16(const __u8 *a, const __u8 *b)
{
	const __u32 *x = (const __u32 *)a, *y = (const __u32 *)b;
	int i;

#pragma unroll
	for (i = 0; i < 4; i++) {
		__u32 u = bpf_ntohl(x[i]), v = bpf_ntohl(y[i]);

		if (u < v)
			return -1;
		if (u > v)
			return 1;
	}
	return 0;
}

static __always_inline void swap16(__u8 *a, __u8 *b)
{
	__u32 *x = (__u32 *)a, *y = (__u32 *)b, t;
	int i;

#pragma unroll
	for (i = 0; i < 4; i++) {
		t = x[i];
		x[i] = y[i];
		y[i] = t;
	}
}

static __always_inline int is_vxlan_port(__u16 dport)
{
	__u32 zero = 0;
	struct tm_config *cfg = bpf_map_lookup_elem(&config, &zero);

	if (!cfg || (cfg->ports[0] | cfg->ports[1] | cfg->ports[2] | cfg->ports[3]) == 0)
		return dport == bpf_htons(TM_DEFAULT_PORT);
	return dport && (dport == cfg->ports[0] || dport == cfg->ports[1] ||
			 dport == cfg->ports[2] || dport == cfg->ports[3]);
}

/* Skips up to two VLAN tags at *off; returns the EtherType after them, 0 if cut short. */
static __always_inline __u16 skip_vlans(struct pkt *p, __u32 *off, __u16 proto, __u8 *buf)
{
	int i;

#pragma unroll
	for (i = 0; i < 2; i++) {
		if (proto != bpf_htons(ETH_P_8021Q_) && proto != bpf_htons(ETH_P_8021AD_))
			break;
		__u16 *tag = hdr(p, *off, 4, buf);
		if (!tag)
			return 0;
		proto = tag[1];
		*off += 4;
	}
	return proto;
}

static __always_inline void bump(struct tm_stats *st, int slot)
{
	if (st)
		st->v[slot]++;
}

static __always_inline int monitor(struct __sk_buff *skb, int ingress)
{
	struct pkt p = {
		.skb = skb,
		.data = (void *)(long)skb->data,
		.end = (void *)(long)skb->data_end,
		.len = skb->len,
	};
	__u8 buf[40];
	__u32 zero = 0, off = 0, hdr_len, segs, l4_len = 0;
	__u16 proto;
	__u8 l4 = 0, outer_l4, group = 0;
	struct tm_key key = {};
	struct tm_stats *st = bpf_map_lookup_elem(&stats, &zero);
	__u8 *b;

	bump(st, TM_STAT_SEEN);

	/* Outer Ethernet. */
	b = hdr(&p, 0, ETH_HLEN, buf);
	if (!b) {
		bump(st, TM_ERR_OUTER_TRUNCATED);
		return TC_ACT_UNSPEC;
	}
	group = b[0] & 1; /* group (multicast/broadcast) destination MAC */
	proto = ((struct ethhdr *)b)->h_proto;
	off = ETH_HLEN;
	proto = skip_vlans(&p, &off, proto, buf);
	if (!proto) {
		bump(st, TM_ERR_OUTER_TRUNCATED);
		return TC_ACT_UNSPEC;
	}

	/* Outer IP. */
	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = hdr(&p, off, sizeof(*ip), buf);
		__u32 ihl;

		if (!ip) {
			bump(st, TM_ERR_OUTER_TRUNCATED);
			return TC_ACT_UNSPEC;
		}
		if (ip->protocol != IPPROTO_UDP) {
			bump(st, TM_STAT_NOT_VXLAN);
			return TC_ACT_UNSPEC;
		}
		ihl = ip->ihl * 4;
		if (ihl < sizeof(*ip)) {
			bump(st, TM_ERR_OUTER_TRUNCATED);
			return TC_ACT_UNSPEC;
		}
		if (ip->frag_off & bpf_htons(0x3fff)) { /* MF or an offset */
			bump(st, TM_STAT_OUTER_FRAGMENT);
			return TC_ACT_UNSPEC;
		}
		map_v4(key.outer_a, &ip->saddr);
		map_v4(key.outer_b, &ip->daddr);
		if ((((__u8 *)&ip->daddr)[0] & 0xf0) == 0xe0 || ip->daddr == 0xffffffff)
			group = 1;
		off += ihl;
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = hdr(&p, off, sizeof(*ip6), buf);
		__u8 next;
		int i;

		if (!ip6) {
			bump(st, TM_ERR_OUTER_TRUNCATED);
			return TC_ACT_UNSPEC;
		}
		next = ip6->nexthdr;
		__builtin_memcpy(key.outer_a, &ip6->saddr, 16);
		__builtin_memcpy(key.outer_b, &ip6->daddr, 16);
		if (key.outer_b[0] == 0xff)
			group = 1;
		off += sizeof(*ip6);
		/* Extension headers: hop-by-hop, routing, destination options, fragment, AH. */
#pragma unroll
		for (i = 0; i < 4; i++) {
			__u8 *ext;

			if (next != 0 && next != 43 && next != 60 && next != 44 && next != 51)
				break;
			ext = hdr(&p, off, 8, buf);
			if (!ext) {
				bump(st, TM_ERR_OUTER_TRUNCATED);
				return TC_ACT_UNSPEC;
			}
			if (next == 44) {
				if ((ext[2] << 8 | ext[3]) & 0xfff9) { /* offset or M flag */
					if (ext[0] == IPPROTO_UDP)
						bump(st, TM_STAT_OUTER_FRAGMENT);
					else
						bump(st, TM_STAT_NOT_VXLAN);
					return TC_ACT_UNSPEC;
				}
				next = ext[0];
				off += 8;
			} else if (next == 51) {
				next = ext[0];
				off += ((__u32)ext[1] + 2) * 4;
			} else {
				next = ext[0];
				off += ((__u32)ext[1] + 1) * 8;
			}
		}
		if (next != IPPROTO_UDP) {
			bump(st, TM_STAT_NOT_VXLAN);
			return TC_ACT_UNSPEC;
		}
	} else {
		bump(st, TM_STAT_NOT_VXLAN);
		return TC_ACT_UNSPEC;
	}

	/* UDP to a VXLAN port. */
	{
		struct udphdr *udp = hdr(&p, off, sizeof(*udp), buf);

		if (!udp) {
			bump(st, TM_ERR_OUTER_TRUNCATED);
			return TC_ACT_UNSPEC;
		}
		if (!is_vxlan_port(udp->dest)) {
			bump(st, TM_STAT_NOT_VXLAN);
			return TC_ACT_UNSPEC;
		}
		off += sizeof(*udp);
	}

	/* VXLAN: flags (I = 0x08), 3 reserved, VNI (24 bits), 1 reserved. */
	b = hdr(&p, off, 8, buf);
	if (!b) {
		bump(st, TM_ERR_VXLAN_TRUNCATED);
		return TC_ACT_UNSPEC;
	}
	if (!(b[0] & 0x08)) {
		bump(st, TM_ERR_VXLAN_FLAGS);
		return TC_ACT_UNSPEC;
	}
	key.vni = (__u32)b[4] << 16 | (__u32)b[5] << 8 | b[6];
	off += 8;

	segs = skb->gso_segs > 1 ? skb->gso_segs : 1;

	if (group) {
		struct tm_flood_key fk = { .vni = key.vni };
		struct tm_flood_counters *fc;

		__builtin_memcpy(fk.group, key.outer_b, 16);
		fc = bpf_map_lookup_elem(&floods, &fk);
		if (fc) {
			fc->packets[ingress & 1] += segs;
			fc->bytes[ingress & 1] += skb->len;
		} else {
			struct tm_flood_counters init = {};

			init.packets[ingress & 1] = segs;
			init.bytes[ingress & 1] = skb->len;
			bpf_map_update_elem(&floods, &fk, &init, BPF_NOEXIST);
		}
		bump(st, TM_STAT_FLOODED);
		return TC_ACT_UNSPEC;
	}

	/* Inner Ethernet. */
	b = hdr(&p, off, ETH_HLEN, buf);
	if (!b) {
		bump(st, TM_ERR_INNER_TRUNCATED);
		return TC_ACT_UNSPEC;
	}
	proto = ((struct ethhdr *)b)->h_proto;
	off += ETH_HLEN;
	proto = skip_vlans(&p, &off, proto, buf);
	if (!proto) {
		bump(st, TM_ERR_INNER_TRUNCATED);
		return TC_ACT_UNSPEC;
	}
	key.inner_proto = bpf_ntohs(proto);

	/* Inner IP (or ARP). */
	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = hdr(&p, off, sizeof(*ip), buf);
		__u32 ihl;

		if (!ip || (ihl = ip->ihl * 4) < sizeof(*ip)) {
			bump(st, TM_ERR_INNER_TRUNCATED);
			return TC_ACT_UNSPEC;
		}
		map_v4(key.inner_a, &ip->saddr);
		map_v4(key.inner_b, &ip->daddr);
		l4 = ip->protocol;
		off += ihl;
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = hdr(&p, off, sizeof(*ip6), buf);

		if (!ip6) {
			bump(st, TM_ERR_INNER_TRUNCATED);
			return TC_ACT_UNSPEC;
		}
		__builtin_memcpy(key.inner_a, &ip6->saddr, 16);
		__builtin_memcpy(key.inner_b, &ip6->daddr, 16);
		l4 = ip6->nexthdr;
		off += sizeof(*ip6);
	} else if (proto == bpf_htons(ETH_P_ARP)) {
		/* Ethernet/IPv4 ARP: htype 1, ptype 0x0800, hlen 6, plen 4; sender IP at 14,
		 * target IP at 24. Other ARP formats keep zero addresses. */
		b = hdr(&p, off, 28, buf);
		if (!b) {
			bump(st, TM_ERR_INNER_TRUNCATED);
			return TC_ACT_UNSPEC;
		}
		if (b[0] == 0 && b[1] == 1 && b[2] == 0x08 && b[3] == 0 && b[4] == 6 && b[5] == 4) {
			map_v4(key.inner_a, b + 14);
			map_v4(key.inner_b, b + 24);
		}
	}

	/* Bytes of the headers that every segment of a GSO frame repeats. */
	hdr_len = off;
	if (segs > 1) {
		if (l4 == IPPROTO_TCP) {
			b = hdr(&p, off, 20, buf);
			if (b)
				l4_len = (b[12] >> 4) * 4;
		} else if (l4 == IPPROTO_UDP) {
			l4_len = 8;
		}
		hdr_len += l4_len;
	}

	/* Normalise: endpoint a has the lower outer (then inner) address. */
	int c = cmp16(key.outer_a, key.outer_b);
	int reversed = c > 0 || (c == 0 && cmp16(key.inner_a, key.inner_b) > 0);
	if (reversed) {
		swap16(key.outer_a, key.outer_b);
		swap16(key.inner_a, key.inner_b);
	}
	__u32 cell = ((ingress ? 2 : 0) + reversed) & 3;
	__u64 bytes = skb->len + (__u64)(segs - 1) * hdr_len;

	struct tm_counters *v = bpf_map_lookup_elem(&conversations, &key);
	if (!v) {
		struct tm_counters init = {};
		long err;

		init.packets[cell] = segs;
		init.bytes[cell] = bytes;
		err = bpf_map_update_elem(&conversations, &key, &init, BPF_NOEXIST);
		if (err == 0) {
			bump(st, TM_STAT_COUNTED);
			return TC_ACT_UNSPEC;
		}
		/* -EEXIST: another CPU created it just now; anything else: the map is full. */
		v = bpf_map_lookup_elem(&conversations, &key);
		if (!v) {
			bump(st, TM_ERR_TABLE_FULL);
			return TC_ACT_UNSPEC;
		}
	}
	v->packets[cell] += segs;
	v->bytes[cell] += bytes;
	bump(st, TM_STAT_COUNTED);
	return TC_ACT_UNSPEC;
}

SEC("tc")
int tunnel_ingress(struct __sk_buff *skb)
{
	return monitor(skb, 1);
}

SEC("tc")
int tunnel_egress(struct __sk_buff *skb)
{
	return monitor(skb, 0);
}

char LICENSE[] SEC("license") = "GPL";
