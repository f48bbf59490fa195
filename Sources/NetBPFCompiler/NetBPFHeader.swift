/// netbpf.h: BCC's convenience macros on plain libbpf C. The compiler writes it into its cache's
/// include directory, so `#include <netbpf.h>` works in every program it compiles; `netbpf
/// compile --emit-header DIR` writes it out for other compilers. docs/netbpf-h.md documents it.
package enum NetBPFHeader {
    package static let text = #"""
/* netbpf.h: BCC-style map declarations and helpers on plain libbpf C (BTF-defined maps).
 * Include after vmlinux.h, or on its own (it then includes <linux/bpf.h>). */
#ifndef __NETBPF_H__
#define __NETBPF_H__

#ifndef __VMLINUX_H__
#include <linux/bpf.h>
#include <linux/types.h>
typedef __u8 u8;
typedef __u16 u16;
typedef __u32 u32;
typedef __u64 u64;
typedef __s32 s32;
typedef __s64 s64;
#endif
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/* Picks the macro for the number of arguments given (1 to 4). */
#define __NB_PICK(_1, _2, _3, _4, NAME, ...) NAME

#define __NB_MAP(maptype, name, key_type, value_type, size, flags)    \
	struct {                                                        \
		__uint(type, maptype);                                  \
		__uint(max_entries, size);                              \
		__type(key, key_type);                                  \
		__type(value, value_type);                              \
		__uint(map_flags, flags);                               \
	} name SEC(".maps")

/* BPF_HASH(name [, key_type = u64 [, value_type = u64 [, size = 10240]]]) */
#define BPF_HASH(...) __NB_PICK(__VA_ARGS__, __NB_HASH4, __NB_HASH3, __NB_HASH2, __NB_HASH1)(__VA_ARGS__)
#define __NB_HASH1(name) __NB_MAP(BPF_MAP_TYPE_HASH, name, u64, u64, 10240, 0)
#define __NB_HASH2(name, k) __NB_MAP(BPF_MAP_TYPE_HASH, name, k, u64, 10240, 0)
#define __NB_HASH3(name, k, v) __NB_MAP(BPF_MAP_TYPE_HASH, name, k, v, 10240, 0)
#define __NB_HASH4(name, k, v, n) __NB_MAP(BPF_MAP_TYPE_HASH, name, k, v, n, 0)

/* BPF_LRU_HASH(name [, key_type [, value_type [, size]]]) */
#define BPF_LRU_HASH(...) __NB_PICK(__VA_ARGS__, __NB_LRU4, __NB_LRU3, __NB_LRU2, __NB_LRU1)(__VA_ARGS__)
#define __NB_LRU1(name) __NB_MAP(BPF_MAP_TYPE_LRU_HASH, name, u64, u64, 10240, 0)
#define __NB_LRU2(name, k) __NB_MAP(BPF_MAP_TYPE_LRU_HASH, name, k, u64, 10240, 0)
#define __NB_LRU3(name, k, v) __NB_MAP(BPF_MAP_TYPE_LRU_HASH, name, k, v, 10240, 0)
#define __NB_LRU4(name, k, v, n) __NB_MAP(BPF_MAP_TYPE_LRU_HASH, name, k, v, n, 0)

/* BPF_ARRAY(name [, value_type = u64 [, size = 10240]]): keys are u32 indexes. */
#define BPF_ARRAY(...) __NB_PICK(__VA_ARGS__, _, __NB_ARRAY3, __NB_ARRAY2, __NB_ARRAY1)(__VA_ARGS__)
#define __NB_ARRAY1(name) __NB_MAP(BPF_MAP_TYPE_ARRAY, name, u32, u64, 10240, 0)
#define __NB_ARRAY2(name, v) __NB_MAP(BPF_MAP_TYPE_ARRAY, name, u32, v, 10240, 0)
#define __NB_ARRAY3(name, v, n) __NB_MAP(BPF_MAP_TYPE_ARRAY, name, u32, v, n, 0)

/* BPF_PERCPU_ARRAY(name [, value_type = u64 [, size = 10240]]) */
#define BPF_PERCPU_ARRAY(...) __NB_PICK(__VA_ARGS__, _, __NB_PCARRAY3, __NB_PCARRAY2, __NB_PCARRAY1)(__VA_ARGS__)
#define __NB_PCARRAY1(name) __NB_MAP(BPF_MAP_TYPE_PERCPU_ARRAY, name, u32, u64, 10240, 0)
#define __NB_PCARRAY2(name, v) __NB_MAP(BPF_MAP_TYPE_PERCPU_ARRAY, name, u32, v, 10240, 0)
#define __NB_PCARRAY3(name, v, n) __NB_MAP(BPF_MAP_TYPE_PERCPU_ARRAY, name, u32, v, n, 0)

/* BPF_LPM_TRIE(name, key_type, value_type, size): key_type starts with a u32 prefix length. */
#define BPF_LPM_TRIE(name, k, v, n) __NB_MAP(BPF_MAP_TYPE_LPM_TRIE, name, k, v, n, BPF_F_NO_PREALLOC)

/* BPF_HISTOGRAM(name [, key_type = int [, size = 64]]): bucket -> count. */
#define BPF_HISTOGRAM(...) __NB_PICK(__VA_ARGS__, _, __NB_HIST3, __NB_HIST2, __NB_HIST1)(__VA_ARGS__)
#define __NB_HIST1(name) __NB_MAP(BPF_MAP_TYPE_HASH, name, int, u64, 64, 0)
#define __NB_HIST2(name, k) __NB_MAP(BPF_MAP_TYPE_HASH, name, k, u64, 64, 0)
#define __NB_HIST3(name, k, n) __NB_MAP(BPF_MAP_TYPE_HASH, name, k, u64, n, 0)

/* BPF_RINGBUF_OUTPUT(name, pages): a ring buffer of `pages` 4 KiB pages (a power of two). */
#define BPF_RINGBUF_OUTPUT(name, pages)                                 \
	struct {                                                        \
		__uint(type, BPF_MAP_TYPE_RINGBUF);                     \
		__uint(max_entries, (pages) * 4096);                    \
	} name SEC(".maps")

/* BPF_PERF_OUTPUT(name): one perf ring per CPU (sized by the loader). */
#define BPF_PERF_OUTPUT(name)                                           \
	struct {                                                        \
		__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);            \
		__uint(key_size, sizeof(u32));                          \
		__uint(value_size, sizeof(u32));                        \
	} name SEC(".maps")

