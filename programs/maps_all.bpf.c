/* One BTF-defined map of each type the loader supports, plus two tiny socket
 * programs, for the loader/map tests. `big_hash` is declared with 1 entry on
 * purpose: the tests resize it before load. cfg_magic gives the object a .rodata. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "netbpf_test.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u64);
} hash_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} array_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u64);
} percpu_hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
} percpu_array SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 128);
	__type(key, __u32);
	__type(value, __u64);
} lru_hash SEC(".maps");

/* LPM tries must be created with BPF_F_NO_PREALLOC. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 256);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lpm_v4_key);
	__type(value, __u32);
} lpm_trie SEC(".maps");

/* Program arrays and perf event arrays do not accept BTF key/value types
 * (the kernel answers ENOTSUPP), so they are declared by size only. */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} prog_array SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} ringbuf SEC(".maps");

/* max_entries left at 0: the loader sets it to the number of possible CPUs. */
struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} perf_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} big_hash SEC(".maps");

/* Lives in .rodata; the tests may rewrite it before load. */
const volatile __u32 cfg_magic = 0;

/* Keeps the whole packet; when cfg_magic was set before load, returns it
 * instead, so a BPF_PROG_TEST_RUN can see that the rodata rewrite took. */
SEC("socket")
int sock_pass(struct __sk_buff *skb)
{
	if (cfg_magic != 0)
		return cfg_magic;
	return skb->len;
}

/* Jumps to prog_array[0]; if that slot is empty the tail call falls
 * through and the packet is dropped (0). */
SEC("socket")
int sock_tail(struct __sk_buff *skb)
{
	bpf_tail_call(skb, &prog_array, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
