/* Kernel-matrix case: a uprobe and a uretprobe on libc's sync(), which coreutils' sync calls
 * once. counts[0] entries, [1] returns. */
#include "vmlinux.h"
#include <netbpf.h>

BPF_ARRAY(counts, u64, 2);

SEC("uprobe//lib/x86_64-linux-gnu/libc.so.6:sync")
int on_sync(struct pt_regs *ctx) { u32 k = 0; netbpf_increment(&counts, &k); return 0; }

SEC("uretprobe//lib/x86_64-linux-gnu/libc.so.6:sync")
int on_sync_return(struct pt_regs *ctx) { u32 k = 1; netbpf_increment(&counts, &k); return 0; }

NETBPF_LICENSE("GPL");
