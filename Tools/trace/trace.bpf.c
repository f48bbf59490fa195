// trace: copies each hit of one tracepoint (its raw record) to user space, which decodes the
// fields with the tracefs format and applies the filter. Up to two `char *` arguments are read
// as user-space strings here, while the pointers are still valid.
#include "vmlinux.h"
#include <netbpf.h>

#define RECORD_MAX 512
#define STRING_MAX 128

/* Layout mirrored by Sources/NetBPFTracing/Tools/Trace.swift. */
struct tp_hit {
	u64 ts_ns;
	u32 pid;
	u32 tid;
	u32 cpu;
	u32 size;
	char comm[16];
	char strings[2][STRING_MAX];
	s32 kernel_stack;  /* stack ids in `stacks`, -1 when not asked for or not available */
	s32 user_stack;
	u8 record[RECORD_MAX];
};

const volatile u32 target_pid = 0;
const volatile u32 record_size = 64;
const volatile s32 string_offset0 = -1;
const volatile s32 string_offset1 = -1;
const volatile bool kernel_stacks = false;
const volatile bool user_stacks = false;

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 4096);
	__uint(key_size, sizeof(u32));
	__uint(value_size, 127 * sizeof(u64));
} stacks SEC(".maps");

BPF_RINGBUF_OUTPUT(events, 64);

/* Records the ring buffer could not take (it was full): user space reports them. */
NETBPF_LOST_COUNTER()

static __always_inline void read_string(char *dst, const u8 *record, s32 offset)
{
	const char *p = NULL;

	dst[0] = 0;
	if (offset < 0 || offset > RECORD_MAX - 8)
		return;
	__builtin_memcpy(&p, record + offset, sizeof(p));
	if (p)
		bpf_probe_read_user_str(dst, STRING_MAX, p);
}

SEC("tracepoint")
int trace_tracepoint(void *ctx)
{
	u64 id = bpf_get_current_pid_tgid();
	struct tp_hit *e;
	u32 size = record_size;

	if (target_pid && (id >> 32) != target_pid)
		return 0;
	if (size > RECORD_MAX)
		size = RECORD_MAX;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_lost();
		return 0;
	}
	e->ts_ns = bpf_ktime_get_ns();
	e->pid = id >> 32;
	e->tid = (u32)id;
	e->cpu = bpf_get_smp_processor_id();
	e->size = size;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	if (bpf_probe_read_kernel(e->record, size, ctx))
		e->size = 0;
	e->kernel_stack = kernel_stacks ? bpf_get_stackid(ctx, &stacks, 0) : -1;
	e->user_stack = user_stacks ? bpf_get_stackid(ctx, &stacks, BPF_F_USER_STACK) : -1;
	read_string(e->strings[0], e->record, string_offset0);
	read_string(e->strings[1], e->record, string_offset1);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

/* BCC's `trace 'p:FUNC'` / `'r:FUNC'`: a kprobe or kretprobe hit carries no tracepoint record,
 * only who hit it (a kprobe event's perf event takes a kprobe program, not a tracepoint one). */
SEC("kprobe")
int trace_kprobe(struct pt_regs *ctx)
{
	u64 id = bpf_get_current_pid_tgid();
	struct tp_hit *e;

	if (target_pid && (id >> 32) != target_pid)
		return 0;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_lost();
		return 0;
	}
	e->ts_ns = bpf_ktime_get_ns();
	e->pid = id >> 32;
	e->tid = (u32)id;
	e->cpu = bpf_get_smp_processor_id();
	e->size = 0;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	e->kernel_stack = kernel_stacks ? bpf_get_stackid(ctx, &stacks, 0) : -1;
	e->user_stack = user_stacks ? bpf_get_stackid(ctx, &stacks, BPF_F_USER_STACK) : -1;
	e->strings[0][0] = 0;
	e->strings[1][0] = 0;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

NETBPF_LICENSE("GPL");
