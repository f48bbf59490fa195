/* MUST FAIL TO LOAD: reads a map value without checking the lookup result
 * for NULL. Used by the loader tests to check verifier log reporting. */

/* Observed on kernel 6.18 (bpftool prog load, libbpf 1.1): BPF_PROG_LOAD
 * fails with EACCES (-13); last lines of the verifier log:
 *   7: (79) r0 = *(u64 *)(r0 +0)
 *   R0 invalid mem access 'map_value_or_null'
 *   processed 7 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} values SEC(".maps");

SEC("socket")
int unchecked_lookup(struct __sk_buff *skb)
{
	__u32 key = 0;
	__u64 *v = bpf_map_lookup_elem(&values, &key);

	return *v; /* no NULL check: rejected */
}

char LICENSE[] SEC("license") = "GPL";
