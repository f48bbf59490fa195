/// netbpf_bcc.h: the part of BCC's implicit helpers.h (and of the kernel headers BCC programs
/// include) that a BCC program needs, written for libbpf and vmlinux.h. In BCC mode the
/// compiler includes it, after vmlinux.h, before the program's first line; the program's own
/// kernel-header includes are blanked (vmlinux.h has the types; the macros they would bring
/// are below). docs/bcc-c.md lists what is covered.
///
/// Maps become libbpf BTF-defined maps with BCC's default sizes. The struct of every map has a
/// `key` and a `value` member of pointer type (libbpf's __type), so the method rewrite
/// (`m.lookup(&k)` -> a typed lookup) can use `__typeof__(m.value)`.
enum BCCPrelude {
    static let fileName = "netbpf_bcc.h"

    static let text = #"""
/* netbpf_bcc.h: BCC's helpers.h surface on vmlinux.h and libbpf (written by netbpf; BCC mode). */
#ifndef __NETBPF_BCC_H__
#define __NETBPF_BCC_H__

#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>

#define BCC_SEC(NAME) __attribute__((section(NAME), used))

/* Kernel annotations that only mean something to sparse. */
#define __user
#define __kernel
#define __force
#define __iomem
#define __rcu
#define __percpu

/* The sixth argument register (libbpf 1.1 stops at PT_REGS_PARM5). */
#define __NBB_PARM6(x) (__PT_REGS_CAST(x)->r9)

typedef __u8 u8;
typedef __s8 s8;
typedef __u16 u16;
typedef __s16 s16;
typedef __u32 u32;
typedef __s32 s32;
typedef __u64 u64;
typedef __s64 s64;

/* ---- maps: BPF_TABLE and the BPF_* shorthands, BCC's defaults ---- */

#define __NBB_PICK(_1, _2, _3, _4, _5, _6, NAME, ...) NAME

#define __NBB_MAP(maptype, k, v, name, size, flags)             \
	struct {                                                \
		__uint(type, maptype);                          \
		__uint(max_entries, size);                      \
		__type(key, k);                                 \
		__type(value, v);                               \
		__uint(map_flags, flags);                       \
	} name SEC(".maps")

/* Maps whose kernel type fixes 4-byte keys and values (fd arrays). */
#define __NBB_FDMAP(maptype, name, size)                        \
	struct {                                                \
		__uint(type, maptype);                          \
		__uint(max_entries, size);                      \
		__uint(key_size, sizeof(u32));                  \
		__uint(value_size, sizeof(u32));                \
	} name SEC(".maps")

/* BPF_TABLE("type", key, value, name, size) is rewritten to __NBB_TABLE_type(...) before
 * clang (a string cannot pick a macro). */
#define BPF_F_TABLE(t, k, v, name, size, flags) __NBB_TABLE_##t(k, v, name, size, flags)
#define __NBB_TABLE_hash(k, v, name, size, flags) __NBB_MAP(BPF_MAP_TYPE_HASH, k, v, name, size, flags)
#define __NBB_TABLE_array(k, v, name, size, flags) __NBB_MAP(BPF_MAP_TYPE_ARRAY, k, v, name, size, flags)
#define __NBB_TABLE_percpu_hash(k, v, name, size, flags) __NBB_MAP(BPF_MAP_TYPE_PERCPU_HASH, k, v, name, size, flags)
#define __NBB_TABLE_percpu_array(k, v, name, size, flags) __NBB_MAP(BPF_MAP_TYPE_PERCPU_ARRAY, k, v, name, size, flags)
#define __NBB_TABLE_lru_hash(k, v, name, size, flags) __NBB_MAP(BPF_MAP_TYPE_LRU_HASH, k, v, name, size, flags)
#define __NBB_TABLE_lru_percpu_hash(k, v, name, size, flags) __NBB_MAP(BPF_MAP_TYPE_LRU_PERCPU_HASH, k, v, name, size, flags)
#define __NBB_TABLE_lpm_trie(k, v, name, size, flags) __NBB_MAP(BPF_MAP_TYPE_LPM_TRIE, k, v, name, size, (flags) | BPF_F_NO_PREALLOC)
#define __NBB_TABLE_stacktrace(k, v, name, size, flags) __NBB_MAP(BPF_MAP_TYPE_STACK_TRACE, k, v, name, size, flags)
#define __NBB_TABLE_devmap(k, v, name, size, flags) __NBB_MAP(BPF_MAP_TYPE_DEVMAP, k, v, name, size, flags)
#define __NBB_TABLE_cpumap(k, v, name, size, flags) __NBB_MAP(BPF_MAP_TYPE_CPUMAP, k, v, name, size, flags)
#define __NBB_TABLE_xskmap(k, v, name, size, flags) __NBB_MAP(BPF_MAP_TYPE_XSKMAP, k, v, name, size, flags)
#define __NBB_TABLE_sockmap(k, v, name, size, flags) __NBB_MAP(BPF_MAP_TYPE_SOCKMAP, k, v, name, size, flags)
#define __NBB_TABLE_sockhash(k, v, name, size, flags) __NBB_MAP(BPF_MAP_TYPE_SOCKHASH, k, v, name, size, flags)
#define __NBB_TABLE_prog(k, v, name, size, flags) __NBB_FDMAP(BPF_MAP_TYPE_PROG_ARRAY, name, size)
#define __NBB_TABLE_perf_output(k, v, name, size, flags) __NBB_FDMAP(BPF_MAP_TYPE_PERF_EVENT_ARRAY, name, size)
#define __NBB_TABLE_perf_array(k, v, name, size, flags) __NBB_FDMAP(BPF_MAP_TYPE_PERF_EVENT_ARRAY, name, size)
#define __NBB_TABLE_cgroup_array(k, v, name, size, flags) __NBB_FDMAP(BPF_MAP_TYPE_CGROUP_ARRAY, name, size)
/* "extern": a map another program shares; declared here as the map it names. */
#define __NBB_TABLE_extern(k, v, name, size, flags) __NBB_MAP(BPF_MAP_TYPE_HASH, k, v, name, size, flags)
#define BPF_TABLE(t, k, v, name, size) BPF_F_TABLE(t, k, v, name, size, 0)
/* Shared, public and pinned tables are ordinary maps here (pinning is the loader's business). */
#define BPF_TABLE_SHARED(t, k, v, name, size) BPF_F_TABLE(t, k, v, name, size, 0)
#define BPF_TABLE_PUBLIC(t, k, v, name, size) BPF_F_TABLE(t, k, v, name, size, 0)
#define BPF_TABLE_PINNED(t, k, v, name, size, path, ...) BPF_F_TABLE(t, k, v, name, size, 0)

/* BPF_HASH(name [, key = u64 [, value = u64 [, size = 10240]]]) */
#define BPF_HASH(...) __NBB_PICK(__VA_ARGS__, _, _, __NBB_HASH4, __NBB_HASH3, __NBB_HASH2, __NBB_HASH1)(__VA_ARGS__)
#define __NBB_HASH1(name) __NBB_MAP(BPF_MAP_TYPE_HASH, u64, u64, name, 10240, 0)
#define __NBB_HASH2(name, k) __NBB_MAP(BPF_MAP_TYPE_HASH, k, u64, name, 10240, 0)
#define __NBB_HASH3(name, k, v) __NBB_MAP(BPF_MAP_TYPE_HASH, k, v, name, 10240, 0)
#define __NBB_HASH4(name, k, v, n) __NBB_MAP(BPF_MAP_TYPE_HASH, k, v, name, n, 0)

#define BPF_LRU_HASH(...) __NBB_PICK(__VA_ARGS__, _, _, __NBB_LRU4, __NBB_LRU3, __NBB_LRU2, __NBB_LRU1)(__VA_ARGS__)
#define __NBB_LRU1(name) __NBB_MAP(BPF_MAP_TYPE_LRU_HASH, u64, u64, name, 10240, 0)
#define __NBB_LRU2(name, k) __NBB_MAP(BPF_MAP_TYPE_LRU_HASH, k, u64, name, 10240, 0)
#define __NBB_LRU3(name, k, v) __NBB_MAP(BPF_MAP_TYPE_LRU_HASH, k, v, name, 10240, 0)
#define __NBB_LRU4(name, k, v, n) __NBB_MAP(BPF_MAP_TYPE_LRU_HASH, k, v, name, n, 0)

#define BPF_PERCPU_HASH(...) __NBB_PICK(__VA_ARGS__, _, _, __NBB_PCHASH4, __NBB_PCHASH3, __NBB_PCHASH2, __NBB_PCHASH1)(__VA_ARGS__)
#define __NBB_PCHASH1(name) __NBB_MAP(BPF_MAP_TYPE_PERCPU_HASH, u64, u64, name, 10240, 0)
#define __NBB_PCHASH2(name, k) __NBB_MAP(BPF_MAP_TYPE_PERCPU_HASH, k, u64, name, 10240, 0)
#define __NBB_PCHASH3(name, k, v) __NBB_MAP(BPF_MAP_TYPE_PERCPU_HASH, k, v, name, 10240, 0)
#define __NBB_PCHASH4(name, k, v, n) __NBB_MAP(BPF_MAP_TYPE_PERCPU_HASH, k, v, name, n, 0)

/* BPF_ARRAY(name [, value = u64 [, size = 10240]]): u32 keys. */
#define BPF_ARRAY(...) __NBB_PICK(__VA_ARGS__, _, _, _, __NBB_ARRAY3, __NBB_ARRAY2, __NBB_ARRAY1)(__VA_ARGS__)
#define __NBB_ARRAY1(name) __NBB_MAP(BPF_MAP_TYPE_ARRAY, u32, u64, name, 10240, 0)
#define __NBB_ARRAY2(name, v) __NBB_MAP(BPF_MAP_TYPE_ARRAY, u32, v, name, 10240, 0)
#define __NBB_ARRAY3(name, v, n) __NBB_MAP(BPF_MAP_TYPE_ARRAY, u32, v, name, n, 0)

#define BPF_PERCPU_ARRAY(...) __NBB_PICK(__VA_ARGS__, _, _, _, __NBB_PCARRAY3, __NBB_PCARRAY2, __NBB_PCARRAY1)(__VA_ARGS__)
#define __NBB_PCARRAY1(name) __NBB_MAP(BPF_MAP_TYPE_PERCPU_ARRAY, u32, u64, name, 10240, 0)
#define __NBB_PCARRAY2(name, v) __NBB_MAP(BPF_MAP_TYPE_PERCPU_ARRAY, u32, v, name, 10240, 0)
#define __NBB_PCARRAY3(name, v, n) __NBB_MAP(BPF_MAP_TYPE_PERCPU_ARRAY, u32, v, name, n, 0)

/* BPF_HISTOGRAM(name [, key = int [, size = 64]]) */
#define BPF_HISTOGRAM(...) __NBB_PICK(__VA_ARGS__, _, _, _, __NBB_HIST3, __NBB_HIST2, __NBB_HIST1)(__VA_ARGS__)
#define __NBB_HIST1(name) __NBB_MAP(BPF_MAP_TYPE_HASH, int, u64, name, 64, 0)
#define __NBB_HIST2(name, k) __NBB_MAP(BPF_MAP_TYPE_HASH, k, u64, name, 64, 0)
#define __NBB_HIST3(name, k, n) __NBB_MAP(BPF_MAP_TYPE_HASH, k, u64, name, n, 0)

/* BPF_LPM_TRIE(name [, key = u64 [, value = u64 [, size = 10240]]]) */
#define BPF_LPM_TRIE(...) __NBB_PICK(__VA_ARGS__, _, _, __NBB_LPM4, __NBB_LPM3, __NBB_LPM2, __NBB_LPM1)(__VA_ARGS__)
#define __NBB_LPM1(name) __NBB_MAP(BPF_MAP_TYPE_LPM_TRIE, u64, u64, name, 10240, BPF_F_NO_PREALLOC)
#define __NBB_LPM2(name, k) __NBB_MAP(BPF_MAP_TYPE_LPM_TRIE, k, u64, name, 10240, BPF_F_NO_PREALLOC)
#define __NBB_LPM3(name, k, v) __NBB_MAP(BPF_MAP_TYPE_LPM_TRIE, k, v, name, 10240, BPF_F_NO_PREALLOC)
#define __NBB_LPM4(name, k, v, n) __NBB_MAP(BPF_MAP_TYPE_LPM_TRIE, k, v, name, n, BPF_F_NO_PREALLOC)

/* BPF_STACK_TRACE(name, size): stack id -> 127 return addresses. */
#define BPF_MAX_STACK_DEPTH 127
struct bpf_stacktrace { u64 ip[BPF_MAX_STACK_DEPTH]; };
#define BPF_STACK_TRACE(name, size) __NBB_MAP(BPF_MAP_TYPE_STACK_TRACE, int, struct bpf_stacktrace, name, size, 0)

/* BPF_STACK_TRACE_BUILDID(name, size): stack id -> 127 (build id, offset) frames. */
struct bpf_stacktrace_buildid { struct bpf_stack_build_id trace[BPF_MAX_STACK_DEPTH]; };
#define BPF_STACK_TRACE_BUILDID(name, size) \
	__NBB_MAP(BPF_MAP_TYPE_STACK_TRACE, int, struct bpf_stacktrace_buildid, name, size, BPF_F_STACK_BUILD_ID)

/* BPF_PERF_OUTPUT(name): one perf ring per CPU (libbpf sizes it to the CPUs). */
#define BPF_PERF_OUTPUT(name)                                   \
	struct {                                                \
		__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);    \
		__uint(key_size, sizeof(u32));                  \
		__uint(value_size, sizeof(u32));                \
	} name SEC(".maps")
