// packetpath: follows packets across tc hooks (`netbpf trace packet FILTER`).
//
// The same small probe is attached around the programs of every tcx hook it watches: slot 0
// before the first program, slot k right before the k-th program's successor, the last slot
// after the last program. Each probe that sees a followed packet writes (packet identity, hook,
// slot, time) to a ring buffer, so user space knows which program a packet reached last at each
// hook; skb:kfree_skb says why a followed packet was dropped. tcx does not allow one program
// twice on a hook, hence PP_SLOTS copies of the probe per direction (pp_in0..7, pp_eg0..7).
//
// A packet's identity is a hash of header fields that do not change on the way (addresses, IP
// id or IPv6 flow label, protocol, ports, TCP sequence/ack/flags, ICMP type/id/seq, L4 payload
// length): the skb changes at VXLAN boundaries and a copy is a new skb, the headers do not. For a
// VXLAN frame (UDP to one of vxlan_port0..3) the identity and the packet described are the
// inner ones, so the tunnelled frame on the underlay is the same packet as the one on the VXLAN
// device.
//
// The optional filter is a pcap expression that libpcap compiled to classic BPF and netbpf
// turned into netbpf_pcap_match() (Sources/NetBPFTracing/PcapToC.swift), pasted at the
// NETBPF_PCAP_FILTER_HERE line with NETBPF_PCAP_FILTER defined. Slot 0 runs it on the frame and,
// for a VXLAN frame, on the inner frame (a packet matches if either does); later slots only look
// the skb up in `seen`. Kernel: tcx (6.6), bpf_cast_to_kern_ctx (6.3), kfree_skb reasons (5.17).
#include "vmlinux.h"
#include <netbpf.h>
#include <bpf/bpf_core_read.h>

#define TCX_NEXT -1
#define ETH_HLEN 14
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define PP_IPPROTO_ICMPV6 58 /* a macro in uapi in6.h, so not in vmlinux.h */

/* Layout mirrored by Sources/NetBPFTracing/Tools/PacketPath.swift (PacketPath.Event). */
struct pp_event {
	u64 ts;         /* bpf_ktime_get_ns */
	u64 id;         /* the packet's identity */
	u64 skb;        /* the kernel sk_buff's address */
	u64 location;   /* kind 1: where it was freed (skb:kfree_skb's location) */
	u32 netns;      /* the device's namespace inode */
	s32 ifindex;    /* the device (kind 1: skb->dev when dropped, 0 without one) */
	u32 reason;     /* kind 1: enum skb_drop_reason */
	u32 len;        /* skb->len */
	u8 kind;        /* 0 a probe saw it, 1 it was dropped */
	u8 dir;         /* 0 ingress, 1 egress (kind 1: of the hook that saw it last) */
	u8 slot;        /* the probe's slot at the hook */
	u8 family;      /* 4 or 6 */
	u8 proto;       /* IPPROTO_* */
	u8 tcp_flags;
	u8 encap;       /* 1: the frame was VXLAN, the fields are the inner packet's;
	                 * kind 1: 1 when a clone still shares the data (a raw or packet socket's copy) */
	u8 icmp_type;
	u16 sport;      /* ICMP echo: id */
	u16 dport;      /* ICMP: code */
	u32 seq;        /* TCP sequence; ICMP echo sequence */
	u32 ack;
	u16 payload;    /* L4 payload bytes */
	u16 ip_id;      /* IPv4 id; IPv6: low 16 bits of the flow label */
	u8 saddr[16];
	u8 daddr[16];
};
_Static_assert(sizeof(struct pp_event) == 104, "pp_event layout");

/* The skb a slot-0 probe took: later slots at the same hook and kfree_skb find it here. */
struct pp_seen {
	u64 id;
	u64 ts;
	u32 netns;
	s32 ifindex;
	u8 dir;
	u8 pad[7];
};

extern void *bpf_cast_to_kern_ctx(void *obj) __ksym;

BPF_LRU_HASH(seen, u64, struct pp_seen, 16384);   /* kernel skb address -> last sighting */
BPF_RINGBUF_OUTPUT(events, 256);
BPF_ARRAY(lost, u64, 1);

