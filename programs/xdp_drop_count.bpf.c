// SPDX-License-Identifier: GPL-2.0
/* BCC's examples/networking/xdp/xdp_drop_count.py: drop every frame, counted per IP protocol
 * (IPv4 protocol or IPv6 next header; 0 for anything else), after up to two VLAN tags
 * (802.1Q / 802.1ad). netbpf xdp-drop-count prints the per-second deltas. */
#include "xdp_ip_proto.h"

XDP_PROTO_COUNTER(dropcnt);

SEC("xdp")
int xdp_drop_count(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;

	xdp_count_protocol(&dropcnt, xdp_ip_protocol(data, data_end));
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
