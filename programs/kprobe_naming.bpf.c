/* BCC's kprobe naming: kprobe__tcp_v4_connect becomes SEC("kprobe/tcp_v4_connect"). This
 * kernel has no kprobes, so loading works and attaching must say so clearly. */
#include "vmlinux.h"
#include <netbpf.h>

BPF_HASH(connects, u32, u64, 1024);

int kprobe__tcp_v4_connect(struct pt_regs *ctx)
{
	u32 tgid = bpf_get_current_pid_tgid() >> 32;

	netbpf_increment(&connects, &tgid);
	return 0;
}

NETBPF_LICENSE("GPL");