/* UDP ports that carry VXLAN (the watched VXLAN devices' ports; 0: unused). */
const volatile u16 vxlan_port0 = 4789;
const volatile u16 vxlan_port1 = 0;
const volatile u16 vxlan_port2 = 0;
const volatile u16 vxlan_port3 = 0;

static __always_inline void emit(struct pp_event *e)
{
	if (bpf_ringbuf_output(&events, e, sizeof(*e), 0)) {
		u32 zero = 0;
		u64 *n = bpf_map_lookup_elem(&lost, &zero);

		if (n)
			__sync_fetch_and_add(n, 1);
	}
}

static __always_inline bool is_vxlan(u16 port)
{
	return port && (port == vxlan_port0 || port == vxlan_port1 || port == vxlan_port2 || port == vxlan_port3);
}

static __always_inline u16 be16(const u8 *b) { return ((u16)b[0] << 8) | b[1]; }
static __always_inline u32 be32(const u8 *b) { return ((u32)b[0] << 24) | ((u32)b[1] << 16) | ((u32)b[2] << 8) | b[3]; }

/* Parses the IPv4/IPv6 packet behind the Ethernet header at `l2` into e; for UDP to a VXLAN
 * port, *inner (when given) is the offset of the inner Ethernet header. False when it is not IP. */
static __always_inline bool parse(struct __sk_buff *skb, u32 l2, struct pp_event *e, u32 *inner)
{
	u8 eth[2];
	u32 l3 = l2 + ETH_HLEN, l4, plen;
	u8 l4proto;

	if (bpf_skb_load_bytes(skb, l2 + 12, eth, 2))
		return false;
	if (be16(eth) == ETH_P_IP) {
		struct iphdr ip;
		u32 ihl;

		if (bpf_skb_load_bytes(skb, l3, &ip, sizeof(ip)))
			return false;
		ihl = (ip.ihl & 0xf) * 4;
		if (ihl < 20)
			return false;
		e->family = 4;
		l4proto = ip.protocol;
		e->ip_id = bpf_ntohs(ip.id);
		__builtin_memcpy(e->saddr, &ip.saddr, 4);
		__builtin_memcpy(e->daddr, &ip.daddr, 4);
		l4 = l3 + ihl;
		plen = bpf_ntohs(ip.tot_len);
		plen = plen > ihl ? plen - ihl : 0;
		e->proto = l4proto;
		if (ip.frag_off & bpf_htons(0x1fff)) /* a later fragment: no L4 header */
			return true;
	} else if (be16(eth) == ETH_P_IPV6) {
		struct ipv6hdr ip6;

		if (bpf_skb_load_bytes(skb, l3, &ip6, sizeof(ip6)))
			return false;
		e->family = 6;
		l4proto = ip6.nexthdr;
		e->ip_id = ((u16)ip6.flow_lbl[1] << 8) | ip6.flow_lbl[2];
		__builtin_memcpy(e->saddr, &ip6.saddr, 16);
		__builtin_memcpy(e->daddr, &ip6.daddr, 16);
		l4 = l3 + sizeof(ip6);
		plen = bpf_ntohs(ip6.payload_len);
		e->proto = l4proto;
	} else {
		return false;
	}

	if (l4proto == IPPROTO_TCP) {
		u8 t[20];
		u32 doff;

		if (bpf_skb_load_bytes(skb, l4, t, sizeof(t)))
			return true;
		e->sport = be16(t);
		e->dport = be16(t + 2);
		e->seq = be32(t + 4);
		e->ack = be32(t + 8);
		doff = (t[12] >> 4) * 4;
		e->tcp_flags = t[13];
		e->payload = plen > doff ? plen - doff : 0;
	} else if (l4proto == IPPROTO_UDP) {
		u8 u[8];

		if (bpf_skb_load_bytes(skb, l4, u, sizeof(u)))
			return true;
		e->sport = be16(u);
		e->dport = be16(u + 2);
		e->payload = plen > 8 ? plen - 8 : 0;
		if (inner && is_vxlan(e->dport))
			*inner = l4 + 8 + 8; /* UDP header, VXLAN header */
	} else if ((l4proto == IPPROTO_ICMP && e->family == 4) || (l4proto == PP_IPPROTO_ICMPV6 && e->family == 6)) {
		u8 c[8];

		if (bpf_skb_load_bytes(skb, l4, c, sizeof(c)))
			return true;
		e->icmp_type = c[0];
		e->dport = c[1];
		if (c[0] == 8 || c[0] == 0 || c[0] == 128 || c[0] == 129) { /* echo request/reply */
			e->sport = be16(c + 4);
			e->seq = be16(c + 6);
		}
		e->payload = plen > 8 ? plen - 8 : 0;
	}
	return true;
}

