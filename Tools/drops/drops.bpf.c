// drops: every packet the kernel frees as dropped (skb:kfree_skb, which since 5.17 carries an
// enum skb_drop_reason; consumed packets go to skb:consume_skb instead), counted in the kernel by
// reason, location, network namespace, interface, protocol and addresses.
//
// The optional packet filter is a pcap expression that libpcap compiled to classic BPF and
// netbpf turned into the C function netbpf_pcap_match() (Sources/NetBPFTracing/PcapToC.swift);
// it replaces the NETBPF_PCAP_FILTER_HERE line, with NETBPF_PCAP_FILTER defined. It reads the packet from
// the skb's linear data with bpf_probe_read_kernel, from the MAC header when the skb has an
// Ethernet one, otherwise behind a made-up Ethernet header carrying skb->protocol (a packet
// dropped on the way out before it got its link header).
#include "vmlinux.h"
#include <netbpf.h>
#include <bpf/bpf_core_read.h>

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define ETH_HLEN 14

/* Layout mirrored by Sources/NetBPFTracing/Tools/Drops.swift (DropKey). */
struct drop_key {
	u64 location;   /* the kernel address that freed the packet */
	u32 reason;     /* enum skb_drop_reason */
	u32 netns;      /* the namespace's inode (ns.inum) */
	s32 ifindex;    /* skb->dev's index in that namespace, 0 without a device */
	u16 l3proto;    /* skb->protocol, host order */
	u8 l4proto;     /* IPPROTO_* of an IPv4/IPv6 packet */
	u8 family;      /* 4, 6 or 0 */
	u16 sport;      /* kept only with keep_sport */
	u16 dport;
	u8 saddr[16];
	u8 daddr[16];
	char ifname[16];
	u32 _pad;
};
_Static_assert(sizeof(struct drop_key) == 80, "drop_key layout");

struct drop_value {
	u64 packets;
	u64 bytes;
	u64 last_ns;
};

const volatile u32 target_netns = 0;     /* --netns: only this namespace inode */
const volatile bool keep_sport = false;  /* --by-flow: source ports too */

BPF_HASH(drops, struct drop_key, struct drop_value, 16384);
/* [0] drops that matched but found the table full, [1] drops seen in all (matched or not). */
BPF_ARRAY(counters, u64, 2);

static __always_inline void bump(u32 i)
{
	u64 *n = bpf_map_lookup_elem(&counters, &i);

	if (n)
		__sync_fetch_and_add(n, 1);
}

/* Where the packet's bytes are: l2 is the address of byte 0 of the (real or made-up) Ethernet
 * frame; with fake_eth the first 14 bytes come from eth[] and the rest from l3. */
struct pkt_ctx {
	unsigned char *l2;
	unsigned char *l3;
	u32 len;        /* bytes readable from byte 0 of the frame (linear data) */
	bool fake_eth;
	u8 eth[ETH_HLEN];
};

/* bpf_probe_read_kernel with a size the verifier can bound (1, 2 or 4). */
static __always_inline int read_sized(void *dst, u32 size, const void *src)
{
	if (size == 4)
		return bpf_probe_read_kernel(dst, 4, src);
	if (size == 2)
		return bpf_probe_read_kernel(dst, 2, src);
	return bpf_probe_read_kernel(dst, 1, src);
}

static __always_inline int pkt_bytes(struct pkt_ctx *p, u32 off, void *dst, u32 size)
{
	if (off > 0xffff || off + size > p->len)
		return -1;
	if (!p->fake_eth)
		return read_sized(dst, size, p->l2 + off);
	if (off >= ETH_HLEN)
		return read_sized(dst, size, p->l3 + (off - ETH_HLEN));
	/* Loads that start in the made-up header: byte by byte (at most 4). */
	for (int i = 0; i < 4; i++) {
		u32 o = off + i;
		u8 b = 0;

		if (i >= size)
			break;
		if (o < ETH_HLEN)
			b = p->eth[o];
		else if (bpf_probe_read_kernel(&b, 1, p->l3 + (o - ETH_HLEN)))
			return -1;
		((u8 *)dst)[i & 3] = b;
	}
	return 0;
}

/* Classic BPF loads: big-endian, 1, 2 or 4 bytes; false when out of the packet. */
static __always_inline bool pkt_ld(struct pkt_ctx *p, u32 off, u32 size, u32 *out)
{
	u8 b[4] = {};

	if (pkt_bytes(p, off, b, size))
		return false;
	if (size == 1)
		*out = b[0];
	else if (size == 2)
		*out = ((u32)b[0] << 8) | b[1];
	else
		*out = ((u32)b[0] << 24) | ((u32)b[1] << 16) | ((u32)b[2] << 8) | b[3];
	return true;
}

