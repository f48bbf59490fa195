// capture: packets at a tc hook (tcx, attached first so it sees every packet the hook gets),
// filtered in the kernel by a pcap expression and sent with their metadata to user space
// through a perf buffer, which copies the packet bytes from the skb itself
// (bpf_perf_event_output with the skb as context and the length in the flags' upper half).
//
// One object is loaded per (namespace, interface, hook); `idb` is that hook's pcap-ng interface
// number. Compiled with CAPTURE_XDP defined, the same file gives the XDP variant instead: one
// SEC("xdp") program that copies the frame (bpf_xdp_load_bytes and perf output of the xdp_md,
// Linux 5.18) and passes it on; it needs the interface's XDP hook to be free. The filter is netbpf_pcap_match() from Sources/NetBPFTracing/PcapToC.swift, pasted at
// the NETBPF_PCAP_FILTER_HERE line with NETBPF_PCAP_FILTER defined; its loads use
// bpf_skb_load_bytes, from the Ethernet header, where tc's data starts.
#include "vmlinux.h"
#include <netbpf.h>

#define TCX_NEXT -1

/* Layout mirrored by Sources/NetBPFTracing/Tools/Capture.swift. */
struct capture_meta {
	u64 ts_ns;      /* bpf_ktime_get_ns */
	u64 seq;        /* this packet's number (kind 0), or the dropped packet's (kind 1) */
	u32 idb;
	u32 len;        /* skb->len */
	u32 caplen;     /* bytes that follow */
	u32 mark;
	u32 ifindex;
	u32 priority;
	u16 protocol;   /* skb->protocol, host order */
	u8 pkt_type;
	u8 kind;        /* 0 a packet (its bytes follow), 1 a captured packet was dropped */
	u32 reason;     /* kind 1: enum skb_drop_reason */
};
_Static_assert(sizeof(struct capture_meta) == 48, "capture_meta layout");

/* The kernel's sk_buff behind the tc context (kfunc, 6.3): its address is what skb:kfree_skb
 * reports, so a captured packet that is dropped later gets its reason. */
extern void *bpf_cast_to_kern_ctx(void *obj) __ksym;
BPF_LRU_HASH(inflight, u64, u64, 16384);   /* kernel skb address -> packet number */
u64 next_seq = 0;

const volatile u32 idb = 0;
const volatile u32 snaplen = 262144;

BPF_PERF_OUTPUT(events);
/* [0] packets the filter matched, [1] packets seen, [2] samples the perf buffer refused */
BPF_ARRAY(counters, u64, 3);

static __always_inline void bump(u32 i)
{
	u64 *n = bpf_map_lookup_elem(&counters, &i);

	if (n)
		__sync_fetch_and_add(n, 1);
}

#ifdef CAPTURE_XDP
struct pkt_ctx {
	struct xdp_md *xdp;
	u32 len;
};
#define CAPTURE_LOAD(p, off, buf, n) bpf_xdp_load_bytes((p)->xdp, off, buf, n)
#else
struct pkt_ctx {
	struct __sk_buff *skb;
	u32 len;
};
#define CAPTURE_LOAD(p, off, buf, n) bpf_skb_load_bytes((p)->skb, off, buf, n)
#endif

/* Classic BPF loads: big-endian, 1, 2 or 4 bytes; false when out of the packet. */
static __always_inline bool pkt_ld(struct pkt_ctx *p, u32 off, u32 size, u32 *out)
{
	u8 b[4] = {};

	if (off > 0xffff || off + size > p->len)
		return false;
	if (size == 4) {
		if (CAPTURE_LOAD(p, off, b, 4))
			return false;
		*out = ((u32)b[0] << 24) | ((u32)b[1] << 16) | ((u32)b[2] << 8) | b[3];
	} else if (size == 2) {
		if (CAPTURE_LOAD(p, off, b, 2))
			return false;
		*out = ((u32)b[0] << 8) | b[1];
	} else {
		if (CAPTURE_LOAD(p, off, b, 1))
			return false;
		*out = b[0];
	}
	return true;
}