/* BPF_PERF_ARRAY(name, size): perf counters read with name.perf_read(cpu). */
#define BPF_PERF_ARRAY(name, size) __NBB_FDMAP(BPF_MAP_TYPE_PERF_EVENT_ARRAY, name, size)

/* BPF_RINGBUF_OUTPUT(name, pages): pages of 4 KiB (a power of two). */
#define BPF_RINGBUF_OUTPUT(name, pages)                         \
	struct {                                                \
		__uint(type, BPF_MAP_TYPE_RINGBUF);             \
		__uint(max_entries, (pages) * 4096);            \
	} name SEC(".maps")

#define BPF_PROG_ARRAY(name, size) __NBB_FDMAP(BPF_MAP_TYPE_PROG_ARRAY, name, size)
#define BPF_CGROUP_ARRAY(name, size) __NBB_FDMAP(BPF_MAP_TYPE_CGROUP_ARRAY, name, size)
#define BPF_DEVMAP(name, size) __NBB_MAP(BPF_MAP_TYPE_DEVMAP, int, int, name, size, 0)
#define BPF_CPUMAP(name, size) __NBB_MAP(BPF_MAP_TYPE_CPUMAP, u32, u32, name, size, 0)
#define BPF_XSKMAP(name, size) __NBB_MAP(BPF_MAP_TYPE_XSKMAP, int, int, name, size, 0)
#define BPF_SOCKMAP(name, size) __NBB_MAP(BPF_MAP_TYPE_SOCKMAP, int, int, name, size, 0)
#define BPF_SOCKHASH(...) __NBB_PICK(__VA_ARGS__, _, _, _, __NBB_SOCKHASH3, __NBB_SOCKHASH2, __NBB_SOCKHASH1)(__VA_ARGS__)
#define __NBB_SOCKHASH1(name) __NBB_MAP(BPF_MAP_TYPE_SOCKHASH, u32, int, name, 10240, 0)
#define __NBB_SOCKHASH2(name, k) __NBB_MAP(BPF_MAP_TYPE_SOCKHASH, k, int, name, 10240, 0)
#define __NBB_SOCKHASH3(name, k, n) __NBB_MAP(BPF_MAP_TYPE_SOCKHASH, k, int, name, n, 0)

