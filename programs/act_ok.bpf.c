/* A tc action program (SEC("action") -> BPF_PROG_TYPE_SCHED_ACT), for act_bpf.
 * Neither cls_bpf nor tcx runs this type: the attach tests use it as the
 * program of the wrong type that netbpf refuses up front, and that the kernel
 * refuses (EINVAL) when the library is asked to attach it anyway. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

SEC("action")
int act_ok(struct __sk_buff *skb)
{
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
