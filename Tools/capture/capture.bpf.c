// capture: packets at a tc hook (tcx), filtered in the kernel by a pcap expression and sent
// with their metadata to user space through a perf buffer, which copies the packet bytes from
// the skb itself (bpf_perf_event_output with the skb as context and the length in the flags'
// upper half).
//
// The program comes in 8 copies (capture_tc0..7, TCXProbePlacement.slots) that netbpf places like trace packet's
// probes (Sources/NetBPFTracing/TCXProbePlacement.swift): copy 0 before the hook's first
// program, copy k before the k+1-th, the next one after the last. Copy 0 records the packet;
// the others only note that they saw it (kind 2: its number and the slot), so user space knows
// which program ended the packet's way through the hook, and skb:kfree_skb (a raw tracepoint) whether that was a
// drop (kind 1). Kernel: tcx (6.6), bpf_cast_to_kern_ctx (6.3), kfree_skb reasons (5.17).
//
// One object is loaded per (namespace, interface, hook); `idb` is that hook's pcap-ng interface
// number. Compiled with CAPTURE_XDP defined, the same file gives the XDP variant instead: one
// SEC("xdp") program that copies the frame (bpf_xdp_load_bytes and perf output of the xdp_md,
// Linux 5.18) and passes it on; it needs the interface's XDP hook to be free (no copies, no
// verdicts). The filter is netbpf_pcap_match() from Sources/NetBPFTracing/PcapToC.swift, pasted at
// the NETBPF_PCAP_FILTER_HERE line with NETBPF_PCAP_FILTER defined; its loads use
// bpf_skb_load_bytes, from the Ethernet header, where tc's data starts.
#include "vmlinux.h"
#include <netbpf.h>
#include <bpf/bpf_core_read.h>

#define TCX_NEXT -1

/* Layout mirrored by Sources/NetBPFTracing/Tools/Capture.swift. */
struct capture_meta {
	u64 ts_ns;      /* bpf_ktime_get_ns */
	u64 seq;        /* this packet's number (kind 0), or the dropped (1) or seen (2) packet's */
	u32 idb;
	u32 len;        /* skb->len */
	u32 caplen;     /* bytes that follow */
	u32 mark;
	u32 ifindex;    /* kind 1: the device it was dropped at (skb->dev), 0 without one */
	u32 priority;
	u16 protocol;   /* skb->protocol, host order */
	u8 pkt_type;    /* kind 1: 1 when dropped at the device it was captured on */
	u8 kind;        /* 0 a packet (its bytes follow), 1 a captured packet was dropped,
	                 * 2 a later copy (slot) saw a captured packet */
	u32 reason;     /* kind 1: enum skb_drop_reason; kind 2: the slot */
};
_Static_assert(sizeof(struct capture_meta) == 48, "capture_meta layout");

/* A captured packet, under the kernel sk_buff's address: skb:kfree_skb reports that address,
 * so a captured packet dropped later gets its reason, and the later copies find its number. */
struct inflight_pkt {
	u64 seq;
	u64 ts;         /* when copy 0 took it */
	u64 dev;        /* skb->dev then (the hook's device) */
};

/* The kernel's sk_buff behind the tc context (kfunc, 6.3). */
extern void *bpf_cast_to_kern_ctx(void *obj) __ksym;
BPF_LRU_HASH(inflight, u64, struct inflight_pkt, 16384);   /* kernel skb address -> packet */
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
/* Copy 0: the filter, then the packet and its metadata to user space. */
SEC("tc")
int capture_tc0(struct __sk_buff *skb)
{
	struct pkt_ctx p = { .skb = skb, .len = skb->len };
	struct capture_meta m = {};
	u32 cap = skb->len;

	bump(1);
#ifdef NETBPF_PCAP_FILTER
	if (!netbpf_pcap_match(&p)) {
		/* An entry at this skb's address is a captured packet freed without a tracepoint
		 * (TCP's receive path) whose memory came back: forget it, so this packet's fate at
		 * the later copies and at kfree_skb is not taken for that one's. */
		u64 addr = (u64)bpf_cast_to_kern_ctx(skb);

		bpf_map_delete_elem(&inflight, &addr);
		return TCX_NEXT;
	}
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
		struct sk_buff *k = bpf_cast_to_kern_ctx(skb);
		u64 addr = (u64)k;
		struct inflight_pkt f = { .seq = m.seq, .ts = m.ts_ns, .dev = (u64)BPF_CORE_READ(k, dev) };

		bpf_map_update_elem(&inflight, &addr, &f, BPF_ANY);
	}
	return TCX_NEXT;
}