/* NETBPF_PCAP_FILTER_HERE: with a filter, netbpf puts its netbpf_pcap_match() here and
 * defines NETBPF_PCAP_FILTER. */

#ifdef CAPTURE_XDP
/* The frame as the driver hands it over, before any skb exists: no mark, priority or drop
 * reason yet. XDP_PASS: the stack gets it unchanged. */
SEC("xdp")
int capture_xdp(struct xdp_md *ctx)
{
	struct pkt_ctx p = { .xdp = ctx, .len = bpf_xdp_get_buff_len(ctx) };
	struct capture_meta m = {};
	u32 cap = p.len, ethertype = 0;

	bump(1);
#ifdef NETBPF_PCAP_FILTER
	if (!netbpf_pcap_match(&p))
		return XDP_PASS;
#endif
	bump(0);
	if (cap > snaplen)
		cap = snaplen;
	if (cap > 65000)
		cap = 65000;
	pkt_ld(&p, 12, 2, &ethertype);
	m.ts_ns = bpf_ktime_get_ns();
	m.idb = idb;
	m.len = p.len;
	m.caplen = cap;
	m.ifindex = ctx->ingress_ifindex;
	m.protocol = ethertype;
	m.seq = __sync_fetch_and_add(&next_seq, 1) + 1;
	if (bpf_perf_event_output(ctx, &events, ((u64)cap << 32) | BPF_F_CURRENT_CPU, &m, sizeof(m)))
		bump(2);
	return XDP_PASS;
}
#else
SEC("tc")
int capture_tc(struct __sk_buff *skb)
{
	struct pkt_ctx p = { .skb = skb, .len = skb->len };
	struct capture_meta m = {};
	u32 cap = skb->len;

	bump(1);
#ifdef NETBPF_PCAP_FILTER
	if (!netbpf_pcap_match(&p))
		return TCX_NEXT;
#endif
	bump(0);
	if (cap > snaplen)
		cap = snaplen;
	if (cap > 65000) /* a perf sample is at most 64 KiB; a GSO packet's skb->len can be more */
		cap = 65000;
	m.ts_ns = bpf_ktime_get_ns();
	m.idb = idb;
	m.len = skb->len;
	m.caplen = cap;
	m.mark = skb->mark;
	m.ifindex = skb->ifindex;
	m.priority = skb->priority;
	m.protocol = bpf_ntohs(skb->protocol);
	m.pkt_type = skb->pkt_type;
	m.seq = __sync_fetch_and_add(&next_seq, 1) + 1;
	if (bpf_perf_event_output(skb, &events, ((u64)cap << 32) | BPF_F_CURRENT_CPU, &m, sizeof(m))) {
		bump(2);
		return TCX_NEXT;
	}
	{
		u64 addr = (u64)bpf_cast_to_kern_ctx(skb);

		bpf_map_update_elem(&inflight, &addr, &m.seq, BPF_ANY);
	}
	return TCX_NEXT;
}

/* A captured packet dropped later (at this hook's programs or anywhere after): tell user space,
 * which holds packets briefly to put the reason in their comment. */
SEC("tracepoint/skb/kfree_skb")
int capture_kfree_skb(struct trace_event_raw_kfree_skb *ctx)
{
	u64 addr = (u64)ctx->skbaddr, *seq = bpf_map_lookup_elem(&inflight, &addr);
	struct capture_meta m = {};

	if (!seq)
		return 0;
	m.ts_ns = bpf_ktime_get_ns();
	m.seq = *seq;
	m.idb = idb;
	m.kind = 1;
	m.reason = ctx->reason;
	bpf_map_delete_elem(&inflight, &addr);
	bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU, &m, sizeof(m));
	return 0;
}

/* Delivered: forget it, so a later skb at the same address is not taken for it. */
SEC("tracepoint/skb/consume_skb")
int capture_consume_skb(struct trace_event_raw_consume_skb *ctx)
{
	u64 addr = (u64)ctx->skbaddr;

	bpf_map_delete_elem(&inflight, &addr);
	return 0;
}

#endif /* CAPTURE_XDP */

NETBPF_LICENSE("GPL");