#define __NBB_VALUEONLY(maptype, v, name, size)                 \
	struct {                                                \
		__uint(type, maptype);                          \
		__uint(max_entries, size);                      \
		__type(value, v);                               \
	} name SEC(".maps")
#define BPF_QUEUE(name, v, size) __NBB_VALUEONLY(BPF_MAP_TYPE_QUEUE, v, name, size)
#define BPF_STACK(name, v, size) __NBB_VALUEONLY(BPF_MAP_TYPE_STACK, v, name, size)

#define __NBB_STORAGE(maptype, name, v)                         \
	struct {                                                \
		__uint(type, maptype);                          \
		__uint(map_flags, BPF_F_NO_PREALLOC);           \
		__type(key, int);                               \
		__type(value, v);                               \
	} name SEC(".maps")
#define BPF_SK_STORAGE(name, v) __NBB_STORAGE(BPF_MAP_TYPE_SK_STORAGE, name, v)
#define BPF_INODE_STORAGE(name, v) __NBB_STORAGE(BPF_MAP_TYPE_INODE_STORAGE, name, v)
#define BPF_TASK_STORAGE(name, v) __NBB_STORAGE(BPF_MAP_TYPE_TASK_STORAGE, name, v)

/* ---- the map methods, after the rewrite of m.method(...) ---- */

