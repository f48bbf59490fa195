#include <bcc/proto.h>
BPF_ARRAY(counts, u64, 256);
int f(struct __sk_buff *skb) {
    u8 *cursor = 0;
    struct ethernet_t *e = cursor_advance(cursor, sizeof(*e));
    struct ip_t *ip = cursor_advance(cursor, sizeof(*ip));
    counts.increment(ip->nextp);
    return -1;
}
int xdp_prog1(struct CTXTYPE *ctx) { return XDP_PASS; }
