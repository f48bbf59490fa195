// funccount: counts calls of the functions or tracepoints matching a pattern. One program per
// probe kind, attached once per match with a BPF cookie that indexes the counter array.
#include "vmlinux.h"
#include <bpf/bpf_tracing.h>
#include <netbpf.h>

#define MAX_PROBES 4096

const volatile u32 target_pid = 0;

BPF_ARRAY(counts, u64, MAX_PROBES);

static __always_inline int count(void *ctx)
{
	u32 index;
	u64 *n;

	if (target_pid && (bpf_get_current_pid_tgid() >> 32) != target_pid)
		return 0;
	index = (u32)bpf_get_attach_cookie(ctx);
	n = bpf_map_lookup_elem(&counts, &index);
	if (n)
		__sync_fetch_and_add(n, 1);
	return 0;
}

SEC("tracepoint")
int funccount_tracepoint(void *ctx)
{
	return count(ctx);
}

/* uprobes and kprobes are both BPF_PROG_TYPE_KPROBE programs on the perf-event path. */
SEC("kprobe")
int funccount_probe(struct pt_regs *ctx)
{
	return count(ctx);
}

SEC("kprobe.multi")
int funccount_kprobe_multi(struct pt_regs *ctx)
{
	return count(ctx);
}

NETBPF_LICENSE("GPL");
