/* http_block: a tc classifier (direct action) for the ingress of a server-side interface that
 * drops TCP segments carrying an HTTP/1.x request whose path starts with, or whose Host is, an
 * entry of `block_list`. The client's retransmissions are dropped the same way, so a blocked
 * request never reaches the server and the client times out.
 *
 * `block_list` is an LPM trie keyed by (kind, bytes) (programs/include/http_filter.h):
 *   path 'P' + up to 64 bytes: matches requests whose target starts with those bytes;
 *   host 'H' + name + NUL: matches that Host exactly, lower-cased, port removed.
 * One lookup per kind finds the longest matching entry, however many entries there are; user
 * space changes entries at any time (netbpf http-filter block add|del) and the next packet sees
 * them.
 *
 * Limits: only the segment that starts the request is inspected (the request line and Host must
 * be in it; Host only within its first HTTP_BLOCK_WINDOW bytes), paths compare as sent (no
 * percent-decoding or dot-segment removal), at most 64 bytes of a path are compared, hosts longer
 * than 63 bytes are not compared, and only requests at the start of a segment are seen (a second
 * pipelined request behind another in the same segment is not). It blocks plain HTTP only.
 *
 * Everything else gets TC_ACT_UNSPEC: continue with the next program / the default (pass). */
#include <linux/pkt_cls.h>
#include "http_parse.h"

#define HTTP_BLOCK_WINDOW 1024 /* a power of two: indexes are masked with WINDOW - 1 */

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1024);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct http_block_key);
	__type(value, struct http_block_value);
} block_list SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, BLOCK_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} block_stats SEC(".maps");

/* The start of the request's payload, and the key being built (too big for the stack together). */
struct block_scratch {
	__u8 data[HTTP_BLOCK_WINDOW];
	struct http_block_key key;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct block_scratch);
} block_scratch SEC(".maps");

static __always_inline void stat(__u32 index)
{
	__u64 *v = bpf_map_lookup_elem(&block_stats, &index);

	if (v)
		*v += 1;
}

static __always_inline int listed(struct http_block_key *key)
{
	struct http_block_value *v = bpf_map_lookup_elem(&block_list, key);

	if (!v)
		return 0;
	__sync_fetch_and_add(&v->hits, 1);
	v->last_ns = bpf_ktime_get_ns();
	return 1;
}

/* The loops run under bpf_loop: each callback is verified once, not once per iteration and
 * per path through the loops before it. */

/* Finding "\nHost:" (any case) in the window. */
struct host_find {
	struct block_scratch *sc;
	__u32 len; /* bytes of the window filled */
	__u32 at;  /* the byte after "host:", when found */
};

static long host_find_step(__u32 i, void *data)
{
	struct host_find *h = data;
	__u8 *b = h->sc->data;
	const __u32 m = HTTP_BLOCK_WINDOW - 1;

	if (i + 6 > h->len)
		return 1;
	if (b[i & m] != '\n')
		return 0;
	if ((b[(i + 1) & m] | 0x20) == 'h' && (b[(i + 2) & m] | 0x20) == 'o' && (b[(i + 3) & m] | 0x20) == 's' &&
	    (b[(i + 4) & m] | 0x20) == 't' && b[(i + 5) & m] == ':') {
		h->at = i + 6;
		return 1;
	}
	return 0;
}

/* Copying the path or the host name from the window into the key. */
struct key_copy {
	struct block_scratch *sc;
	__u32 pos;     /* next byte of the window */
	__u32 n;       /* bytes of the window filled */
	__u32 len;     /* bytes written to key.data */
	__u8 host;     /* copying a host name (lower-case, stop at the port) */
	__u8 started;  /* past the white space before a host name */
	__u8 bracket;  /* an IPv6 literal: [..] */
	__u8 ended;    /* the name ended inside the window */
};

