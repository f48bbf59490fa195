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

/* The start of the request's payload (read a word at a time when looking for the Host
 * header), and the key being built: too big for the stack together. Packed so that the key's
 * data starts 8-aligned (at 1032) and is read and written a word at a time. */
struct block_scratch {
	__u8 data[HTTP_BLOCK_WINDOW];
	__u8 align[3];
	struct http_block_key key;
} __attribute__((packed));

static __always_inline __u64 *key_words(struct block_scratch *sc)
{
	return __builtin_assume_aligned(sc->key.data, 8);
}

static __always_inline void key_reset(struct block_scratch *sc, __u8 kind)
{
	__u64 *words = key_words(sc);

#pragma unroll
	for (int k = 0; k < HTTP_BLOCK_BYTES / 8; k++)
		words[k] = 0;
	sc->key.kind = kind;
	sc->key.pad[0] = sc->key.pad[1] = sc->key.pad[2] = 0;
}

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

static __always_inline int listed(void *key) /* a struct http_block_key, maybe unaligned */
{
	struct http_block_value *v = bpf_map_lookup_elem(&block_list, key);

	if (!v)
		return 0;
	__sync_fetch_and_add(&v->hits, 1);
	v->last_ns = bpf_ktime_get_ns();
	return 1;
}

/* Word-at-a-time helpers (SWAR): a byte equal to c; upper-case ASCII letters; the index of the
 * lowest flagged byte (8 when none), without branches. */
#define REP(c) (0x0101010101010101ULL * (__u8)(c))
#define HIGH 0x8080808080808080ULL

static __always_inline __u64 bytes_equal(__u64 w, __u8 c)
{
	__u64 x = w ^ REP(c);

	return (x - REP(1)) & ~x & HIGH; /* exact for the lowest match, which is all we use */
}

static __always_inline __u64 to_lower(__u64 w)
{
	__u64 low7 = w & ~HIGH;
	__u64 above_z = low7 + REP(0x7f - 'Z');
	__u64 from_a = low7 + REP(0x80 - 'A');
	__u64 upper = (from_a ^ above_z) & ~w & HIGH;

	return w | (upper >> 2);
}

static __always_inline __u64 first_flagged(__u64 m)
{
	__u64 lowest = m & (~m + 1);

	return ((((lowest >> 7) - 1) & REP(1)) * REP(1)) >> 56;
}

/* Finding "\nHost:" (any case) in the window, 8 bytes a step. */
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
	__u32 base = i * 8;
	__u64 w;

	if (base >= h->len)
		return 1;
	w = *(__u64 *)(b + (base & (m & ~7U)));
	if (!bytes_equal(w, '\n'))
		return 0;
