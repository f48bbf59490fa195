/* Frame parsing shared by the HTTP socket filter and the HTTP blocking tc program.
 *
 * Offsets are relative to skb->data, which is the Ethernet header both for a socket filter on
 * an AF_PACKET SOCK_RAW socket and for a tc program. (BPF_PROG_TEST_RUN runs socket filters
 * from the network header instead: the tests and benchmarks give it a frame with a second,
 * dummy Ethernet header in front.) Every read goes through bpf_skb_load_bytes, which also
 * reads the paged part of large (GSO/GRO) packets and fails cleanly past the end, so a
 * truncated or lying header never reads out of bounds: the helper just returns an error. */
#ifndef NETBPF_HTTP_PARSE_H
#define NETBPF_HTTP_PARSE_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/in.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "http_filter.h"

#ifndef ETH_P_8021AD
#define ETH_P_8021AD 0x88A8
#endif

/* IPv6 extension headers skipped before giving up (hop-by-hop, routing, destination options,
 * fragment, authentication). */
#define HTTP_IPV6_EXT_MAX 6

struct http_pkt {
	struct http_flow flow;
	__u32 payload_off; /* from skb->data */
	__u32 payload_len;
	__u32 seq;         /* TCP sequence number, host order */
	__u16 vlan;        /* VLAN id: skb metadata or the first tag in the frame; 0 untagged */
	__u8 fragment;     /* set when the frame is a non-first fragment (not parsed) */
	__u8 pad;
};

/* The TCP header's part of the parse: ports, sequence number, where the payload is. */
static __always_inline int http_tcp(struct http_pkt *p, const struct tcphdr *tcp, __u32 l4, __u32 l4_len)
{
	__u32 doff = tcp->doff * 4;

	if (doff < sizeof(*tcp) || doff > l4_len)
		return 0;
	p->flow.sport = tcp->source;
	p->flow.dport = tcp->dest;
	p->seq = bpf_ntohl(tcp->seq);
	p->payload_off = l4 + doff;
	p->payload_len = l4_len - doff;
	return p->payload_len > 0;
}

/* IPv4 checks shared by both paths: TCP, not a later fragment, lengths that fit the skb.
 * Returns the IP total length, or 0 to give up. */
static __always_inline __u32 http_ipv4(struct __sk_buff *skb, struct http_pkt *p, const struct iphdr *ip, __u32 off)
{
	__u32 ihl = ip->ihl * 4, tot;

	if (ip->version != 4 || ip->protocol != IPPROTO_TCP)
		return 0;
	if (ip->frag_off & bpf_htons(0x1fff)) {
		p->fragment = 1;
		return 0;
	}
	if (ihl < sizeof(*ip))
		return 0;
	tot = bpf_ntohs(ip->tot_len);
	if (tot == 0) /* BIG TCP: the length is the skb's */
		tot = skb->len - off;
	if (tot < ihl || tot > skb->len - off)
		return 0;
	__builtin_memcpy(p->flow.saddr, &ip->saddr, 4);
	__builtin_memcpy(p->flow.daddr, &ip->daddr, 4);
	p->flow.family = 4;
	return tot;
}

/* Parses Ethernet (up to two 802.1Q/802.1ad tags), IPv4 (options via IHL; non-first fragments
 * refused) or IPv6 (extension headers), and TCP. Returns 1 for a TCP segment that carries
 * payload, 0 for anything else. The common case (untagged IPv4 without options) takes one
 * read for all three headers. */
