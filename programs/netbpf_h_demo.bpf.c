/* netbpf.h in use: BCC-style map macros, a log2 histogram, lookup-or-init, and BCC's
 * function-name convention (tracepoint__syscalls__sys_enter_getpgid gets its section from
 * its name). Counts getpgid() calls of one process and buckets the pid argument by log2. */
#include <netbpf.h>

BPF_HASH(calls, u32, u64, 1024);
BPF_ARRAY(totals, u64, 4);
BPF_HISTOGRAM(pid_log2, int, 64);

const volatile u32 target_tgid = 0;

int tracepoint__syscalls__sys_enter_getpgid(void *ctx)
{
	u32 tgid = bpf_get_current_pid_tgid() >> 32;
	u32 zero = 0;
	u64 *total;
	int bucket;

	if (tgid != target_tgid)
		return 0;
	netbpf_increment(&calls, &tgid);
	total = bpf_map_lookup_elem(&totals, &zero);
	if (total)
		__sync_fetch_and_add(total, 1);
	bucket = netbpf_log2l(tgid);
	netbpf_increment(&pid_log2, &bucket);
	return 0;
}

NETBPF_LICENSE("GPL");