static __always_inline u64 mix(u64 h, u64 v)
{
	h ^= v;
	h *= 0x100000001b3ULL;
	return h ^ (h >> 29);
}

/* The hash of the fields that stay the same along the path. */
static __always_inline u64 identity(const struct pp_event *e)
{
	u64 h = 0xcbf29ce484222325ULL, a[4];

	__builtin_memcpy(a, e->saddr, 16);
	__builtin_memcpy(&a[2], e->daddr, 16);
	h = mix(h, ((u64)e->family << 56) | ((u64)e->proto << 48) | ((u64)e->tcp_flags << 40) | ((u64)e->icmp_type << 32) | e->ip_id);
	h = mix(h, ((u64)e->sport << 48) | ((u64)e->dport << 32) | e->payload);
	h = mix(h, ((u64)e->seq << 32) | e->ack);
	h = mix(h, a[0]);
	h = mix(h, a[1]);
	h = mix(h, a[2]);
	h = mix(h, a[3]);
	return h ? h : 1;
}

/* The filter's view of the frame: bytes from `base` (0, or the inner Ethernet header). */
struct pkt_ctx {
	struct __sk_buff *skb;
	u32 base;
	u32 len;
};

/* Classic BPF loads: big-endian, 1, 2 or 4 bytes; false when out of the packet. */
static __always_inline bool pkt_ld(struct pkt_ctx *p, u32 off, u32 size, u32 *out)
{
	u8 b[4] = {};

	if (off > 0xffff || off + size > p->len)
		return false;
	if (size == 4) {
		if (bpf_skb_load_bytes(p->skb, p->base + off, b, 4))
			return false;
		*out = be32(b);
	} else if (size == 2) {
		if (bpf_skb_load_bytes(p->skb, p->base + off, b, 2))
			return false;
		*out = be16(b);
	} else {
		if (bpf_skb_load_bytes(p->skb, p->base + off, b, 1))
			return false;
		*out = b[0];
	}
	return true;
}

/* NETBPF_PCAP_FILTER_HERE: with a filter, netbpf puts its netbpf_pcap_match() here and
 * defines NETBPF_PCAP_FILTER. */

static __always_inline int probe(struct __sk_buff *skb, u8 dir, u8 slot)
{
	struct sk_buff *k = bpf_cast_to_kern_ctx(skb);
	u64 addr = (u64)k, now = bpf_ktime_get_ns();
	u32 netns = BPF_CORE_READ(k, dev, nd_net.net, ns.inum);
	struct pp_event e = {};

	if (slot == 0) {
		u32 inner = 0;
		struct pp_seen s = {};

		if (!parse(skb, 0, &e, &inner))
			return TCX_NEXT;
#ifdef NETBPF_PCAP_FILTER
		{
			struct pkt_ctx p = { .skb = skb, .base = 0, .len = skb->len };
			bool match = netbpf_pcap_match(&p) != 0;

			if (!match && inner && inner < skb->len) {
				struct pkt_ctx q = { .skb = skb, .base = inner, .len = skb->len - inner };

				match = netbpf_pcap_match(&q) != 0;
			}
			if (!match)
				return TCX_NEXT;
		}
#endif
		if (inner) {
			struct pp_event in = {};

			if (parse(skb, inner, &in, 0)) {
				e = in;
				e.encap = 1;
			}
		}
		e.id = identity(&e);
		s.id = e.id;
		s.ts = now;
		s.netns = netns;
		s.ifindex = skb->ifindex;
		s.dir = dir;
		bpf_map_update_elem(&seen, &addr, &s, BPF_ANY);
	} else {
		struct pp_seen *s = bpf_map_lookup_elem(&seen, &addr);

		if (!s || s->netns != netns || s->ifindex != (s32)skb->ifindex || s->dir != dir)
			return TCX_NEXT;
		e.id = s->id;
		s->ts = now;
	}
	e.ts = now;
	e.skb = addr;
	e.netns = netns;
	e.ifindex = skb->ifindex;
	e.len = skb->len;
	e.dir = dir;
	e.slot = slot;
	emit(&e);
	return TCX_NEXT;
}