/* Copies 1..7: a packet copy 0 took at this hook got this far (the program before
 * this copy handed it on). An entry older than 10 ms or from another device is another skb
 * that had the address (copy 0 leaves the entries of packets it does not take alone). */
static __always_inline int seen(struct __sk_buff *skb, u32 slot)
{
	struct sk_buff *k = bpf_cast_to_kern_ctx(skb);
	u64 addr = (u64)k, now = bpf_ktime_get_ns();
	struct inflight_pkt *f = bpf_map_lookup_elem(&inflight, &addr);
	struct capture_meta m = {};

	if (!f || now - f->ts > 10000000ULL || f->dev != (u64)BPF_CORE_READ(k, dev))
		return TCX_NEXT;
	m.ts_ns = now;
	m.seq = f->seq;
	m.idb = idb;
	m.kind = 2;
	m.reason = slot;
	if (bpf_perf_event_output(skb, &events, BPF_F_CURRENT_CPU, &m, sizeof(m)))
		bump(2); /* a lost note is a lost packet: its verdict would be wrong */
	return TCX_NEXT;
}

#define CAP_SLOT(n) \
	SEC("tc") int capture_tc##n(struct __sk_buff *skb) { return seen(skb, n); }

CAP_SLOT(1)
CAP_SLOT(2)
CAP_SLOT(3)
CAP_SLOT(4)
CAP_SLOT(5)
CAP_SLOT(6)
CAP_SLOT(7)

/* A captured packet dropped later (at this hook's programs or anywhere after): tell user space,
 * which holds packets briefly to put the reason in their comment. */
/* Raw tracepoints, not tracefs ones: these fire for every skb the machine frees, captured or
 * not, and a raw tracepoint calls the program with the arguments directly instead of first
 * filling a trace record (kfree_skb(skb, location, reason): reason since 5.17). */
SEC("raw_tp/kfree_skb")
int capture_kfree_skb(struct bpf_raw_tracepoint_args *ctx)
{
	struct sk_buff *skb = (struct sk_buff *)ctx->args[0];
	u64 addr = (u64)skb, now = bpf_ktime_get_ns();
	struct inflight_pkt *f = bpf_map_lookup_elem(&inflight, &addr);
	struct net_device *dev;
	struct capture_meta m = {};

	if (!f)
		return 0;
	/* Older than 2 s: a freed skb whose memory came back (a free without a tracepoint, as
	 * TCP's), not the packet captured. */
	if (now - f->ts > 2000000000ULL) {
		bpf_map_delete_elem(&inflight, &addr);
		return 0;
	}
	m.ts_ns = now;
	m.seq = f->seq;
	m.idb = idb;
	m.kind = 1;
	m.reason = (u32)ctx->args[2];
	dev = BPF_CORE_READ(skb, dev);
	if (dev)
		m.ifindex = BPF_CORE_READ(dev, ifindex);
	m.pkt_type = (u64)dev == f->dev;
	bpf_map_delete_elem(&inflight, &addr);
	if (bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU, &m, sizeof(m)))
		bump(2);
	return 0;
}

/* Delivered: forget it, so a later skb at the same address is not taken for it. */
SEC("raw_tp/consume_skb")
int capture_consume_skb(struct bpf_raw_tracepoint_args *ctx)
{
	u64 addr = ctx->args[0];

	bpf_map_delete_elem(&inflight, &addr);
	return 0;
}

#endif /* CAPTURE_XDP */

NETBPF_LICENSE("GPL");
