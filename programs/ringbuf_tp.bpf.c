/* Event producers for the ring buffer and perf buffer tests and benchmarks:
 * getpgid() from target_tgid emits records_per_trigger event_rec records into
 * the `events` ring buffer, getppid() does the same into `perf_events`. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "netbpf_test.h"

#define MAX_RECORDS_PER_TRIGGER 1000

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 * 1024 * 1024);
} events SEC(".maps");

/* Declared by size: perf event arrays take no BTF key/value types.
 * max_entries 0 lets the loader size it to the possible CPUs. */
struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} perf_events SEC(".maps");

/* drops[0]: records that could not be written (ring buffer reserve failed
 * or perf output returned an error), summed over both programs. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

/* Set by the loader before load (.rodata). */
const volatile __u32 target_tgid = 0;
const volatile __u32 records_per_trigger = 1;

/* Next sequence number, shared by both programs (.bss). */
__u64 next_seq = 0;

static __always_inline void count_drop(void)
{
	__u32 zero = 0;
	__u64 *d = bpf_map_lookup_elem(&drops, &zero);

	if (d)
		__sync_fetch_and_add(d, 1);
}

static __always_inline int from_target(void)
{
	return (__u32)(bpf_get_current_pid_tgid() >> 32) == target_tgid;
}

/* bpf_loop() callbacks: the verifier checks each body once instead of
 * unrolling up to MAX_RECORDS_PER_TRIGGER iterations (an open-coded bounded
 * loop with the reserve-failed branch exceeds the 1M instruction limit). */
static long emit_one_ringbuf(__u32 index, void *unused)
{
	struct event_rec *rec = bpf_ringbuf_reserve(&events, sizeof(*rec), 0);

	if (!rec) {
		count_drop();
		return 0;
	}
	rec->seq = __sync_fetch_and_add(&next_seq, 1);
	bpf_ringbuf_submit(rec, 0);
	return 0;
}

struct perf_loop_ctx {
	void *tp_ctx;
};

static long emit_one_perfbuf(__u32 index, void *data)
{
	struct perf_loop_ctx *lc = data;
	struct event_rec rec;

	rec.seq = __sync_fetch_and_add(&next_seq, 1);
	if (bpf_perf_event_output(lc->tp_ctx, &perf_events, BPF_F_CURRENT_CPU,
				  &rec, sizeof(rec)) < 0)
		count_drop();
	return 0;
}

static __always_inline __u32 record_count(void)
{
	__u32 n = records_per_trigger;

	return n > MAX_RECORDS_PER_TRIGGER ? MAX_RECORDS_PER_TRIGGER : n;
}

SEC("tracepoint/syscalls/sys_enter_getpgid")
int emit_ringbuf(void *ctx)
{
	if (!from_target())
		return 0;
	bpf_loop(record_count(), emit_one_ringbuf, NULL, 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int emit_perfbuf(void *ctx)
{
	struct perf_loop_ctx lc = { .tp_ctx = ctx };

	if (!from_target())
		return 0;
	bpf_loop(record_count(), emit_one_perfbuf, &lc, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
