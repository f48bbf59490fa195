/* The record programs/tc_icmp6_events.bpf.c puts in its ring buffer for every ICMPv6 echo
 * request leaving an interface (56 bytes, no implicit padding); Swift imports it through the
 * CNetBPFProgramTypes target and Sources/NetBPFControllers/ICMPv6EchoEvent.swift reads records
 * as this struct. The integer fields are in host order, the addresses in network order. */
#ifndef NETBPF_TC_ICMP6_EVENTS_H
#define NETBPF_TC_ICMP6_EVENTS_H

#include <linux/types.h>

struct icmp6_echo_event {
	__u64 timestamp_ns;  /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u8 src[16];        /* IPv6 source, network order */
	__u8 dst[16];        /* IPv6 destination, network order */
	__u32 ifindex;       /* skb->ifindex: the interface the packet leaves by */
	__u32 len;           /* skb->len: the packet from its link-layer header on (Ethernet
	                      * devices: Ethernet header included; L3 devices such as tun,
	                      * wireguard, ip6tnl: from the IPv6 header) */
	__u16 id;            /* echo identifier, little-endian (x86/arm64 host order) */
	__u16 seq;           /* echo sequence number, little-endian (x86/arm64 host order) */
	__u8 hop_limit;
	__u8 pad[3];
};

#define ICMP6_EVENTS_RINGBUF_BYTES (256 * 1024)

#endif