/* BPF_PROG_ARRAY(name, size): tail-call targets. */
#define BPF_PROG_ARRAY(name, n)                                         \
	struct {                                                        \
		__uint(type, BPF_MAP_TYPE_PROG_ARRAY);                  \
		__uint(max_entries, n);                                 \
		__uint(key_size, sizeof(u32));                          \
		__uint(value_size, sizeof(u32));                        \
	} name SEC(".maps")

/* The value for key, creating it from *init first if it is missing (BCC's lookup_or_try_init). */
static __always_inline void *netbpf_lookup_or_init(void *map, const void *key, const void *init)
{
	void *value = bpf_map_lookup_elem(map, key);

	if (value)
		return value;
	bpf_map_update_elem(map, key, init, BPF_NOEXIST);
	return bpf_map_lookup_elem(map, key);
}

/* Adds one to the u64 at key (created as 0 when missing). */
static __always_inline void netbpf_increment(void *map, const void *key)
{
	u64 zero = 0, *value = netbpf_lookup_or_init(map, key, &zero);

	if (value)
		__sync_fetch_and_add(value, 1);
}

/* floor(log2(v)) for v > 0, 0 for v == 0: the bucket of a log2 histogram. */
static __always_inline unsigned int netbpf_log2(u32 v)
{
	unsigned int r = 0, shift;

	shift = (v > 0xFFFF) << 4; v >>= shift; r |= shift;
	shift = (v > 0xFF) << 3; v >>= shift; r |= shift;
	shift = (v > 0xF) << 2; v >>= shift; r |= shift;
	shift = (v > 0x3) << 1; v >>= shift; r |= shift;
	r |= (v >> 1);
	return r;
}

static __always_inline unsigned int netbpf_log2l(u64 v)
{
	u32 hi = v >> 32;

	return hi ? netbpf_log2(hi) + 32 : netbpf_log2((u32)v);
}

/* NETBPF_CGROUP_FILTER(): libbpf-tools' `-c CGROUP`, once for every tool that offers it.
 * Declares `filter_cg` (set it in .rodata before load), `cgroup_map` (a CGROUP_ARRAY whose slot 0
 * user space fills with the cgroup v2 directory's fd after load) and cgroup_refused(), true for
 * a task outside that cgroup (bpf_current_task_under_cgroup, 4.8). Until the fd is stored,
 * nothing passes: the helper fails on an empty slot. */
#define NETBPF_CGROUP_FILTER()                                                  \
	const volatile _Bool filter_cg = 0;                                     \
	struct {                                                                \
		__uint(type, BPF_MAP_TYPE_CGROUP_ARRAY);                        \
		__uint(max_entries, 1);                                         \
		__type(key, u32);                                               \
		__type(value, u32);                                             \
	} cgroup_map SEC(".maps");                                              \
	static __always_inline _Bool cgroup_refused(void)                       \
	{                                                                       \
		return filter_cg && bpf_current_task_under_cgroup(&cgroup_map, 0) != 1; \
	}

/* NETBPF_LOST_COUNTER(): the `lost` array (one u64) a tool's user space reports as "Lost N
 * events", and count_lost(), called where bpf_ringbuf_output/reserve fails (the ring was full). */
#define NETBPF_LOST_COUNTER()                                                   \
	BPF_ARRAY(lost, u64, 1);                                                \
	static __always_inline void count_lost(void)                            \
	{                                                                       \
		u32 zero = 0;                                                   \
		u64 *n = bpf_map_lookup_elem(&lost, &zero);                     \
		if (n)                                                          \
			__sync_fetch_and_add(n, 1);                             \
	}

/* NETBPF_LICENSE("GPL"): the license section GPL-only helpers require. */
#define NETBPF_LICENSE(text) char LICENSE[] SEC("license") = text

#endif /* __NETBPF_H__ */
"""#
}
