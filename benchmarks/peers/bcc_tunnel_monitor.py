#!/usr/bin/env python3
"""BCC peer for the tunnel monitor benchmark: a VXLAN flow counter built the way BCC's
examples/networking/tunnel_monitor does it (written here from its description, not copied):
SCHED_CLS entry programs for ingress and egress that mark the direction in skb->cb and
tail-call an outer parser, which reads Ethernet/IPv4/UDP with BCC's proto.h cursors, skips
frames to a multicast MAC, keeps the outer addresses and VNI in skb->cb and tail-calls an inner
parser; that one reads the inner Ethernet/IPv4 header, orders the key by outer address and adds
packets and bytes (skb->len) to a BPF_HASH entry with atomic adds.

Usage: bcc_tunnel_monitor.py FRAME_HEX REPEAT RUNS
Runs BPF_PROG_TEST_RUN on the egress entry program (tail calls included) REPEAT times per run,
RUNS runs, and prints one line per run:  ns=N entries=E tx_pkts=P
(ns = the kernel's mean duration per repetition). Needs python3-bpfcc and kernel headers.
"""
import ctypes
import os
import sys

from bcc import BPF

PROGRAM = r"""
#include <bcc/proto.h>
#include <linux/pkt_cls.h>

struct flow_key {
    u32 outer_a, outer_b, inner_a, inner_b, vni;
};
struct flow_counters {
    u64 tx_pkts, rx_pkts, tx_bytes, rx_bytes;
};
BPF_HASH(flows, struct flow_key, struct flow_counters, 1024);
BPF_PROG_ARRAY(stages, 4);

enum { CB_DIR = 0, CB_OUTER_SRC = 1, CB_OUTER_DST = 2, CB_VNI = 3, CB_OFFSET = 4 };

int entry_ingress(struct __sk_buff *skb) {
    skb->cb[CB_DIR] = 1;
    stages.call(skb, 1);
    return TC_ACT_OK;
}

int entry_egress(struct __sk_buff *skb) {
    skb->cb[CB_DIR] = 0;
    stages.call(skb, 1);
    return TC_ACT_OK;
}

int outer_stage(struct __sk_buff *skb) {
    u8 *cursor = 0;
    struct ethernet_t *eth = cursor_advance(cursor, sizeof(*eth));
    if (eth->dst & (1ULL << 40))          /* group MAC: flooding, not counted */
        return TC_ACT_OK;
    if (eth->type != ETH_P_IP)
        return TC_ACT_OK;
    struct ip_t *ip = cursor_advance(cursor, sizeof(*ip));
    if (ip->nextp != 17)                  /* UDP */
        return TC_ACT_OK;
    skb->cb[CB_OUTER_SRC] = ip->src;
    skb->cb[CB_OUTER_DST] = ip->dst;
    struct udp_t *udp = cursor_advance(cursor, sizeof(*udp));
    if (udp->dport != 4789)
        return TC_ACT_OK;
    struct vxlan_t *vx = cursor_advance(cursor, sizeof(*vx));
    skb->cb[CB_VNI] = vx->key;
    skb->cb[CB_OFFSET] = (u64)cursor;
    stages.call(skb, 2);
    return TC_ACT_OK;
}

int inner_stage(struct __sk_buff *skb) {
    u8 *cursor = (u8 *)(u64)skb->cb[CB_OFFSET];
    struct ethernet_t *eth = cursor_advance(cursor, sizeof(*eth));
    struct flow_key key = {};
    key.outer_a = skb->cb[CB_OUTER_SRC];
    key.outer_b = skb->cb[CB_OUTER_DST];
    key.vni = skb->cb[CB_VNI];
    if (eth->type == ETH_P_IP) {
        struct ip_t *ip = cursor_advance(cursor, sizeof(*ip));
        key.inner_a = ip->src;
        key.inner_b = ip->dst;
    }
    if (key.outer_b < key.outer_a) {
        u32 t = key.outer_a; key.outer_a = key.outer_b; key.outer_b = t;
        t = key.inner_a; key.inner_a = key.inner_b; key.inner_b = t;
    }
    struct flow_counters zero = {};
    struct flow_counters *c = flows.lookup_or_try_init(&key, &zero);
    if (!c)
        return TC_ACT_OK;
    if (skb->cb[CB_DIR]) {
        __sync_fetch_and_add(&c->rx_pkts, 1);
        __sync_fetch_and_add(&c->rx_bytes, skb->len);
    } else {
        __sync_fetch_and_add(&c->tx_pkts, 1);
        __sync_fetch_and_add(&c->tx_bytes, skb->len);
    }
    return TC_ACT_OK;
}
"""


class TestAttr(ctypes.Structure):
    # union bpf_attr, BPF_PROG_TEST_RUN part (linux/bpf.h), padded to 128 bytes.
    _fields_ = [("prog_fd", ctypes.c_uint32), ("retval", ctypes.c_uint32),
                ("data_size_in", ctypes.c_uint32), ("data_size_out", ctypes.c_uint32),
                ("data_in", ctypes.c_uint64), ("data_out", ctypes.c_uint64),
                ("repeat", ctypes.c_uint32), ("duration", ctypes.c_uint32),
                ("pad", ctypes.c_uint8 * 88)]


def test_run(fd, data, repeat):
    libc = ctypes.CDLL(None, use_errno=True)
    buf_in = ctypes.create_string_buffer(data, len(data))
    buf_out = ctypes.create_string_buffer(len(data) + 256)
    attr = TestAttr()
    attr.prog_fd = fd
    attr.data_size_in = len(data)
    attr.data_size_out = len(buf_out)
    attr.data_in = ctypes.addressof(buf_in)
    attr.data_out = ctypes.addressof(buf_out)
    attr.repeat = repeat
    rc = libc.syscall(321, 10, ctypes.byref(attr), ctypes.sizeof(attr))  # bpf(BPF_PROG_TEST_RUN)
    if rc != 0:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
    return attr.duration


def main():
    if len(sys.argv) != 4:
        sys.stderr.write(__doc__)
        sys.exit(2)
    frame = bytes.fromhex(sys.argv[1])
    repeat, runs = int(sys.argv[2]), int(sys.argv[3])
    b = BPF(text=PROGRAM)
    egress = b.load_func("entry_egress", BPF.SCHED_CLS)
    b.load_func("entry_ingress", BPF.SCHED_CLS)
    stages = b.get_table("stages")
    stages[ctypes.c_int(1)] = ctypes.c_int(b.load_func("outer_stage", BPF.SCHED_CLS).fd)
    stages[ctypes.c_int(2)] = ctypes.c_int(b.load_func("inner_stage", BPF.SCHED_CLS).fd)
    for _ in range(runs):
        ns = test_run(egress.fd, frame, repeat)
        flows = b.get_table("flows")
        tx = sum(v.tx_pkts for v in flows.values())
        print("ns=%d entries=%d tx_pkts=%d" % (ns, len(flows), tx), flush=True)


if __name__ == "__main__":
    main()