static __always_inline int http_parse(struct __sk_buff *skb, struct http_pkt *p)
{
	struct {
		__u16 pad; /* aligns the IP header */
		__be16 proto;
		struct iphdr ip;
		struct tcphdr tcp;
	} fast;
	__u32 off = 12, l4, l4_len;
	__u16 proto;

	/* Received frames have their tag moved to skb metadata before taps and tc see them. */
	if (skb->vlan_present)
		p->vlan = skb->vlan_tci & 0x0fff;

	if (bpf_skb_load_bytes(skb, 12, &fast.proto, 2 + sizeof(fast.ip) + sizeof(fast.tcp)) == 0 &&
	    fast.proto == bpf_htons(ETH_P_IP) && fast.ip.ihl == 5) {
		__u32 tot = http_ipv4(skb, p, &fast.ip, 14);

		if (!tot)
			return 0;
		return http_tcp(p, &fast.tcp, 14 + 20, tot - 20);
	}

	if (bpf_skb_load_bytes(skb, off, &proto, sizeof(proto)) < 0)
		return 0;
#pragma unroll
	for (int i = 0; i < 2; i++) {
		__u16 tci;

		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		if (bpf_skb_load_bytes(skb, off + 2, &tci, sizeof(tci)) < 0)
			return 0;
		if (!p->vlan)
			p->vlan = bpf_ntohs(tci) & 0x0fff;
		off += 4;
		if (bpf_skb_load_bytes(skb, off, &proto, sizeof(proto)) < 0)
			return 0;
	}
	off += 2; /* the network header */

	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr ip;
		__u32 tot;

		if (bpf_skb_load_bytes(skb, off, &ip, sizeof(ip)) < 0)
			return 0;
		tot = http_ipv4(skb, p, &ip, off);
		if (!tot)
			return 0;
		l4 = off + ip.ihl * 4;
		l4_len = tot - ip.ihl * 4;
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr ip6;
		__u32 end;
		__u8 next;

		if (bpf_skb_load_bytes(skb, off, &ip6, sizeof(ip6)) < 0)
			return 0;
		if (ip6.version != 6)
			return 0;
		l4 = off + sizeof(ip6);
		end = l4 + bpf_ntohs(ip6.payload_len);
		if (ip6.payload_len == 0) /* jumbogram / BIG TCP */
			end = skb->len;
		if (end > skb->len)
			return 0;
		next = ip6.nexthdr;
#pragma unroll
		for (int i = 0; i < HTTP_IPV6_EXT_MAX; i++) {
			__u8 ext[8];

			if (next == IPPROTO_TCP)
				break;
			if (next != IPPROTO_HOPOPTS && next != IPPROTO_ROUTING && next != IPPROTO_DSTOPTS &&
			    next != IPPROTO_FRAGMENT && next != IPPROTO_AH)
				return 0;
			if (bpf_skb_load_bytes(skb, l4, ext, sizeof(ext)) < 0)
				return 0;
			if (next == IPPROTO_FRAGMENT) {
				if ((ext[2] << 8 | ext[3]) & 0xfff8) {
					p->fragment = 1;
					return 0;
				}
				l4 += 8;
			} else if (next == IPPROTO_AH) {
				l4 += ((__u32)ext[1] + 2) * 4;
			} else {
				l4 += ((__u32)ext[1] + 1) * 8;
			}
			next = ext[0];
		}
		if (next != IPPROTO_TCP || l4 > end)
			return 0;
		__builtin_memcpy(p->flow.saddr, &ip6.saddr, 16);
		__builtin_memcpy(p->flow.daddr, &ip6.daddr, 16);
		p->flow.family = 6;
		l4_len = end - l4;
	} else {
		return 0;
	}

	{
		struct tcphdr tcp;

		if (l4_len < sizeof(tcp) || bpf_skb_load_bytes(skb, l4, &tcp, sizeof(tcp)) < 0)
			return 0;
		return http_tcp(p, &tcp, l4, l4_len);
	}
}

/* Little-endian words of up to 8 characters, and masks of their first n bytes. */
#define HTTP_W(a, b, c, d, e, f, g, h)                                                             \
	((__u64)(a) | (__u64)(b) << 8 | (__u64)(c) << 16 | (__u64)(d) << 24 | (__u64)(e) << 32 |      \
	 (__u64)(f) << 40 | (__u64)(g) << 48 | (__u64)(h) << 56)
#define HTTP_MASK(n) ((n) >= 8 ? ~0ULL : ((1ULL << ((n) * 8)) - 1))

enum { HTTP_NONE = 0, HTTP_REQUEST = 1, HTTP_RESPONSE = 2 };

/* Does the payload start with a request line ("GET ", ..., "CONNECT ") or a status line
 * ("HTTP/1.")? For a request, *method_len is the method's length plus its space. Payloads
 * shorter than the token never match (the missing bytes read as zero). */