/* NETBPF_PCAP_FILTER_HERE: with a filter, netbpf puts its netbpf_pcap_match() here and
 * defines NETBPF_PCAP_FILTER. */

SEC("tracepoint/skb/kfree_skb")
int drops_kfree_skb(struct trace_event_raw_kfree_skb *ctx)
{
	struct sk_buff *skb = ctx->skbaddr;
	struct net_device *dev;
	struct drop_key key = {};
	struct drop_value *v, init = {};
	struct pkt_ctx p = {};
	unsigned char *head;
	u16 mac, nh;
	u32 tail;

	bump(1);
	key.reason = ctx->reason;
	key.location = (u64)ctx->location;
	key.l3proto = ctx->protocol; /* the tracepoint stores ntohs(skb->protocol) */

	dev = BPF_CORE_READ(skb, dev);
	if (dev) {
		key.ifindex = BPF_CORE_READ(dev, ifindex);
		key.netns = BPF_CORE_READ(dev, nd_net.net, ns.inum);
		BPF_CORE_READ_STR_INTO(&key.ifname, dev, name);
	} else {
		struct sock *sk = BPF_CORE_READ(skb, sk);

		if (!sk && bpf_core_field_exists(ctx->rx_sk)) /* 6.11 */
			sk = ctx->rx_sk;
		if (sk)
			key.netns = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
	}
	if (target_netns && key.netns != target_netns)
		return 0;

	head = BPF_CORE_READ(skb, head);
	mac = BPF_CORE_READ(skb, mac_header);
	nh = BPF_CORE_READ(skb, network_header);
	tail = BPF_CORE_READ(skb, tail);
	if (nh != (u16)~0U && nh < tail) {
		p.l3 = head + nh;
		if (mac != (u16)~0U && mac + ETH_HLEN == nh) {
			p.l2 = head + mac;
			p.len = tail - mac;
		} else {
			p.fake_eth = true;
			p.eth[12] = key.l3proto >> 8;
			p.eth[13] = key.l3proto & 0xff;
			p.len = tail - nh + ETH_HLEN;
		}
	}

#ifdef NETBPF_PCAP_FILTER
	if (!p.l3 || !netbpf_pcap_match(&p))
		return 0;
#endif

	if (p.l3 && key.l3proto == ETH_P_IP) {
		struct iphdr ip;

		if (!bpf_probe_read_kernel(&ip, sizeof(ip), p.l3)) {
			u32 ihl = (ip.ihl & 0xf) * 4;

			key.family = 4;
			key.l4proto = ip.protocol;
			__builtin_memcpy(key.saddr, &ip.saddr, 4);
			__builtin_memcpy(key.daddr, &ip.daddr, 4);
			if ((ip.protocol == IPPROTO_TCP || ip.protocol == IPPROTO_UDP) && !(ip.frag_off & bpf_htons(0x1fff))) {
				u16 ports[2];

				if (!bpf_probe_read_kernel(ports, sizeof(ports), p.l3 + ihl)) {
					key.sport = bpf_ntohs(ports[0]);
					key.dport = bpf_ntohs(ports[1]);
				}
			}
		}
	} else if (p.l3 && key.l3proto == ETH_P_IPV6) {
		struct ipv6hdr ip6;

		if (!bpf_probe_read_kernel(&ip6, sizeof(ip6), p.l3)) {
			key.family = 6;
			key.l4proto = ip6.nexthdr;
			__builtin_memcpy(key.saddr, &ip6.saddr, 16);
			__builtin_memcpy(key.daddr, &ip6.daddr, 16);
			if (ip6.nexthdr == IPPROTO_TCP || ip6.nexthdr == IPPROTO_UDP) {
				u16 ports[2];

				if (!bpf_probe_read_kernel(ports, sizeof(ports), p.l3 + sizeof(ip6))) {
					key.sport = bpf_ntohs(ports[0]);
					key.dport = bpf_ntohs(ports[1]);
				}
			}
		}
	}
	if (!keep_sport)
		key.sport = 0;

	v = bpf_map_lookup_elem(&drops, &key);
	if (!v) {
		/* EEXIST when another CPU inserted it first: then the lookup finds it. */
		bpf_map_update_elem(&drops, &key, &init, BPF_NOEXIST);
		v = bpf_map_lookup_elem(&drops, &key);
		if (!v) {
			bump(0);
			return 0;
		}
	}
	__sync_fetch_and_add(&v->packets, 1);
	__sync_fetch_and_add(&v->bytes, BPF_CORE_READ(skb, len));
	v->last_ns = bpf_ktime_get_ns();
	return 0;
}

NETBPF_LICENSE("GPL");