static long key_copy_step(__u32 i, void *data)
{
	struct key_copy *k = data;
	const __u32 m = HTTP_BLOCK_WINDOW - 1;
	__u8 c;

	if (k->pos >= k->n)
		return 1;
	c = k->sc->data[k->pos & m];
	if (!k->host) {
		if (c == ' ' || c == '\r' || c == '\n' || k->len >= HTTP_BLOCK_BYTES)
			return 1;
	} else {
		if (!k->started && (c == ' ' || c == '\t')) {
			k->pos++;
			return 0;
		}
		k->started = 1;
		if (c == '\r' || c == '\n' || c == ' ' || c == '\t' || (c == ':' && !k->bracket)) {
			k->ended = 1;
			return 1;
		}
		if (k->len >= HTTP_BLOCK_BYTES - 1) /* room for the NUL */
			return 1;
		if (c >= 'A' && c <= 'Z')
			c += 'a' - 'A';
		if (c == '[' && k->len == 0)
			k->bracket = 1;
	}
	k->sc->key.data[k->len & (HTTP_BLOCK_BYTES - 1)] = c;
	k->len++;
	k->pos++;
	if (k->host && c == ']' && k->bracket) {
		k->ended = 1;
		return 1;
	}
	return 0;
}

SEC("tc")
int http_block(struct __sk_buff *skb)
{
	const __u32 m = HTTP_BLOCK_WINDOW - 1;
	struct http_pkt p = {};
	struct block_scratch *sc;
	struct host_find hf = {};
	struct key_copy kc = {};
	__u32 zero = 0, method_len = 0, n;

	if (!http_parse(skb, &p))
		return TC_ACT_UNSPEC;
	if (http_classify(skb, p.payload_off, p.payload_len, &method_len) != HTTP_REQUEST)
		return TC_ACT_UNSPEC;
	stat(BLOCK_STAT_REQUESTS);

	sc = bpf_map_lookup_elem(&block_scratch, &zero);
	if (!sc)
		return TC_ACT_UNSPEC;
	n = p.payload_len;
	if (n > HTTP_BLOCK_WINDOW)
		n = HTTP_BLOCK_WINDOW;
	asm volatile("" : "+r"(n));
	n = ((n - 1) & m) + 1; /* 1..WINDOW, in a form the verifier tracks */
	if (bpf_skb_load_bytes(skb, p.payload_off, sc->data, n) < 0)
		return TC_ACT_UNSPEC;

	/* The path: the request target's first bytes, up to a space or the line's end. */
	__builtin_memset(&sc->key, 0, sizeof(sc->key));
	sc->key.kind = HTTP_BLOCK_KIND_PATH;
	kc.sc = sc;
	kc.pos = method_len;
	kc.n = n;
	bpf_loop(HTTP_BLOCK_BYTES, key_copy_step, &kc, 0);
	if (kc.len > 0) {
		sc->key.prefixlen = 8 * (1 + kc.len);
		if (listed(&sc->key)) {
			stat(BLOCK_STAT_DROP_PATH);
			return TC_ACT_SHOT;
		}
	}

	/* The Host header, when it is in the window. */
	hf.sc = sc;
	hf.len = n;
	bpf_loop(HTTP_BLOCK_WINDOW, host_find_step, &hf, 0);
	if (!hf.at) {
		stat(BLOCK_STAT_NO_HOST);
		return TC_ACT_UNSPEC;
	}
	__builtin_memset(&sc->key, 0, sizeof(sc->key));
	sc->key.kind = HTTP_BLOCK_KIND_HOST;
	__builtin_memset(&kc, 0, sizeof(kc));
	kc.sc = sc;
	kc.pos = hf.at;
	kc.n = n;
	kc.host = 1;
	bpf_loop(HTTP_BLOCK_BYTES + 8, key_copy_step, &kc, 0);
	/* A name that ran past the window or past 63 bytes is not compared. */
	if (!kc.ended || kc.len == 0) {
		stat(BLOCK_STAT_NO_HOST);
		return TC_ACT_UNSPEC;
	}
	/* The NUL after the name (already zero) is part of the prefix: exact match. */
	sc->key.prefixlen = 8 * (1 + kc.len + 1);
	if (listed(&sc->key)) {
		stat(BLOCK_STAT_DROP_HOST);
		return TC_ACT_SHOT;
	}
	return TC_ACT_UNSPEC;
}

char LICENSE[] SEC("license") = "GPL";
