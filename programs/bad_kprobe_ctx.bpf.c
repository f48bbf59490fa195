/* MUST FAIL TO LOAD: a kprobe reading past struct pt_regs, where a seventh
 * argument would be if it were a register (x86-64 passes six in registers,
 * the rest on the stack). */

/* Observed on kernel 6.18 (x86-64): BPF_PROG_LOAD fails with EACCES (-13);
 * last lines of the verifier log:
 *   0: R1=ctx() R10=fp0
 *   0: (79) r1 = *(u64 *)(r1 +168)
 *   invalid bpf_context access off=168 size=8
 *   processed 1 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

SEC("kprobe/do_sys_openat2")
int past_pt_regs(struct pt_regs *ctx)
{
	/* 168 bytes: sizeof(struct pt_regs) on x86-64, the first offset outside it. */
	unsigned long *regs = (unsigned long *)ctx;

	return regs[sizeof(struct pt_regs) / sizeof(unsigned long)] != 0;
}

char LICENSE[] SEC("license") = "GPL";
