/* Layouts shared by programs/http_filter.bpf.c, programs/http_block.bpf.c and the Swift
 * controller (imported through the CNetBPFProgramTypes target: Sources/NetBPFControllers/HTTP*.swift
 * uses these structs and enums as they are). Every struct is free of implicit padding. */
#ifndef NETBPF_HTTP_FILTER_H
#define NETBPF_HTTP_FILTER_H

#include <linux/types.h>

/* Longest request line user space reassembles; the sessions map stops passing continuation
 * segments once a line has grown past it. */
#define HTTP_LINE_MAX 8192

/* A TCP flow in one direction (the sessions map key). Addresses in network byte order; an IPv4
 * address fills the first 4 bytes and the other 12 are zero. Ports in network byte order.
 * sizeof == 40. */
struct http_flow {
	__u8 saddr[16];
	__u8 daddr[16];
	__u16 sport;
	__u16 dport;
	__u8 family; /* 4 or 6 */
	__u8 pad[3];
};

/* A request line that has not ended yet (no LF seen). sizeof == 16. */
struct http_session {
	__u64 last_ns;   /* bpf_ktime_get_ns() of the last segment passed */
	__u32 start_seq; /* TCP sequence number of the line's first byte */
	__u32 segments;  /* segments passed for this line */
};

/* Indices of the per-CPU `http_stats` array of http_filter.bpf.c. */
enum http_filter_stat {
	HTTP_STAT_REQUEST = 0,     /* segments starting with a request line */
	HTTP_STAT_RESPONSE,        /* segments starting with "HTTP/1." */
	HTTP_STAT_CONTINUATION,    /* continuation segments of an open request line */
	HTTP_STAT_SESSION_OPEN,    /* request lines that did not end in their first segment */
	HTTP_STAT_SESSION_END,     /* ... that ended (LF seen) in a continuation */
	HTTP_STAT_SESSION_CAP,     /* ... that passed HTTP_LINE_MAX: no more continuations */
	HTTP_STAT_FRAGMENT,        /* IPv4/IPv6 fragments other than the first (not parsed) */
	HTTP_STAT_VLAN_OTHER,      /* frames of another VLAN than the one asked for */
	HTTP_STAT_MAX,
};

/* The block list of http_block.bpf.c: an LPM trie over (kind, bytes). A path entry matches
 * every request whose target starts with it (prefix length = 8 * (1 + bytes)); a host entry
 * carries a NUL after the name, so it matches that Host exactly (port and case ignored).
 * sizeof == 72 (4 + 1 + 64 + 3; the pad is part of the key and always zero). */
#define HTTP_BLOCK_BYTES 64
/* The kind byte (an enum rather than character macros, which Swift does not import). */
enum http_block_kind {
	HTTP_BLOCK_KIND_HOST = 'H',
	HTTP_BLOCK_KIND_PATH = 'P',
};

struct http_block_key {
	__u32 prefixlen; /* in bits, counting the kind byte */
	__u8 kind;
	__u8 data[HTTP_BLOCK_BYTES];
	__u8 pad[3];
};

/* sizeof == 16. */
struct http_block_value {
	__u64 hits;    /* requests dropped by this entry */
	__u64 last_ns; /* bpf_ktime_get_ns() of the last drop */
};

/* Indices of the per-CPU `block_stats` array of http_block.bpf.c. */
enum http_block_stat {
	BLOCK_STAT_REQUESTS = 0,   /* request segments inspected */
	BLOCK_STAT_DROP_PATH,      /* dropped: path prefix listed */
	BLOCK_STAT_DROP_HOST,      /* dropped: host listed */
	BLOCK_STAT_NO_HOST,        /* no complete Host header in the inspected window */
	BLOCK_STAT_MAX,
};

#endif /* NETBPF_HTTP_FILTER_H */
