/* Kernel-matrix case: one kernel function (ksys_sync, reached once per sync(2)) probed four
 * ways. counts[0] kprobe by name, [1] kretprobe, [2] kprobe at FUNC+5 (the instruction after
 * the 5-byte __fentry__ call on a kernel without IBT), [3] BCC's kprobe__ naming. */
#include "vmlinux.h"
#include <netbpf.h>

BPF_ARRAY(counts, u64, 4);

static __always_inline int hit(u32 slot)
{
	netbpf_increment(&counts, &slot);
	return 0;
}

SEC("kprobe/ksys_sync")
int by_name(struct pt_regs *ctx) { return hit(0); }

SEC("kretprobe/ksys_sync")
int on_return(struct pt_regs *ctx) { return hit(1); }

SEC("kprobe/ksys_sync+5")
int by_offset(struct pt_regs *ctx) { return hit(2); }

int kprobe__ksys_sync(struct pt_regs *ctx) { return hit(3); }

NETBPF_LICENSE("GPL");
