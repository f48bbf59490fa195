#!/usr/bin/python3
"""BCC peer of `netbpf attach tc IFACE programs/count_icmp.bpf.c`.

Compiles the same ICMP echo counter in BCC's dialect (BPF(text=...)), loads it as a
SCHED_CLS program, and attaches it the way BCC's networking examples do: pyroute2 adds a
clsact qdisc (if there is none) and a direct-action cls_bpf filter on ingress (or egress).
The filter stays after the script exits, like `tc filter add`. Prints one line:
`attached=NAME prog_fd=FD iface=IFACE hook=ingress created_clsact=0|1`.

Usage: sudo /usr/bin/python3 bcc_pyroute2_tc.py IFACE [--egress]
       sudo /usr/bin/python3 bcc_pyroute2_tc.py IFACE --detach   (filter and clsact removed)
Needs BCC (python3-bpfcc), pyroute2 (python3-pyroute2) and kernel headers for BCC.
"""
import sys

from bcc import BPF
from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

PROGRAM = r"""
#include <uapi/linux/bpf.h>
#include <uapi/linux/if_ether.h>
#include <uapi/linux/ip.h>
#include <uapi/linux/in.h>
#include <uapi/linux/pkt_cls.h>

struct icmp_head {
    u8 type;
    u8 code;
    u16 checksum;
};

BPF_ARRAY(counts, u64, 2);   /* 0: echo requests, 1: echo replies */

int count_icmp(struct __sk_buff *skb)
{
    void *data = (void *)(long)skb->data;
    void *data_end = (void *)(long)skb->data_end;
    struct ethhdr *eth = data;
    struct iphdr *ip;
    struct icmp_head *icmp;
    u32 key;
    u64 *v;

    if ((void *)(eth + 1) > data_end || eth->h_proto != htons(ETH_P_IP))
        return TC_ACT_UNSPEC;
    ip = (void *)(eth + 1);
    if ((void *)(ip + 1) > data_end || ip->protocol != IPPROTO_ICMP || ip->ihl < 5)
        return TC_ACT_UNSPEC;
    if (ip->frag_off & htons(0x1fff))
        return TC_ACT_UNSPEC;
    icmp = (void *)ip + ip->ihl * 4;
    if ((void *)(icmp + 1) > data_end)
        return TC_ACT_UNSPEC;
    if (icmp->type == 8)
        key = 0;
    else if (icmp->type == 0)
        key = 1;
    else
        return TC_ACT_UNSPEC;
    v = counts.lookup(&key);
    if (v)
        __sync_fetch_and_add(v, 1);
    return TC_ACT_UNSPEC;
}
"""

INGRESS, EGRESS = "ffff:fff2", "ffff:fff3"


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    iface = sys.argv[1]
    ipr = IPRoute()
    links = ipr.link_lookup(ifname=iface)
    if not links:
        sys.exit("bcc_pyroute2_tc: no interface %s" % iface)
    idx = links[0]
    if "--detach" in sys.argv:
        ipr.tc("del", "clsact", idx)
        return
    parent = EGRESS if "--egress" in sys.argv else INGRESS
    b = BPF(text=PROGRAM)
    fn = b.load_func("count_icmp", BPF.SCHED_CLS)
    created = 1
    try:
        ipr.tc("add", "clsact", idx)
    except NetlinkError as e:
        if e.code != 17:  # EEXIST: someone's clsact is already there
            raise
        created = 0
    ipr.tc("add-filter", "bpf", idx, ":1", fd=fn.fd, name=fn.name,
           parent=parent, classid=1, direct_action=True)
    print("attached=%s prog_fd=%d iface=%s hook=%s created_clsact=%d"
          % (fn.name.decode(), fn.fd, iface, "egress" if parent == EGRESS else "ingress", created))


if __name__ == "__main__":
    main()
