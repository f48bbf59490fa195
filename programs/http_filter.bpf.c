/* http_filter: a socket filter (AF_PACKET, SOCK_RAW) that keeps only TCP segments carrying the
 * start of an HTTP/1.x message, and the continuation segments of a request line that did not
 * end in its first segment.
 *
 * Kept: segments whose payload starts with "GET ", "POST ", "PUT ", "DELETE ", "HEAD ",
 * "OPTIONS ", "PATCH ", "CONNECT ", "TRACE " or "HTTP/1.", over IPv4 (options skipped through
 * IHL, non-first fragments ignored) or IPv6 (up to 6 extension headers), with or without a VLAN
 * tag (in the frame, up to two, or in skb metadata). When a request segment has no LF, its flow
 * goes into `sessions` (LRU) and every later segment of that flow is kept until one carries an
 * LF or the line passes HTTP_LINE_MAX bytes; user space reassembles the line and removes
 * sessions it gives up on. Everything else is dropped (return 0).
 *
 * `want_vlan` (set before load): 0 keeps every VLAN and untagged frames, N keeps only VLAN N. */
#include "http_parse.h"

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct http_flow);
	__type(value, struct http_session);
} sessions SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, HTTP_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} http_stats SEC(".maps");

const volatile __u16 want_vlan = 0;

static __always_inline void stat(__u32 index)
{
	__u64 *v = bpf_map_lookup_elem(&http_stats, &index);

	if (v)
		*v += 1;
}

SEC("socket")
int http_filter(struct __sk_buff *skb)
{
	struct http_pkt p = {};
	struct http_session *s;
	__u32 method_len = 0;
	int kind;

	if (!http_parse(skb, &p)) {
		if (p.fragment)
			stat(HTTP_STAT_FRAGMENT);
		return 0;
	}
	if (want_vlan && p.vlan != want_vlan) {
		stat(HTTP_STAT_VLAN_OTHER);
		return 0;
	}

	kind = http_classify(skb, p.payload_off, p.payload_len, &method_len);
	if (kind == HTTP_RESPONSE) {
		stat(HTTP_STAT_RESPONSE);
		return skb->len;
	}
	if (kind == HTTP_REQUEST) {
		stat(HTTP_STAT_REQUEST);
		/* A line longer than HTTP_LINE_MAX in one segment is already too long: user space
		 * reports it from this segment alone. */
		if (p.payload_len <= HTTP_LINE_MAX && !http_line_ends(skb, p.payload_off, p.payload_len)) {
			struct http_session fresh = {
				.last_ns = bpf_ktime_get_ns(),
				.start_seq = p.seq,
				.segments = 1,
			};

			bpf_map_update_elem(&sessions, &p.flow, &fresh, BPF_ANY);
			stat(HTTP_STAT_SESSION_OPEN);
		}
		return skb->len;
	}

	s = bpf_map_lookup_elem(&sessions, &p.flow);
	if (!s)
		return 0;
	stat(HTTP_STAT_CONTINUATION);
	if (http_line_ends(skb, p.payload_off, p.payload_len)) {
		bpf_map_delete_elem(&sessions, &p.flow);
		stat(HTTP_STAT_SESSION_END);
	} else if (p.seq + p.payload_len - s->start_seq > HTTP_LINE_MAX) {
		/* Past the limit: this segment shows user space the line is too long; no more. */
		bpf_map_delete_elem(&sessions, &p.flow);
		stat(HTTP_STAT_SESSION_CAP);
	} else {
		s->last_ns = bpf_ktime_get_ns();
		s->segments += 1;
	}
	return skb->len;
}

char LICENSE[] SEC("license") = "GPL";
