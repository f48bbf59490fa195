// tcprtt: TCP round-trip times (the socket's smoothed RTT at each received segment) as log2
// histograms (BCC's and libbpf-tools' tcprtt). Both read tcp_sock->srtt_us >> 3 on entry to
// tcp_rcv_established() (kprobe/fentry); tcp:tcp_probe fires at that very place and carries
// the same value, so this needs no kprobe.
#include "vmlinux.h"
#include <netbpf.h>

#define AF_INET 2
#define AF_INET6 10
#define SLOTS 27

/* Layouts mirrored by Sources/NetBPFTracing/Tools/Tcprtt.swift. */
struct rtt_key {
	u16 family;     /* 0 for the histogram of all addresses */
	u16 _pad;
	u8 addr[16];
};
struct rtt_hist {
	u64 latency;    /* sum, for -e's average */
	u64 count;
	u32 slots[SLOTS];
	u32 _pad;
};
_Static_assert(sizeof(struct rtt_hist) == 128, "rtt_hist layout");

/* tcp:tcp_probe's record as tracefs describes it (4.16+; addresses as sockaddr_in/in6). */
struct probe_args {
	u64 common;
	u8 saddr[28];
	u8 daddr[28];
	u16 sport;
	u16 dport;
	u16 family;
	u16 _pad;
	u32 mark;
	u16 data_len;
	u16 _pad2;
	u32 snd_nxt;
	u32 snd_una;
	u32 snd_cwnd;
	u32 ssthresh;
	u32 snd_wnd;
	u32 srtt;
};

const volatile u16 target_lport = 0;
const volatile u16 target_rport = 0;
const volatile u16 target_laddr_family = 0;
const volatile u8 target_laddr[16] = {};
const volatile u16 target_raddr_family = 0;
const volatile u8 target_raddr[16] = {};
const volatile bool laddr_hist = false;
const volatile bool raddr_hist = false;
const volatile bool in_millis = false;

BPF_HASH(hists, struct rtt_key, struct rtt_hist, 1024);

/* The address of a sockaddr_in/in6 (at +4 or +8) into a 16-byte buffer. */
static __always_inline void sockaddr_addr(u8 *dst, const u8 *sa, u16 family)
{
	__builtin_memset(dst, 0, 16);
	if (family == AF_INET)
		bpf_probe_read_kernel(dst, 4, sa + 4);
	else
		bpf_probe_read_kernel(dst, 16, sa + 8);
}

static __always_inline bool same16(const u8 *a, const volatile u8 *b)
{
	for (int i = 0; i < 16; i++)
		if (a[i] != b[i])
			return false;
	return true;
}

SEC("tracepoint/tcp/tcp_probe")
int tcprtt_probe(struct probe_args *ctx)
{
	u16 family = ctx->family;
	struct rtt_key key = {};
	struct rtt_hist *h, zero = {};
	u8 laddr[16], raddr[16];
	u64 srtt;
	u32 slot;

	if (family != AF_INET && family != AF_INET6)
		return 0;
	if (target_lport && ctx->sport != target_lport)
		return 0;
	if (target_rport && ctx->dport != target_rport)
		return 0;
	sockaddr_addr(laddr, ctx->saddr, family);
	sockaddr_addr(raddr, ctx->daddr, family);
	if (target_laddr_family && (family != target_laddr_family || !same16(laddr, target_laddr)))
		return 0;
	if (target_raddr_family && (family != target_raddr_family || !same16(raddr, target_raddr)))
		return 0;

	if (laddr_hist) {
		key.family = family;
		__builtin_memcpy(key.addr, laddr, 16);
	} else if (raddr_hist) {
		key.family = family;
		__builtin_memcpy(key.addr, raddr, 16);
	}
	h = netbpf_lookup_or_init(&hists, &key, &zero);
	if (!h)
		return 0;
	srtt = ctx->srtt;
	if (in_millis)
		srtt /= 1000;
	slot = netbpf_log2l(srtt);
	if (slot >= SLOTS)
		slot = SLOTS - 1;
	__sync_fetch_and_add(&h->slots[slot], 1);
	__sync_fetch_and_add(&h->latency, srtt);
	__sync_fetch_and_add(&h->count, 1);
	return 0;
}

NETBPF_LICENSE("GPL");
