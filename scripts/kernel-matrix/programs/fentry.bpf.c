/* Kernel-matrix case: fentry and fexit (BPF trampolines, 5.5) on ksys_sync.
 * counts[0] entries, [1] exits. */
#include "vmlinux.h"
#include <bpf/bpf_tracing.h>
#include <netbpf.h>

BPF_ARRAY(counts, u64, 2);

SEC("fentry/ksys_sync")
int BPF_PROG(on_entry) { u32 k = 0; netbpf_increment(&counts, &k); return 0; }

SEC("fexit/ksys_sync")
int BPF_PROG(on_exit) { u32 k = 1; netbpf_increment(&counts, &k); return 0; }

NETBPF_LICENSE("GPL");