#define PP_PROBE(name, dir, slot) \
	SEC("tc") int name(struct __sk_buff *skb) { return probe(skb, dir, slot); }

PP_PROBE(pp_in0, 0, 0)
PP_PROBE(pp_in1, 0, 1)
PP_PROBE(pp_in2, 0, 2)
PP_PROBE(pp_in3, 0, 3)
PP_PROBE(pp_in4, 0, 4)
PP_PROBE(pp_in5, 0, 5)
PP_PROBE(pp_in6, 0, 6)
PP_PROBE(pp_in7, 0, 7)
PP_PROBE(pp_eg0, 1, 0)
PP_PROBE(pp_eg1, 1, 1)
PP_PROBE(pp_eg2, 1, 2)
PP_PROBE(pp_eg3, 1, 3)
PP_PROBE(pp_eg4, 1, 4)
PP_PROBE(pp_eg5, 1, 5)
PP_PROBE(pp_eg6, 1, 6)
PP_PROBE(pp_eg7, 1, 7)

/* A followed packet was dropped: why, where, and by which kernel function. */
SEC("tracepoint/skb/kfree_skb")
int pp_kfree_skb(struct trace_event_raw_kfree_skb *ctx)
{
	u64 addr = (u64)ctx->skbaddr, now = bpf_ktime_get_ns();
	struct pp_seen *s = bpf_map_lookup_elem(&seen, &addr);
	struct sk_buff *skb = ctx->skbaddr;
	struct net_device *dev;
	struct pp_event e = {};

	if (!s)
		return 0;
	/* An entry older than 2 s is a freed skb whose memory came back (a free without a
	 * tracepoint, as TCP's), not the packet we followed. */
	if (now - s->ts > 2000000000ULL) {
		bpf_map_delete_elem(&seen, &addr);
		return 0;
	}
	e.kind = 1;
	e.ts = now;
	e.id = s->id;
	e.skb = addr;
	e.dir = s->dir;
	e.reason = ctx->reason;
	e.location = (u64)ctx->location;
	e.netns = s->netns;
	dev = BPF_CORE_READ(skb, dev);
	if (dev) {
		e.ifindex = BPF_CORE_READ(dev, ifindex);
		e.netns = BPF_CORE_READ(dev, nd_net.net, ns.inum);
	}
	e.len = BPF_CORE_READ(skb, len);
	/* Cloned, and the clone still holds the data (dataref counts the skbs sharing it; the
	 * cloned bit alone stays set after a clone is gone, e.g. on a TCP segment whose sender's
	 * clone crossed a veth). */
	if (BPF_CORE_READ_BITFIELD_PROBED(skb, cloned)) {
		unsigned char *head = BPF_CORE_READ(skb, head);
		u32 end = BPF_CORE_READ(skb, end);
		struct skb_shared_info *shinfo = (void *)(head + end);

		e.encap = (BPF_CORE_READ(shinfo, dataref.counter) & 0xffff) > 1;
	}
	bpf_map_delete_elem(&seen, &addr);
	emit(&e);
	return 0;
}

/* Delivered (or consumed): forget the skb, so a new one at that address is not taken for it. */
SEC("tracepoint/skb/consume_skb")
int pp_consume_skb(struct trace_event_raw_consume_skb *ctx)
{
	u64 addr = (u64)ctx->skbaddr;

	bpf_map_delete_elem(&seen, &addr);
	return 0;
}

NETBPF_LICENSE("GPL");
