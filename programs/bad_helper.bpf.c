/* MUST FAIL TO LOAD: a socket filter calling a helper its program type may
 * not use. Socket filters only read packets, so bpf_skb_store_bytes (a tc
 * helper) is refused. */

/* Observed on kernel 6.18: BPF_PROG_LOAD fails with EINVAL (-22); last lines
 * of the verifier log:
 *   8: (85) call bpf_skb_store_bytes#9
 *   program of this type cannot use helper bpf_skb_store_bytes#9
 *   processed 9 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0
 * Not usable for this test on 6.18: bpf_get_current_pid_tgid,
 * bpf_get_current_uid_gid, bpf_get_current_comm and bpf_send_signal all LOAD
 * in a socket filter here (root/CAP_PERFMON). bpf_redirect#23 and
 * bpf_get_stackid#27 are refused with the same message as this file's helper.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("socket")
int forbidden_helper(struct __sk_buff *skb)
{
	__u8 zero[4] = {};

	/* Allowed in SEC("tc"), not in SEC("socket"): rejected. */
	if (bpf_skb_store_bytes(skb, 0, zero, sizeof(zero), 0) < 0)
		return 0;
	return skb->len;
}

char LICENSE[] SEC("license") = "GPL";
