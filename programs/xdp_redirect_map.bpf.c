// SPDX-License-Identifier: GPL-2.0
/* BCC's examples/networking/xdp/xdp_redirect_map.py (the program is called xdp_redirect: the
 * kernel keeps 15 characters of a name). Every frame arriving on the in-interface leaves
 * through the interface in slot 0 of a BPF_MAP_TYPE_DEVMAP (kernel 4.14), written by user
 * space (netbpf xdp-redirect), counted per IP protocol (programs/include/xdp_ip_proto.h).
 *
 * BCC also swaps the MAC addresses; here frames cross unchanged, like a cable between the two
 * interfaces, so the sender addresses them to the far host's MAC. With slot 0 empty the frame
 * is dropped: bpf_redirect_map's flags (the action returned on a lookup miss) are 0,
 * XDP_ABORTED, which the xdp:xdp_exception tracepoint reports. */
#include "xdp_ip_proto.h"

XDP_PROTO_COUNTER(rxcnt);

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} tx_port SEC(".maps");

SEC("xdp")
int xdp_redirect(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;

	xdp_count_protocol(&rxcnt, xdp_ip_protocol(data, data_end));
	return bpf_redirect_map(&tx_port, 0, 0);
}

char LICENSE[] SEC("license") = "GPL";
