/* MUST FAIL TO LOAD: dereferences a kernel pointer directly instead of
 * going through bpf_probe_read_kernel(). For a raw tracepoint the args are
 * plain numbers (scalars) to the verifier, so the load through one is refused. */

/* Observed on kernel 6.18: BPF_PROG_LOAD fails with EACCES (-13); last lines
 * of the verifier log:
 *   0: (79) r1 = *(u64 *)(r1 +0)          ; R1=scalar()
 *   1: (79) r1 = *(u64 *)(r1 +0)
 *   R1 invalid mem access 'scalar'
 *   processed 2 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("raw_tracepoint/sys_enter")
int direct_kernel_read(struct bpf_raw_tracepoint_args *ctx)
{
	/* args[0] of sys_enter is the task's struct pt_regs *. */
	unsigned long *regs = (unsigned long *)ctx->args[0];

	return regs[0] == 0; /* direct read: rejected */
}

char LICENSE[] SEC("license") = "GPL";
