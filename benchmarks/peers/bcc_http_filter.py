#!/usr/bin/python3
"""Per-packet cost of BCC's http_filter (the http-parse-complete variant), loaded by BCC itself.

The program text below is written for this benchmark to do what BCC's
examples/networking/http_filter/http-parse-complete.c does (see
docs reference: IPv4 only, no VLAN/IPv6, IHL and TCP offset, payload of at least
7 bytes, the first 7 bytes compared with HTTP/GET/POST/PUT/DELETE/HEAD, a
`sessions` hash keyed by the 4-tuple that keeps later segments of a matched
flow), in BCC's dialect: bcc/proto.h cursors, which BCC rewrites into
load_byte/half/word (LD_ABS, relative to skb->data).

It is loaded with BPF(text=...) and load_func(..., BPF.SOCKET_FILTER), then run
with BPF_PROG_TEST_RUN through the bpf(2) system call (ctypes; BCC 0.26 has no
test-run API). Socket filters are test-run from the network header, so the
packets given carry a dummy Ethernet header in front, like netbpf's.

Usage: bcc_http_filter.py REPEAT RUNS NAME=HEX [NAME=HEX ...]
Prints one line per packet: packet=NAME ns=MEDIAN retval=R runs=N
"""
import ctypes
import os
import statistics
import sys

from bcc import BPF

PROGRAM = r"""
#include <bcc/proto.h>

struct flow_key {
    u32 saddr;
    u32 daddr;
    unsigned short sport;
    unsigned short dport;
};

struct flow_leaf {
    int seen;
};

BPF_HASH(sessions, struct flow_key, struct flow_leaf, 1024);

static inline int starts_with_http(struct __sk_buff *skb, u32 off)
{
    u8 c0 = load_byte(skb, off), c1 = load_byte(skb, off + 1), c2 = load_byte(skb, off + 2);
    u8 c3 = load_byte(skb, off + 3), c4 = load_byte(skb, off + 4), c5 = load_byte(skb, off + 5);
    u8 c6 = load_byte(skb, off + 6);

    if (c0 == 'H' && c1 == 'T' && c2 == 'T' && c3 == 'P')
        return 1;
    if (c0 == 'G' && c1 == 'E' && c2 == 'T')
        return 1;
    if (c0 == 'P' && c1 == 'O' && c2 == 'S' && c3 == 'T')
        return 1;
    if (c0 == 'P' && c1 == 'U' && c2 == 'T')
        return 1;
    if (c0 == 'D' && c1 == 'E' && c2 == 'L' && c3 == 'E' && c4 == 'T' && c5 == 'E')
        return 1;
    if (c0 == 'H' && c1 == 'E' && c2 == 'A' && c3 == 'D')
        return 1;
    return 0;
}

int http_filter(struct __sk_buff *skb)
{
    u8 *cursor = 0;
    struct flow_key key = {};
    struct flow_leaf none = {};
    u32 ip_len, tcp_len, payload_off, payload_len;

    struct ethernet_t *eth = cursor_advance(cursor, sizeof(*eth));
    if (eth->type != 0x0800)
        return 0;
    struct ip_t *ip = cursor_advance(cursor, sizeof(*ip));
    if (ip->nextp != 6)
        return 0;
    ip_len = ip->hlen << 2;
    if (ip_len < sizeof(*ip))
        return 0;
    cursor_advance(cursor, ip_len - sizeof(*ip));
    struct tcp_t *tcp = cursor_advance(cursor, sizeof(*tcp));
    key.saddr = ip->src;
    key.daddr = ip->dst;
    key.sport = tcp->src_port;
    key.dport = tcp->dst_port;
    tcp_len = tcp->offset << 2;
    payload_off = sizeof(*eth) + ip_len + tcp_len;
    payload_len = ip->tlen - ip_len - tcp_len;
    if (payload_len < 7)
        return 0;
    if (starts_with_http(skb, payload_off)) {
        sessions.lookup_or_try_init(&key, &none);
        return -1;
    }
    if (sessions.lookup(&key))
        return -1;
    return 0;
}
"""


class TestAttr(ctypes.Structure):
    """union bpf_attr, the BPF_PROG_TEST_RUN member."""
    _fields_ = [
        ("prog_fd", ctypes.c_uint32), ("retval", ctypes.c_uint32),
        ("data_size_in", ctypes.c_uint32), ("data_size_out", ctypes.c_uint32),
        ("data_in", ctypes.c_uint64), ("data_out", ctypes.c_uint64),
        ("repeat", ctypes.c_uint32), ("duration", ctypes.c_uint32),
        ("ctx_size_in", ctypes.c_uint32), ("ctx_size_out", ctypes.c_uint32),
        ("ctx_in", ctypes.c_uint64), ("ctx_out", ctypes.c_uint64),
        ("flags", ctypes.c_uint32), ("cpu", ctypes.c_uint32), ("batch_size", ctypes.c_uint32),
        ("pad", ctypes.c_uint32),
    ]


SYS_BPF = 321  # x86_64
BPF_PROG_TEST_RUN = 10
libc = ctypes.CDLL(None, use_errno=True)


def test_run(fd, packet, repeat):
    data = ctypes.create_string_buffer(packet, len(packet))
    out = ctypes.create_string_buffer(len(packet) + 256)
    attr = TestAttr(prog_fd=fd, data_size_in=len(packet), data_size_out=len(out),
                    data_in=ctypes.addressof(data), data_out=ctypes.addressof(out), repeat=repeat)
    if libc.syscall(SYS_BPF, BPF_PROG_TEST_RUN, ctypes.byref(attr), ctypes.sizeof(attr)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, "BPF_PROG_TEST_RUN: " + os.strerror(err))
    return attr.duration, attr.retval


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    repeat, runs = int(sys.argv[1]), int(sys.argv[2])
    packets = [arg.split("=", 1) for arg in sys.argv[3:]]
    b = BPF(text=PROGRAM)
    fn = b.load_func("http_filter", BPF.SOCKET_FILTER)
    for name, hexdata in packets:
        packet = bytes.fromhex(hexdata)
        results = [test_run(fn.fd, packet, repeat) for _ in range(runs)]
        ns = statistics.median(r[0] for r in results)
        print("packet=%s ns=%s retval=%d runs=%d" % (name, ns, results[-1][1], runs), flush=True)


if __name__ == "__main__":
    main()
