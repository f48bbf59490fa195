/* MUST FAIL TO LOAD: BCC's kprobe style with the probed function's arguments
 * as extra parameters. BCC rewrites them into reads of ctx; plain clang does
 * not, so the program reads R2, which holds nothing at entry (a BPF program
 * is called with its context alone). Loads on kernels without kprobes too. */

/* Observed on kernel 6.18: BPF_PROG_LOAD fails with EACCES (-13); last lines
 * of the verifier log:
 *   0: R1=ctx() R10=fp0
 *   ; int kprobe__tcp_v4_connect(struct pt_regs *ctx, struct sock *sk) @ ...
 *   0: (bf) r3 = r2
 *   R2 !read_ok
 *   processed 1 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <netbpf.h>

BPF_HASH(ports, u32, u64, 1024);

int kprobe__tcp_v4_connect(struct pt_regs *ctx, struct sock *sk)
{
	u32 port = BPF_CORE_READ(sk, __sk_common.skc_dport); /* sk is R2: never set */

	netbpf_increment(&ports, &port);
	return 0;
}

NETBPF_LICENSE("GPL");
