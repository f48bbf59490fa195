/* Kernel-matrix case: a kprobe.multi link (5.18, needs CONFIG_FPROBE). Debian's 6.1 has no
 * FPROBE, so attaching must fail with a message that says so. */
#include "vmlinux.h"
#include <netbpf.h>

BPF_ARRAY(counts, u64, 1);

SEC("kprobe.multi/ksys_sync")
int on_sync(struct pt_regs *ctx) { u32 k = 0; netbpf_increment(&counts, &k); return 0; }

NETBPF_LICENSE("GPL");
