/* MUST FAIL TO LOAD: has no "license" section on purpose, so the kernel
 * treats it as non-GPL, and calls the GPL-only helper bpf_probe_read_kernel.
 * Do not add a LICENSE here. */

/* Observed on kernel 6.18 (libbpf 1.1 passes an empty license string):
 * BPF_PROG_LOAD fails with EINVAL (-22); last lines of the verifier log:
 *   6: (85) call bpf_probe_read_kernel#113
 *   cannot call GPL-restricted function from non-GPL compatible program
 *   processed 7 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("tracepoint/syscalls/sys_enter_getpgid")
int gpl_helper_without_license(void *ctx)
{
	unsigned long first = 0;

	/* gpl_only helper: rejected for a non-GPL program. */
	bpf_probe_read_kernel(&first, sizeof(first), ctx);
	return first == 0;
}
