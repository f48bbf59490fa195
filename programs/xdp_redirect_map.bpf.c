// SPDX-License-Identifier: GPL-2.0
/* BCC's examples/networking/xdp/xdp_redirect_map.py (the program is called xdp_redirect: the
 * kernel keeps 15 characters of a name). Every frame arriving on the in-interface leaves
 * through the interface in slot 0 of a BPF_MAP_TYPE_DEVMAP (kernel 4.14), written by user
 * space (netbpf xdp-redirect), counted per IP protocol (programs/include/xdp_ip_proto.h).
 *
 * BCC also swaps the MAC addresses; here frames cross unchanged, like a cable between the two
 * interfaces, so the sender addresses them to the far host's MAC. With slot 0 empty (never
 * written, or the out-interface was deleted, which clears its devmap slots) the frame is
 * dropped: bpf_redirect_map's flags (the action returned on a lookup miss) are 0, XDP_ABORTED,
 * which the xdp:xdp_exception tracepoint reports.
 *
 * `rxcnt` counts, per protocol, only the frames bpf_redirect_map accepted (it returned
 * XDP_REDIRECT); the others are counted in `missed` (one slot). A frame the kernel accepted can
 * still be lost on the way out (a driver without XDP transmit queues, a full ring): the
 * xdp:xdp_redirect_err tracepoint reports those. */
#include "xdp_ip_proto.h"

XDP_PROTO_COUNTER(rxcnt);

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} tx_port SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} missed SEC(".maps");

SEC("xdp")
int xdp_redirect(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 proto = xdp_ip_protocol(data, data_end);
	long action = bpf_redirect_map(&tx_port, 0, 0);

	if (action == XDP_REDIRECT)
		xdp_count_protocol(&rxcnt, proto);
	else
		xdp_count_protocol(&missed, 0);
	return action;
}

char LICENSE[] SEC("license") = "GPL";
