// SPDX-License-Identifier: GPL-2.0
/* A UDP traffic generator for `netbpf prog run --live` on kernels that refuse XDP live frames
 * (this project's 6.18 VMs answer BPF_F_TEST_XDP_LIVE_FRAMES with EPERM; see docs/loader.md,
 * "Live frames"). A plain BPF_PROG_TEST_RUN of this tc program (3.x helpers only) sends
 * skb->cb[0] copies of the --data frame per run with bpf_clone_redirect() into the receive path
 * of the interface the run's context names (__sk_buff.ifindex; BPF_F_INGRESS: as if received
 * there, so tc ingress and packet sockets see it; build with -D GEN_EGRESS to send it out of
 * that interface instead). The kernel's test run re-enables softirqs after every run, so each
 * burst is delivered (the backlog queue drained) before the next.
 *
 * Like xdp_udp_gen.bpf.c: exactly one frame in GEN_MATCH_EVERY goes to UDP port GEN_MATCH_PORT,
 * the others to GEN_OTHER_PORT, and the UDP checksum is set to 0 (none). The port is written
 * only when it changes (bpf_skb_store_bytes un-shares the buffer from the clones already sent).
 * The return value is the number of frames not sent since the program was loaded (a failed
 * clone), so the caller can count exactly: the test run reports the last run's return value. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/pkt_cls.h>
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
#ifdef GEN_EGRESS
#define GEN_FLAGS 0
#else
#define GEN_FLAGS BPF_F_INGRESS
#endif
#define GEN_MAX_BURST 256

#define IP_OFF ETH_HLEN
#define UDP_DPORT_OFF (ETH_HLEN + 20 + 2)
#define UDP_CSUM_OFF (ETH_HLEN + 20 + 6)

/* Frames sent so far, and frames that could not be (one test run executes on one CPU). */
__u64 generated = 0;
__u32 failed = 0;

SEC("tc")
int tc_udp_gen(struct __sk_buff *skb)
{
	__u32 burst = skb->cb[0] ? skb->cb[0] : 1, ifindex = skb->ifindex;
	__u8 vihl = 0, proto = 0;
	__u16 port = 0, zero = 0;
	int udp = 0;

	if (skb->protocol == bpf_htons(ETH_P_IP) && bpf_skb_load_bytes(skb, IP_OFF, &vihl, 1) == 0 &&
	    bpf_skb_load_bytes(skb, IP_OFF + 9, &proto, 1) == 0 && vihl == 0x45 && proto == IPPROTO_UDP &&
	    bpf_skb_load_bytes(skb, UDP_DPORT_OFF, &port, 2) == 0 &&
	    bpf_skb_store_bytes(skb, UDP_CSUM_OFF, &zero, 2, 0) == 0)
		udp = 1;
	for (__u32 i = 0; i < GEN_MAX_BURST && i < burst; i++) {
		__u16 want = bpf_htons(generated % GEN_MATCH_EVERY == 0 ? GEN_MATCH_PORT : GEN_OTHER_PORT);

		if (udp && want != port) {
			if (bpf_skb_store_bytes(skb, UDP_DPORT_OFF, &want, 2, 0)) {
				failed++;
				continue;
			}
			port = want;
		}
		if (bpf_clone_redirect(skb, ifindex, GEN_FLAGS) == 0)
			generated++;
		else
			failed++;
	}
	return failed;
}

char LICENSE[] SEC("license") = "GPL";