/* m.lookup_or_try_init(&k, &init) / lookup_or_init */
#define __NBB_LOOKUP_OR_INIT(__nbb_m, __nbb_kp, __nbb_init) ({                          \
	__typeof__((__nbb_m).value) __nbb_v = bpf_map_lookup_elem(&(__nbb_m), (__nbb_kp));     \
	if (!__nbb_v) {                                                                 \
		bpf_map_update_elem(&(__nbb_m), (__nbb_kp), (__nbb_init), BPF_NOEXIST);         \
		__nbb_v = bpf_map_lookup_elem(&(__nbb_m), (__nbb_kp));                          \
	}                                                                               \
	__nbb_v; })

/* m.increment(key [, n]): key by value; adds n (1) to the value, created as 0 when missing. */
#define __NBB_INCREMENT(__nbb_m, __nbb_key, __nbb_n) ({                                 \
	__typeof__(*(__nbb_m).key) __nbb_k = (__nbb_key);                                \
	__typeof__((__nbb_m).value) __nbb_v = bpf_map_lookup_elem(&(__nbb_m), &__nbb_k); \
	if (!__nbb_v) {                                                                 \
		__typeof__(*(__nbb_m).value) __nbb_zero;                                 \
		__builtin_memset(&__nbb_zero, 0, sizeof(__nbb_zero));                   \
		bpf_map_update_elem(&(__nbb_m), &__nbb_k, &__nbb_zero, BPF_NOEXIST);     \
		__nbb_v = bpf_map_lookup_elem(&(__nbb_m), &__nbb_k);                     \
	}                                                                               \
	if (__nbb_v)                                                                    \
		__sync_fetch_and_add(__nbb_v, (__nbb_n));                               \
	})

/* ---- helpers.h functions and kernel-header macros BCC programs use ---- */

#define lock_xadd(ptr, val) ((void)__sync_fetch_and_add(ptr, val))

static __always_inline unsigned int bpf_log2(unsigned int v)
{
	unsigned int r, shift;

	r = (v > 0xFFFF) << 4; v >>= r;
	shift = (v > 0xFF) << 3; v >>= shift; r |= shift;
	shift = (v > 0xF) << 2; v >>= shift; r |= shift;
	shift = (v > 0x3) << 1; v >>= shift; r |= shift;
	r |= (v >> 1);
	return r;
}

