// biolatency: block I/O latency (issue to completion, or insert to completion with -Q) as
// log2 histograms, from the block:block_rq_* tracepoints. bitesize's sizes come along:
// the same requests at issue, bucketed by kilobytes, one histogram per issuing command
// (as BCC's and libbpf-tools' bitesize).
#include "vmlinux.h"
#include <netbpf.h>

#define SLOTS 27

struct rq_key {
	u32 dev;
	u32 _pad;
	u64 sector;
};

struct rq_start {
	u64 ts_ns;
	u32 bytes;
	u32 _pad;
};

/* Layouts mirrored by Sources/NetBPFTracing/Tools/Biolatency.swift. */
/* A latency histogram's key: the disk with -D, the request's rwbs letters with -F (0 otherwise). */
#define RWBS_KEY_LEN 16
struct hist_key {
	u32 dev;
	u32 _pad;
	char rwbs[RWBS_KEY_LEN];
};

struct bio_hist {
	u32 slots[SLOTS];
	u32 _pad;
};

const volatile bool per_disk = false;
const volatile bool per_flag = false;  /* -F: a histogram per set of request flags (rwbs) */
const volatile bool in_millis = false;
const volatile bool from_insert = false;
const volatile bool sizes = false;     /* bitesize: histogram of request sizes in KB */
const volatile u32 target_dev = 0;
const volatile char target_comm[16] = {};  /* bitesize -c: only this command ("" = all) */

/* -c CGROUP, as libbpf-tools (netbpf.h). */
NETBPF_CGROUP_FILTER()

/* bitesize's key: the command that issued the request. */
struct comm_key {
	char comm[16];
};

BPF_HASH(started, struct rq_key, struct rq_start, 16384);
BPF_HASH(hists, struct hist_key, struct bio_hist, 256);
BPF_HASH(size_hists, struct comm_key, struct bio_hist, 1024);

static __always_inline u32 hist_slot(u64 value)
{
	u32 slot = netbpf_log2l(value);

	return slot >= SLOTS ? SLOTS - 1 : slot;
}

/* bitesize: the request's size, counted at issue under the issuing task's comm. */
static __always_inline int count_size(u32 dev, u32 bytes)
{
	static const struct bio_hist blank;
	struct comm_key k = {};
	struct bio_hist *h;

	if (target_dev && dev != target_dev)
		return 0;
	bpf_get_current_comm(k.comm, sizeof(k.comm));
	if (target_comm[0]) {
		for (int i = 0; i < 16; i++) {
			if (k.comm[i] != target_comm[i])
				return 0;
			if (!k.comm[i])
				break;
		}
	}
	h = netbpf_lookup_or_init(&size_hists, &k, &blank);
	if (h)
		__sync_fetch_and_add(&h->slots[hist_slot(bytes / 1024)], 1);
	return 0;
}

static __always_inline int start(u32 dev, u64 sector, u32 bytes)
{
	struct rq_key k = { .dev = dev, .sector = sector };
	struct rq_start s = { .ts_ns = bpf_ktime_get_ns(), .bytes = bytes };

	if (target_dev && dev != target_dev)
		return 0;
	if (cgroup_refused())
		return 0;
	bpf_map_update_elem(&started, &k, &s, BPF_ANY);
	return 0;
}

/* Records are copied out first: field loads through a CO-RE-adjusted ctx pointer are refused. */
SEC("tracepoint/block/block_rq_insert")
int biolatency_insert(struct trace_event_raw_block_rq *ctx)
{
	struct trace_event_raw_block_rq rq;

	if (!from_insert || bpf_probe_read_kernel(&rq, sizeof(rq), ctx))
		return 0;
	return start(rq.dev, rq.sector, rq.bytes);
}

SEC("tracepoint/block/block_rq_issue")
int biolatency_issue(struct trace_event_raw_block_rq *ctx)
{
	struct trace_event_raw_block_rq rq;
	struct rq_key k = {};

	if (bpf_probe_read_kernel(&rq, sizeof(rq), ctx))
		return 0;
	if (sizes)
		return count_size(rq.dev, rq.bytes);
	k.dev = rq.dev;
	k.sector = rq.sector;

	/* With -Q the insert already started the clock (requests can skip the insert). */
	if (from_insert && bpf_map_lookup_elem(&started, &k))
		return 0;
	return start(rq.dev, rq.sector, rq.bytes);
}

SEC("tracepoint/block/block_rq_complete")
int biolatency_complete(struct trace_event_raw_block_rq_completion *ctx)
{
	struct trace_event_raw_block_rq_completion rq;
	struct rq_key k = {};
	static const struct bio_hist blank;
	struct rq_start *s;
	struct bio_hist *h;
	struct hist_key key = {};
	u64 value;

	if (bpf_probe_read_kernel(&rq, sizeof(rq), ctx))
		return 0;
	k.dev = rq.dev;
	k.sector = rq.sector;
	s = bpf_map_lookup_elem(&started, &k);
	if (!s)
		return 0;
	value = bpf_ktime_get_ns() - s->ts_ns;
	value /= in_millis ? 1000000 : 1000;
	bpf_map_delete_elem(&started, &k);
	if (per_disk)
		key.dev = rq.dev;
	if (per_flag) {
		/* blk_fill_rwbs()'s letters (RWBS_LEN is 8 or 10 depending on the kernel). */
		for (int i = 0; i < RWBS_KEY_LEN - 1 && i < sizeof(rq.rwbs); i++)
			key.rwbs[i] = rq.rwbs[i];
	}
	h = netbpf_lookup_or_init(&hists, &key, &blank);
	if (!h)
		return 0;
	__sync_fetch_and_add(&h->slots[hist_slot(value)], 1);
	return 0;
}

NETBPF_LICENSE("GPL");