static __always_inline int http_classify(struct __sk_buff *skb, __u32 off, __u32 len, __u32 *method_len)
{
	__u64 w = 0;
	__u32 n = len;

	if (n == 0)
		return HTTP_NONE;
	if (n > 8)
		n = 8;
	/* n is 1..8; say so in a form the verifier tracks (clang may keep the 64-bit value). */
	asm volatile("" : "+r"(n));
	n = ((n - 1) & 7) + 1;
	if (bpf_skb_load_bytes(skb, off, &w, n) < 0)
		return HTTP_NONE;

#define HTTP_IS(n, a, b, c, d, e, f, g, h) ((w & HTTP_MASK(n)) == HTTP_W(a, b, c, d, e, f, g, h))
	if (HTTP_IS(4, 'G', 'E', 'T', ' ', 0, 0, 0, 0) || HTTP_IS(4, 'P', 'U', 'T', ' ', 0, 0, 0, 0))
		*method_len = 4;
	else if (HTTP_IS(5, 'P', 'O', 'S', 'T', ' ', 0, 0, 0) || HTTP_IS(5, 'H', 'E', 'A', 'D', ' ', 0, 0, 0))
		*method_len = 5;
	else if (HTTP_IS(6, 'P', 'A', 'T', 'C', 'H', ' ', 0, 0) || HTTP_IS(6, 'T', 'R', 'A', 'C', 'E', ' ', 0, 0))
		*method_len = 6;
	else if (HTTP_IS(7, 'D', 'E', 'L', 'E', 'T', 'E', ' ', 0))
		*method_len = 7;
	else if (HTTP_IS(8, 'O', 'P', 'T', 'I', 'O', 'N', 'S', ' ') || HTTP_IS(8, 'C', 'O', 'N', 'N', 'E', 'C', 'T', ' '))
		*method_len = 8;
	else if (HTTP_IS(7, 'H', 'T', 'T', 'P', '/', '1', '.', 0))
		return HTTP_RESPONSE;
	else
		return HTTP_NONE;
#undef HTTP_IS
	return HTTP_REQUEST;
}

/* Looking for the end of a request line: LF, 64 bytes per bpf_loop step, a word at a time. */
#define HTTP_SCAN_CHUNK 64
#define HTTP_SCAN_STEPS (HTTP_LINE_MAX / HTTP_SCAN_CHUNK + 2)

struct http_scan {
	struct __sk_buff *skb;
	__u32 off;   /* next byte to read, from skb->data */
	__u32 end;   /* end of the payload */
	__u32 found; /* an LF was seen */
	__u32 pad;
	__u64 buf[HTTP_SCAN_CHUNK / 8];
};

static __always_inline int http_has_lf(__u64 w)
{
	__u64 x = w ^ 0x0a0a0a0a0a0a0a0aULL;

	return ((x - 0x0101010101010101ULL) & ~x & 0x8080808080808080ULL) != 0;
}

static long http_scan_step(__u32 index, void *data)
{
	struct http_scan *s = data;
	__u32 n;

	if (s->off >= s->end)
		return 1;
	n = s->end - s->off;
	if (n > HTTP_SCAN_CHUNK)
		n = HTTP_SCAN_CHUNK;
	/* n is 1..64; say so in a form the verifier tracks. */
	asm volatile("" : "+r"(n));
	n = ((n - 1) & (HTTP_SCAN_CHUNK - 1)) + 1;
	/* Bytes of buf past n are left from the step before, which had no LF (or are zero). */
	if (bpf_skb_load_bytes(s->skb, s->off, s->buf, n) < 0)
		return 1;
#pragma unroll
	for (int k = 0; k < HTTP_SCAN_CHUNK / 8; k++) {
		if (http_has_lf(s->buf[k])) {
			s->found = 1;
			return 1;
		}
	}
	s->off += n;
	return 0;
}

/* True when an LF occurs in payload[0, min(len, HTTP_LINE_MAX + 128)). */
static __always_inline int http_line_ends(struct __sk_buff *skb, __u32 off, __u32 len)
{
	struct http_scan s = { .skb = skb, .off = off, .end = off + len };

	bpf_loop(HTTP_SCAN_STEPS, http_scan_step, &s, 0);
	return s.found;
}

#endif /* NETBPF_HTTP_PARSE_H */