#pragma unroll
	for (int j = 0; j < 8; j++) {
		__u32 p = base + j;

		if (b[p & m] == '\n' && p + 6 <= h->len && (b[(p + 1) & m] | 0x20) == 'h' && (b[(p + 2) & m] | 0x20) == 'o' &&
		    (b[(p + 3) & m] | 0x20) == 's' && (b[(p + 4) & m] | 0x20) == 't' && b[(p + 5) & m] == ':') {
			h->at = p + 6;
			return 1;
		}
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
	__u32 zero = 0, method_len = 0, n, at, len, done, bracket;
	__u64 *words;

	if (!http_parse(skb, &p))
		return TC_ACT_UNSPEC;
	if (http_classify(skb, p.payload_off, p.payload_len, &method_len) != HTTP_REQUEST)
		return TC_ACT_UNSPEC;
	stat(BLOCK_STAT_REQUESTS);
	sc = bpf_map_lookup_elem(&block_scratch, &zero);
	if (!sc)
		return TC_ACT_UNSPEC;

	/* The path: up to 64 bytes of the line after the method, straight into the key. Entries
	 * hold no spaces or line ends, so an entry that is a prefix of these bytes is a prefix of
	 * the target: the line's rest need not be cut off. */
	key_reset(sc, HTTP_BLOCK_KIND_PATH);
	if (p.payload_len > method_len) {
		n = p.payload_len - method_len;
		if (n > HTTP_BLOCK_BYTES)
			n = HTTP_BLOCK_BYTES;
		asm volatile("" : "+r"(n));
		n = ((n - 1) & (HTTP_BLOCK_BYTES - 1)) + 1;
		if (bpf_skb_load_bytes(skb, p.payload_off + method_len, sc->key.data, n) == 0) {
			sc->key.prefixlen = 8 * (1 + n);
			if (listed((__u8 *)sc + offsetof(struct block_scratch, key))) {
				stat(BLOCK_STAT_DROP_PATH);
				return TC_ACT_SHOT;
			}
		}
	}

	/* The Host header, when it is in the window. */
	n = p.payload_len;
	if (n > HTTP_BLOCK_WINDOW)
		n = HTTP_BLOCK_WINDOW;
	asm volatile("" : "+r"(n));
	n = ((n - 1) & m) + 1; /* 1..WINDOW, in a form the verifier tracks */
	if (bpf_skb_load_bytes(skb, p.payload_off, sc->data, n) < 0)
		return TC_ACT_UNSPEC;
	hf.sc = sc;
	hf.len = n;
	bpf_loop(HTTP_BLOCK_WINDOW / 8, host_find_step, &hf, 0);
	at = hf.at;
	if (!at) {
		stat(BLOCK_STAT_NO_HOST);
		return TC_ACT_UNSPEC;
	}
	/* Optional white space (up to two bytes). */
	if (at < n && (sc->data[at & m] == ' ' || sc->data[at & m] == '\t'))
		at++;
	if (at < n && (sc->data[at & m] == ' ' || sc->data[at & m] == '\t'))
		at++;
	if (at >= n) {
		stat(BLOCK_STAT_NO_HOST);
		return TC_ACT_UNSPEC;
	}
	bracket = sc->data[at & m] == '[';

	/* Up to 64 bytes of the value into the key, lower-cased; the name ends at ':' (or after
	 * ']' for an IPv6 literal), white space or the line's end. */
	key_reset(sc, HTTP_BLOCK_KIND_HOST);
	len = p.payload_len - at;
	if (len > HTTP_BLOCK_BYTES)
		len = HTTP_BLOCK_BYTES;
	asm volatile("" : "+r"(len));
	len = ((len - 1) & (HTTP_BLOCK_BYTES - 1)) + 1;
	if (bpf_skb_load_bytes(skb, p.payload_off + at, sc->key.data, len) < 0)
		return TC_ACT_UNSPEC;
	words = key_words(sc);
	len = 0;
	done = 0;
#pragma unroll
	for (int k = 0; k < HTTP_BLOCK_BYTES / 8; k++) {
		__u64 w = to_lower(words[k]), stop, first;

		words[k] = w;
		/* Zero bytes (past the segment's end) do not end the name: a name cut by the end of
		 * the segment is not compared. */
		stop = bytes_equal(w, bracket ? ']' : ':') | bytes_equal(w, '\r') | bytes_equal(w, '\n') |
		       bytes_equal(w, ' ') | bytes_equal(w, '\t');
		first = first_flagged(stop);
		len += (__u32)first * (1 - done);
		done |= (__u32)((first >> 3) ^ 1);
	}
	if (!done || len == 0) {
		stat(BLOCK_STAT_NO_HOST); /* ran past 64 bytes or the segment, or empty */
		return TC_ACT_UNSPEC;
	}
	if (bracket) {
		if (sc->key.data[len & (HTTP_BLOCK_BYTES - 1)] != ']') {
			stat(BLOCK_STAT_NO_HOST);
			return TC_ACT_UNSPEC;
		}
		len++; /* keep the ']' */
	}
	if (len > HTTP_BLOCK_BYTES - 1) {
		stat(BLOCK_STAT_NO_HOST);
		return TC_ACT_UNSPEC;
	}
	/* The NUL after the name is part of the prefix: exact match. */
	sc->key.data[len & (HTTP_BLOCK_BYTES - 1)] = 0;
	sc->key.prefixlen = 8 * (1 + len + 1);
	if (listed((__u8 *)sc + offsetof(struct block_scratch, key))) {
		stat(BLOCK_STAT_DROP_HOST);
		return TC_ACT_SHOT;
	}
	return TC_ACT_UNSPEC;
}

char LICENSE[] SEC("license") = "GPL";
