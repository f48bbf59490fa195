// SPDX-License-Identifier: GPL-2.0
/* XDP_PASS for every frame. Its use: on a veth, frames that the peer sends with XDP_TX or that
 * are redirected to the peer in driver mode are queued on this side's NAPI ring, and a veth
 * has NAPI only while an XDP program is attached (or GRO is on); without one they are dropped.
 * BCC's xdp_redirect_map.py attaches the same kind of program to its out interface. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int xdp_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
