// SPDX-License-Identifier: GPL-2.0
/* A UDP traffic generator for `netbpf prog run --live` (BPF_PROG_TEST_RUN with
 * BPF_F_TEST_XDP_LIVE_FRAMES, Linux 5.18; docs/loader.md, "Live frames").
 *
 * The kernel runs this once per frame on a copy of the frame given with --data (Ethernet, IPv4
 * without options, UDP). It sets the UDP destination port so that exactly one frame in
 * GEN_MATCH_EVERY goes to GEN_MATCH_PORT and the rest to GEN_OTHER_PORT (a capture filter like
 * `udp dst port 9` then matches a known share), and returns GEN_ACTION: XDP_PASS delivers the
 * frame into the stack of the --live interface as if it had been received there (tc ingress and
 * AF_PACKET sockets see it); XDP_TX sends it out of that interface.
 *
 * The port is written on every run: live mode recycles its pages without copying the frame in
 * again, so a run may see the original bytes or what an earlier run wrote. The UDP checksum is
 * set to 0 ("none", allowed over IPv4) so the port can change without recomputing it.
 * Override with -D, e.g. `-D GEN_MATCH_EVERY=1` (every frame matches). */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#ifndef GEN_MATCH_PORT
#define GEN_MATCH_PORT 9
#endif
#ifndef GEN_OTHER_PORT
#define GEN_OTHER_PORT 10
#endif
#ifndef GEN_MATCH_EVERY
#define GEN_MATCH_EVERY 100
#endif
#ifndef GEN_ACTION
#define GEN_ACTION XDP_PASS
#endif

/* Frames generated so far (by this load of the program). One test run executes on one CPU at a
 * time, so a plain increment is exact; userspace may read it back from .bss. */
__u64 generated = 0;
/* Frames that were not Ethernet/IPv4/UDP and went out unchanged. */
__u64 not_udp = 0;

SEC("xdp")
int xdp_udp_gen(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct udphdr *udp = (void *)(ip + 1);
	__u64 n = generated;

	generated = n + 1;
	if ((void *)(udp + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP) ||
	    ip->ihl != 5 || ip->protocol != IPPROTO_UDP) {
		not_udp++;
		return GEN_ACTION;
	}
	udp->dest = bpf_htons(n % GEN_MATCH_EVERY == 0 ? GEN_MATCH_PORT : GEN_OTHER_PORT);
	udp->check = 0;
	return GEN_ACTION;
}

char LICENSE[] SEC("license") = "GPL";
