/* MUST FAIL TO LOAD: a socket filter reading the packet through skb->data as
 * a tc program would. Socket filters may not read data/data_end: they copy
 * packet bytes with bpf_skb_load_bytes(). */

/* Observed on kernel 6.18: BPF_PROG_LOAD fails with EACCES (-13); last lines
 * of the verifier log:
 *   0: R1=ctx() R10=fp0
 *   0: (61) r1 = *(u32 *)(r1 +76)
 *   invalid bpf_context access off=76 size=4
 *   processed 1 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("socket")
int direct_packet_read(struct __sk_buff *skb)
{
	unsigned char *p = (void *)(long)skb->data;

	return p[12] == 0x08 ? -1 : 0; /* keep IPv4 frames */
}

char LICENSE[] SEC("license") = "GPL";
