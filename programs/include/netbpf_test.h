/* Shared record and key layouts used by the BPF C test programs in programs/,
 * importable by the Swift tests through the CNetBPFProgramTypes target. Keep
 * every struct free of implicit padding. */
#ifndef NETBPF_TEST_H
#define NETBPF_TEST_H

#include <linux/types.h>

/* Key of the LPM trie in maps_all.bpf.c: prefix length in bits, then an
 * IPv4 address in network byte order. sizeof == 8. */
struct lpm_v4_key {
	__u32 prefixlen;
	__u8 addr[4];
};

/* One ring buffer / perf buffer record from ringbuf_tp.bpf.c. sizeof == 8. */
struct event_rec {
	__u64 seq;
};

/* Indices into the `counters` array of count_packets.bpf.c. */
#define NETBPF_CNT_PACKETS 0
#define NETBPF_CNT_BYTES 1

#endif /* NETBPF_TEST_H */
