/* MUST FAIL TO LOAD: stack use over the 512-byte limit. clang refuses a
 * single >512-byte frame itself, so two frames of ~300 bytes each are
 * chained through a __noinline call and the verifier rejects the sum. */

/* Observed with clang-14 and kernel 6.18:
 * - `volatile char buf[600]` touched only at buf[0] and buf[599] compiles AND
 *   LOADS: clang keeps just the two bytes (2 bytes of stack), so it is no test.
 * - a 600-byte buffer that is really used (filled by a loop or passed to
 *   bpf_skb_load_bytes) is refused by clang itself:
 *   "error: Looks like the BPF stack limit of 512 bytes is exceeded. Please
 *    move large on stack variables into BPF per-cpu array map."
 * - this file (two frames of 304 bytes each, 300 rounded up by clang/verifier):
 *   BPF_PROG_LOAD fails with EACCES (-13); the whole verifier log is:
 *   combined stack size of 2 calls is 608. Too large
 *   processed 39 insns (limit 1000000) max_states_per_insn 0 total_states 2 peak_states 2 mark_read 0
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define CHUNK 300

/* The buffers are handed to a helper so clang cannot shrink them. */
static __noinline int inner(struct __sk_buff *skb)
{
	char buf[CHUNK];

	if (bpf_skb_load_bytes(skb, 0, buf, sizeof(buf)) < 0)
		return 0;
	return buf[0] + buf[CHUNK - 1];
}

SEC("socket")
int deep_stack(struct __sk_buff *skb)
{
	char buf[CHUNK];

	if (bpf_skb_load_bytes(skb, 0, buf, sizeof(buf)) < 0)
		return 0;
	return buf[0] + buf[CHUNK - 1] + inner(skb);
}

char LICENSE[] SEC("license") = "GPL";