static __always_inline unsigned int bpf_log2l(unsigned long v)
{
	unsigned int hi = v >> 32;

	if (hi)
		return bpf_log2(hi) + 32 + 1;
	return bpf_log2(v) + 1;
}

/* BCC's TRACEPOINT_PROBE: `args` points at the event's record; the struct comes from the
 * event's tracefs format (or vmlinux.h's trace_event_raw_EVENT) and is written by the rewrite. */
#define TRACEPOINT_PROBE(category, event)                                       \
	BCC_SEC("tracepoint/" #category "/" #event)                             \
	int tracepoint__##category##__##event(struct tracepoint__##category##__##event *args)
#define RAW_TRACEPOINT_PROBE(event)                                             \
	BCC_SEC("raw_tracepoint/" #event)                                       \
	int raw_tracepoint__##event(struct bpf_raw_tracepoint_args *ctx)
/* KFUNC_PROBE / KRETFUNC_PROBE / LSM_PROBE: fentry, fexit and lsm programs through libbpf's BPF_PROG. */
#define KFUNC_PROBE(event, args...) BCC_SEC("fentry/" #event) int BPF_PROG(kfunc__##event, ##args)
#define KRETFUNC_PROBE(event, args...) BCC_SEC("fexit/" #event) int BPF_PROG(kretfunc__##event, ##args)
#define KMOD_RET(event, args...) BCC_SEC("fmod_ret/" #event) int BPF_PROG(kmod_ret__##event, ##args)
#define LSM_PROBE(event, args...) BCC_SEC("lsm/" #event) int BPF_PROG(lsm__##event, ##args)

/* BCC reads __data_loc strings of tracepoint records with TP_DATA_LOC_READ*. */
#define TP_DATA_LOC_READ_CONST(dst, field, length)                              \
	do {                                                                    \
		unsigned short __offset = args->data_loc_##field & 0xFFFF;      \
		bpf_probe_read((void *)dst, length, (char *)args + __offset);   \
	} while (0)
#define TP_DATA_LOC_READ(dst, field)                                            \
	do {                                                                    \
		unsigned short __offset = args->data_loc_##field & 0xFFFF;      \
		unsigned short __length = args->data_loc_##field >> 16;         \
		bpf_probe_read((void *)dst, __length, (char *)args + __offset); \
	} while (0)
#define TP_DATA_LOC_READ_STR(dst, field, length)                                \
	do {                                                                    \
		unsigned short __offset = args->data_loc_##field & 0xFFFF;      \
		bpf_probe_read_str((void *)dst, length, (char *)args + __offset); \
	} while (0)


/* Byte order (linux/byteorder, asm/byteorder). */
#define ntohs(x) bpf_ntohs(x)
#define htons(x) bpf_htons(x)
#define ntohl(x) bpf_ntohl(x)
#define htonl(x) bpf_htonl(x)
#define be16_to_cpu(x) bpf_ntohs(x)
#define be32_to_cpu(x) bpf_ntohl(x)
#define be64_to_cpu(x) __builtin_bswap64(x)
#define cpu_to_be16(x) bpf_htons(x)
#define cpu_to_be32(x) bpf_htonl(x)
#define cpu_to_be64(x) __builtin_bswap64(x)

/* include/linux/stddef.h, kernel.h, compiler.h */
#ifndef offsetof
#define offsetof(TYPE, MEMBER) __builtin_offsetof(TYPE, MEMBER)
#endif
#ifndef container_of
#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))
#endif
#ifndef NULL
#define NULL ((void *)0)
#endif
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define READ_ONCE(x) (*(volatile __typeof__(x) *)&(x))
#ifndef barrier
#define barrier() __asm__ __volatile__("" : : : "memory")
#endif
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define min(x, y) ({ __typeof__(x) __nbb_x = (x); __typeof__(y) __nbb_y = (y); __nbb_x < __nbb_y ? __nbb_x : __nbb_y; })
#define max(x, y) ({ __typeof__(x) __nbb_x = (x); __typeof__(y) __nbb_y = (y); __nbb_x > __nbb_y ? __nbb_x : __nbb_y; })
#define min_t(type, x, y) ({ type __nbb_x = (x); type __nbb_y = (y); __nbb_x < __nbb_y ? __nbb_x : __nbb_y; })
#define max_t(type, x, y) ({ type __nbb_x = (x); type __nbb_y = (y); __nbb_x > __nbb_y ? __nbb_x : __nbb_y; })
/* Casts that are inline functions in the kernel's headers. */
#define tcp_sk(sk) ((struct tcp_sock *)(sk))
#define inet_sk(sk) ((struct inet_sock *)(sk))
#define inet_csk(sk) ((struct inet_connection_sock *)(sk))
#define udp_sk(sk) ((struct udp_sock *)(sk))
#define unix_sk(sk) ((struct unix_sock *)(sk))
#define sg_is_chain(sg) ((sg)->page_link & 0x01UL)
#define sg_is_last(sg) ((sg)->page_link & 0x02UL)
#define sg_chain_ptr(sg) ((struct scatterlist *)((sg)->page_link & ~0x03UL))
/* x86-64's direct map without KASLR (page_offset_base is the real one). */
#define PAGE_OFFSET 0xffff888000000000UL
#define FMODE_CREATED 0x100000
#define SCM_RIGHTS 0x01
#define div_u64(a, b) ((u64)(a) / (u32)(b))
#define IPPROTO_HOPOPTS 0
#define IPPROTO_ROUTING 43
#define IPPROTO_FRAGMENT 44
#define IPPROTO_ICMPV6 58
#define IPPROTO_NONE 59
#define IPPROTO_DSTOPTS 60
#define IPPROTO_MH 135
#define MAX_ERRNO 4095
#define IS_ERR_VALUE(x) unlikely((unsigned long)(void *)(x) >= (unsigned long)-MAX_ERRNO)

/* sched.h, limits, time */
#define TASK_COMM_LEN 16
#define NAME_MAX 255
#define PATH_MAX 4096
#define DNAME_INLINE_LEN 40
#define TASK_RUNNING 0x0000
#define TASK_INTERRUPTIBLE 0x0001
#define TASK_UNINTERRUPTIBLE 0x0002
#define __TASK_STOPPED 0x0004
#define __TASK_TRACED 0x0008
#define EXIT_DEAD 0x0010
#define EXIT_ZOMBIE 0x0020
#define TASK_DEAD 0x0080
#define TASK_WAKEKILL 0x0100
#define TASK_NOLOAD 0x0400
#define TASK_REPORT_MAX 0x0100
#define PF_KTHREAD 0x00200000
#define PF_EXITING 0x00000004
#define NSEC_PER_SEC 1000000000ULL
#define NSEC_PER_MSEC 1000000ULL
#define NSEC_PER_USEC 1000ULL
#define USEC_PER_SEC 1000000ULL
#define MSEC_PER_SEC 1000ULL
#define MINORBITS 20
#define MINORMASK ((1U << MINORBITS) - 1)
#define MAJOR(dev) ((unsigned int)((dev) >> MINORBITS))
#define MINOR(dev) ((unsigned int)((dev) & MINORMASK))
#define MKDEV(ma, mi) (((ma) << MINORBITS) | (mi))
#define DISK_NAME_LEN 32
#define PAGE_SHIFT 12
#define PAGE_SIZE (1UL << PAGE_SHIFT)
#define MAX_NICE 19
#define MIN_NICE -20
#define NICE_WIDTH (MAX_NICE - MIN_NICE + 1)
#define MAX_RT_PRIO 100
#define DEFAULT_PRIO (MAX_RT_PRIO + NICE_WIDTH / 2)
#define REQ_OP_BITS 8
#define REQ_OP_MASK ((1 << REQ_OP_BITS) - 1)
#define O_RDONLY 00000000
#define O_WRONLY 00000001
#define O_RDWR 00000002
#define O_CREAT 00000100
#define O_TRUNC 00001000
#define O_APPEND 00002000
#define FMODE_READ 0x1
#define FMODE_WRITE 0x2
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define S_IFLNK 0120000
#define S_IFREG 0100000
#define S_IFDIR 0040000
#define S_ISREG(m) (((m) & S_IFMT) == S_IFREG)
#define S_ISDIR(m) (((m) & S_IFMT) == S_IFDIR)
#define S_ISSOCK(m) (((m) & S_IFMT) == S_IFSOCK)
#define S_ISLNK(m) (((m) & S_IFMT) == S_IFLNK)
#define CLONE_THREAD 0x00010000

/* sockets and protocols (linux/socket.h, if_ether.h, in.h ...) */
#define AF_UNSPEC 0
#define AF_UNIX 1
#define AF_INET 2
#define AF_INET6 10
#define AF_PACKET 17
#define PF_INET AF_INET
#define PF_INET6 AF_INET6
#define ETH_ALEN 6
#define ETH_HLEN 14
#define ETH_P_IP 0x0800
#define ETH_P_ARP 0x0806
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88A8
#define ETH_P_IPV6 0x86DD
#define ETH_P_ALL 0x0003
#define VLAN_HLEN 4
#define VLAN_VID_MASK 0x0fff
#define SOCK_STREAM 1
#define SOCK_DGRAM 2
#define SOCK_RAW 3
#define TC_ACT_UNSPEC (-1)
#define TC_ACT_OK 0
#define TC_ACT_RECLASSIFY 1
#define TC_ACT_SHOT 2
#define TC_ACT_PIPE 3
#define TC_ACT_STOLEN 4
#define TC_ACT_REDIRECT 7

/* struct sock_common / sock / inet_sock field shorthands (net/sock.h, net/inet_sock.h) */
#define sk_node __sk_common.skc_node
#define sk_nulls_node __sk_common.skc_nulls_node
#define sk_refcnt __sk_common.skc_refcnt
#define sk_tx_queue_mapping __sk_common.skc_tx_queue_mapping
#define sk_dontcopy_begin __sk_common.skc_dontcopy_begin
#define sk_dontcopy_end __sk_common.skc_dontcopy_end
#define sk_hash __sk_common.skc_hash
#define sk_portpair __sk_common.skc_portpair
#define sk_num __sk_common.skc_num
#define sk_dport __sk_common.skc_dport
#define sk_addrpair __sk_common.skc_addrpair
#define sk_daddr __sk_common.skc_daddr
#define sk_rcv_saddr __sk_common.skc_rcv_saddr
#define sk_family __sk_common.skc_family
#define sk_state __sk_common.skc_state
#define sk_reuse __sk_common.skc_reuse
#define sk_reuseport __sk_common.skc_reuseport
#define sk_ipv6only __sk_common.skc_ipv6only
#define sk_net_refcnt __sk_common.skc_net_refcnt
#define sk_bound_dev_if __sk_common.skc_bound_dev_if
#define sk_bind_node __sk_common.skc_bind_node
#define sk_prot __sk_common.skc_prot
#define sk_net __sk_common.skc_net
#define sk_v6_daddr __sk_common.skc_v6_daddr
#define sk_v6_rcv_saddr __sk_common.skc_v6_rcv_saddr
#define sk_cookie __sk_common.skc_cookie
#define sk_incoming_cpu __sk_common.skc_incoming_cpu
#define sk_flags __sk_common.skc_flags
#define sk_rxhash __sk_common.skc_rxhash
#define inet_daddr sk.__sk_common.skc_daddr
#define inet_rcv_saddr sk.__sk_common.skc_rcv_saddr
#define inet_dport sk.__sk_common.skc_dport
#define inet_num sk.__sk_common.skc_num
#define tw_family __tw_common.skc_family
#define tw_state __tw_common.skc_state
#define tw_daddr __tw_common.skc_daddr
#define tw_rcv_saddr __tw_common.skc_rcv_saddr
#define tw_dport __tw_common.skc_dport
#define tw_num __tw_common.skc_num
#define s6_addr in6_u.u6_addr8
#define s6_addr16 in6_u.u6_addr16
#define s6_addr32 in6_u.u6_addr32

/* ---- bcc/proto.h: packet parsing with a cursor ---- */
unsigned long long load_byte(void *skb, unsigned long long off) asm("llvm.bpf.load.byte");
unsigned long long load_half(void *skb, unsigned long long off) asm("llvm.bpf.load.half");
unsigned long long load_word(void *skb, unsigned long long off) asm("llvm.bpf.load.word");

#define cursor_advance(_cursor, _len) ({ void *_tmp = _cursor; _cursor += _len; _tmp; })

/* A packet header: `p->field` on a pointer to one (a cursor offset) is rewritten by netbpf-cc
 * into bpf_dext_pkt(skb, (u64)p + byte, bit, bits), an assignment into bpf_dins_pkt: fields
 * are read as BCC reads them, big-endian bit numbering, values in host order. */
#define BPF_PACKET_HEADER __attribute__((packed, annotate("netbpf_bcc_packet")))
#define __NBB_MASK(bits) ((bits) >= 64 ? ~0ULL : ((1ULL << (bits)) - 1))

/* `bsz` bits starting `bofs` bits after the most significant bit of the byte at packet offset
 * `off`, in host order (LD_ABS loads are big-endian to host). */
static __always_inline u64 bpf_dext_pkt(void *pkt, u64 off, u64 bofs, u64 bsz)
{
	if (bofs + bsz <= 8)
		return (load_byte(pkt, off) >> (8 - bofs - bsz)) & __NBB_MASK(bsz);
	if (bofs + bsz <= 16)
		return (load_half(pkt, off) >> (16 - bofs - bsz)) & __NBB_MASK(bsz);
	if (bofs + bsz <= 32)
		return (load_word(pkt, off) >> (32 - bofs - bsz)) & __NBB_MASK(bsz);
	if (bofs + bsz <= 64)
		return ((((u64)load_word(pkt, off)) << 32 | load_word(pkt, off + 4)) >> (64 - bofs - bsz)) & __NBB_MASK(bsz);
	return 0;
}

/* Stores the low `bsz` bits of `val` where bpf_dext_pkt would read them (bpf_skb_store_bytes,
 * the bits around kept). */
static __always_inline void bpf_dins_pkt(void *pkt, u64 off, u64 bofs, u64 bsz, u64 val)
{
	if (bofs + bsz <= 8) {
		u8 keep = bsz == 8 ? 0 : (u8)load_byte(pkt, off);
		u8 mask = __NBB_MASK(bsz) << (8 - bofs - bsz);
		u8 v = (keep & ~mask) | ((val << (8 - bofs - bsz)) & mask);
		bpf_skb_store_bytes(pkt, off, &v, 1, 0);
	} else if (bofs + bsz <= 16) {
		u16 keep = bsz == 16 ? 0 : (u16)load_half(pkt, off);
		u16 mask = __NBB_MASK(bsz) << (16 - bofs - bsz);
		u16 v = bpf_htons((keep & ~mask) | ((val << (16 - bofs - bsz)) & mask));
		bpf_skb_store_bytes(pkt, off, &v, 2, 0);
	} else if (bofs + bsz <= 32) {
		u32 keep = bsz == 32 ? 0 : (u32)load_word(pkt, off);
		u32 mask = __NBB_MASK(bsz) << (32 - bofs - bsz);
		u32 v = bpf_htonl((keep & ~mask) | ((val << (32 - bofs - bsz)) & mask));
		bpf_skb_store_bytes(pkt, off, &v, 4, 0);
	} else if (bofs + bsz <= 64) {
		u64 keep = bsz == 64 ? 0 : (((u64)load_word(pkt, off)) << 32 | load_word(pkt, off + 4));
		u64 mask = __NBB_MASK(bsz) << (64 - bofs - bsz);
		u64 v = bpf_cpu_to_be64((keep & ~mask) | ((val << (64 - bofs - bsz)) & mask));
		bpf_skb_store_bytes(pkt, off, &v, 8, 0);
	}
}

struct ethernet_t {
	unsigned long long dst:48;
	unsigned long long src:48;
	unsigned int type:16;
} BPF_PACKET_HEADER;

struct dot1q_t {
	unsigned short pri:3;
	unsigned short cfi:1;
	unsigned short vlanid:12;
	unsigned short type;
} BPF_PACKET_HEADER;

struct arp_t {
	unsigned short htype;
	unsigned short ptype;
	unsigned char hlen;
	unsigned char plen;
	unsigned short oper;
	unsigned long long sha:48;
	unsigned long long spa:32;
	unsigned long long tha:48;
	unsigned int tpa;
} BPF_PACKET_HEADER;

struct ip_t {
	unsigned char ver:4;
	unsigned char hlen:4;
	unsigned char tos;
	unsigned short tlen;
	unsigned short identification;
	unsigned short ffo_unused:1;
	unsigned short df:1;
	unsigned short mf:1;
	unsigned short foffset:13;
	unsigned char ttl;
	unsigned char nextp;
	unsigned short hchecksum;
	unsigned int src;
	unsigned int dst;
} BPF_PACKET_HEADER;

struct icmp_t {
	unsigned char type;
	unsigned char code;
	unsigned short checksum;
} BPF_PACKET_HEADER;

struct ip6_t {
	unsigned int ver:4;
	unsigned int priority:8;
	unsigned int flow_label:20;
	unsigned short payload_len;
	unsigned char next_header;
	unsigned char hop_limit;
	unsigned long long src_hi;
	unsigned long long src_lo;
	unsigned long long dst_hi;
	unsigned long long dst_lo;
} BPF_PACKET_HEADER;

struct ip6_opt_t {
	unsigned char next_header;
	unsigned char ext_len;
	unsigned char pad[6];
} BPF_PACKET_HEADER;

struct icmp6_t {
	unsigned char type;
	unsigned char code;
	unsigned short checksum;
} BPF_PACKET_HEADER;

struct udp_t {
	unsigned short sport;
	unsigned short dport;
	unsigned short length;
	unsigned short crc;
} BPF_PACKET_HEADER;

struct tcp_t {
	unsigned short src_port;
	unsigned short dst_port;
	unsigned int seq_num;
	unsigned int ack_num;
	unsigned char offset:4;
	unsigned char reserved:4;
	unsigned char flag_cwr:1;
	unsigned char flag_ece:1;
	unsigned char flag_urg:1;
	unsigned char flag_ack:1;
	unsigned char flag_psh:1;
	unsigned char flag_rst:1;
	unsigned char flag_syn:1;
	unsigned char flag_fin:1;
	unsigned short rcv_wnd;
	unsigned short cksum;
	unsigned short urg_ptr;
} BPF_PACKET_HEADER;

struct vxlan_t {
	unsigned int rsv1:4;
	unsigned int iflag:1;
	unsigned int rsv2:3;
	unsigned int rsv3:24;
	unsigned int key:24;
	unsigned int rsv4:8;
} BPF_PACKET_HEADER;

struct vxlan_gbp_t {
	unsigned int gflag:1;
	unsigned int rsv1:3;
	unsigned int iflag:1;
	unsigned int rsv2:3;
	unsigned int rsv3:1;
	unsigned int dflag:1;
	unsigned int rsv4:1;
	unsigned int aflag:1;
	unsigned int rsv5:3;
	unsigned int rsv6:9;
	unsigned int tag:16;
	unsigned int key:24;
	unsigned int rsv7:8;
} BPF_PACKET_HEADER;

#endif /* __NETBPF_BCC_H__ */
"""#
}
