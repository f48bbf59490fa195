// tcpstates: every TCP state change with the time spent in the previous state, from
// sock:inet_sock_set_state.
#include "vmlinux.h"
#include <netbpf.h>

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6

/* Layout mirrored by Sources/NetBPFTracing/Tools/Tcpstates.swift. */
struct state_event {
	u64 skaddr;
	u64 ts_ns;
	u64 delta_ns;
	u32 pid;
	s32 oldstate;
	s32 newstate;
	u16 family;
	u16 sport;
	u16 dport;
	u16 _pad;
	u8 saddr[16];
	u8 daddr[16];
	char comm[16];
	u32 _pad2;
};
_Static_assert(sizeof(struct state_event) == 96, "state_event layout");

const volatile u16 target_family = 0;
const volatile bool filter_sport = false;
const volatile bool filter_dport = false;

BPF_HASH(sports, u16, u16, 64);
BPF_HASH(dports, u16, u16, 64);
BPF_HASH(since, u64, u64, 16384);
BPF_RINGBUF_OUTPUT(events, 64);

/* Records the ring buffer could not take (it was full): user space reports them. */
NETBPF_LOST_COUNTER()

SEC("tracepoint/sock/inet_sock_set_state")
int tcpstates_change(struct trace_event_raw_inet_sock_set_state *ctx)
{
	u64 sk = (u64)ctx->skaddr, now = bpf_ktime_get_ns(), *prev;
	u16 family = ctx->family, sport = ctx->sport, dport = ctx->dport;
	struct state_event *e;

	if (ctx->protocol != IPPROTO_TCP)
		return 0;
	if (target_family && family != target_family)
		return 0;
	if (filter_sport && !bpf_map_lookup_elem(&sports, &sport))
		return 0;
	if (filter_dport && !bpf_map_lookup_elem(&dports, &dport))
		return 0;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_lost();
		return 0;
	}
	prev = bpf_map_lookup_elem(&since, &sk);
	e->skaddr = sk;
	e->ts_ns = now;
	e->delta_ns = prev ? now - *prev : 0;
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->oldstate = ctx->oldstate;
	e->newstate = ctx->newstate;
	e->family = family;
	e->sport = sport;
	e->dport = dport;
	e->_pad = 0;
	e->_pad2 = 0;
	if (family == AF_INET) {
		__builtin_memset(e->saddr, 0, 16);
		__builtin_memset(e->daddr, 0, 16);
		bpf_probe_read_kernel(e->saddr, 4, ctx->saddr);
		bpf_probe_read_kernel(e->daddr, 4, ctx->daddr);
	} else {
		bpf_probe_read_kernel(e->saddr, 16, ctx->saddr_v6);
		bpf_probe_read_kernel(e->daddr, 16, ctx->daddr_v6);
	}
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);

	if (ctx->newstate == TCP_CLOSE)
		bpf_map_delete_elem(&since, &sk);
	else
		bpf_map_update_elem(&since, &sk, &now, BPF_ANY);
	return 0;
}

NETBPF_LICENSE("GPL");
