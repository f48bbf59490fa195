// C helpers for the parts of libbpf 1.1 and bpf(2) that Swift cannot call directly:
// the varargs print callback, LIBBPF_OPTS-initialised option structs, and raw bpf(2) commands
// that libbpf 1.1 has no wrapper for (tcx ordering).
#pragma once
#include <stddef.h>
#include <stdint.h>

struct perf_buffer;

#ifdef __cplusplus
extern "C" {
#endif

/// Receives every libbpf log line, already formatted. level: 0 warn, 1 info, 2 debug.
typedef void (*nb_print_fn)(int level, const char *line);
/// Routes libbpf's output (libbpf_set_print) to `fn`; NULL silences libbpf.
void nb_set_print(nb_print_fn fn);

/// BPF_PROG_TEST_RUN through bpf_prog_test_run_opts (libbpf 0.7+). Sizes are in/out.
int nb_prog_test_run(int prog_fd, const void *data_in, uint32_t data_size_in,
                     void *data_out, uint32_t *data_size_out,
                     const void *ctx_in, uint32_t ctx_size_in,
                     void *ctx_out, uint32_t *ctx_size_out,
                     int repeat, uint32_t flags, uint32_t *retval, uint32_t *duration_ns);

/// BPF_PROG_TEST_RUN of an XDP program with BPF_F_TEST_XDP_LIVE_FRAMES (kernel 5.18, libbpf 1.0's
/// batch_size): frames are really passed/sent/redirected. No data_out/ctx_out (the kernel refuses
/// them in this mode). Returns 0 or -errno; *duration_ns is the kernel's mean per frame.
int nb_prog_test_run_live(int prog_fd, const void *data_in, uint32_t data_size_in,
                          const void *ctx_in, uint32_t ctx_size_in,
                          uint32_t repeat, uint32_t batch_size, uint32_t *duration_ns);

/// BPF_MAP_LOOKUP_BATCH (kernel 5.6, libbpf 0.0.7). `in_batch` NULL starts at the beginning.
/// Returns 0 or -errno; *count is updated with the number of elements copied (also on -ENOENT).
int nb_map_lookup_batch(int map_fd, void *in_batch, void *out_batch,
                        void *keys, void *values, uint32_t *count, uint64_t elem_flags);
/// BPF_MAP_UPDATE_BATCH. Returns 0 or -errno; *count is the number of elements applied.
int nb_map_update_batch(int map_fd, const void *keys, const void *values,
                        uint32_t *count, uint64_t elem_flags, uint64_t flags);

/// Callbacks for the perf buffer consumer: one per sample, one per PERF_RECORD_LOST.
typedef void (*nb_perf_sample_fn)(void *ctx, int cpu, void *data, uint32_t size);
typedef void (*nb_perf_lost_fn)(void *ctx, int cpu, uint64_t lost);
/// perf_buffer__new_raw with PERF_COUNT_SW_BPF_OUTPUT and a wakeup watermark of `wakeup_events`
/// samples (1 = libbpf's default). Returns NULL and sets errno on failure.
struct perf_buffer *nb_perf_buffer_new(int map_fd, size_t page_cnt, uint32_t wakeup_events,
                                       nb_perf_sample_fn on_sample, nb_perf_lost_fn on_lost,
                                       void *ctx, void **owned);
/// Frees a buffer from nb_perf_buffer_new together with its callback table.
void nb_perf_buffer_free(struct perf_buffer *pb, void *owned);

/// BPF_LINK_CREATE for tcx (kernel 6.6; attach types 46/47) with ordering, through raw bpf(2),
/// since libbpf 1.1 passes only `flags` for attach types it does not know.
/// relative_fd/relative_id: 0 for none; flags: BPF_F_BEFORE (1<<3) / BPF_F_AFTER (1<<4) / BPF_F_ID (1<<5).
int nb_tcx_link_create(int prog_fd, int ifindex, uint32_t attach_type, uint32_t flags,
                       uint32_t relative_fd_or_id, uint64_t expected_revision);

/// Loads a sched_cls program named `name` that only returns `ret` (e.g. TCX_NEXT, -1). fd or -errno.
int nb_load_sched_cls_returning(int32_t ret, const char *name);

/// BPF_LINK_UPDATE with BPF_F_REPLACE (kernel 5.7): the link's program becomes new_prog_fd if it
/// is still old_prog_fd. 0 or -errno.
int nb_link_update_replace(int link_fd, int new_prog_fd, int old_prog_fd);

/// BPF_PROG_QUERY for tcx (kernel 6.6): fills prog_ids/link_ids (up to *count) and the revision.
int nb_tcx_query(int ifindex, uint32_t attach_type, uint32_t *prog_ids, uint32_t *link_ids,
                 uint32_t *count, uint64_t *revision);


#ifdef __cplusplus
}
#endif

#ifdef __cplusplus
extern "C" {
#endif
/// Loads a 2-instruction program of `prog_type` with `expected_attach_type` and the optional
/// `attach_btf_id`, returning its fd or -errno (probes that libbpf_probe_* do not cover).
int nb_load_trivial_prog(uint32_t prog_type, uint32_t expected_attach_type, uint32_t attach_btf_id);
/// BPF_LINK_CREATE with no options (probe helper). Returns fd or -errno.
int nb_link_create_plain(int prog_fd, int target, uint32_t attach_type);
#ifdef __cplusplus
}
#endif

#ifdef __cplusplus
extern "C" {
#endif
/// statfs(2) f_type of `path`, or -errno (Swift's Glibc module does not export statfs).
long nb_statfs_magic(const char *path);
/// unshare(CLONE_NEWNET) for the calling thread; 0 or -errno.
int nb_unshare_netns(void);
/// setns(fd, CLONE_NEWNET) for the calling thread; 0 or -errno.
int nb_setns_net(int fd);
#ifdef __cplusplus
}
#endif

#ifdef __cplusplus
extern "C" {
#endif
/// Acquire/release accesses for the ring buffer positions shared with the kernel producer
/// (inline, so Swift's optimiser sees plain loads and stores on x86).
/* C's stdout and stderr streams: globals Swift 6 will not touch directly (they are mutable). */
#include <stdio.h>
static inline FILE *nb_stdout(void) { return stdout; }
static inline FILE *nb_stderr(void) { return stderr; }

static inline uint64_t nb_load_acquire_u64(const void *p) { return __atomic_load_n((const uint64_t *)p, __ATOMIC_ACQUIRE); }
static inline uint32_t nb_load_acquire_u32(const void *p) { return __atomic_load_n((const uint32_t *)p, __ATOMIC_ACQUIRE); }
static inline void nb_store_release_u64(void *p, uint64_t v) { __atomic_store_n((uint64_t *)p, v, __ATOMIC_RELEASE); }
#ifdef __cplusplus
}
#endif

#ifdef __cplusplus
extern "C" {
#endif
/// An epoll fd (close-on-exec) watching `fd` for EPOLLIN, level-triggered; or -errno.
int nb_epoll_watch(int fd);
/// epoll_wait for one event; returns the count, 0 on timeout, or -errno.
int nb_epoll_wait1(int epfd, int timeout_ms);
#ifdef __cplusplus
}
#endif

#ifdef __cplusplus
extern "C" {
#endif
/// BPF_LINK_CREATE for XDP (kernel 5.9) with XDP_FLAGS_* in link_create.flags; fd or -errno.
int nb_xdp_link_create(int prog_fd, int ifindex, uint32_t xdp_flags);
/// An AF_PACKET/SOCK_RAW socket with protocol 0 (receives nothing until bound), close-on-exec.
int nb_packet_socket(void);
/// SO_ATTACH_BPF with an eBPF program fd; 0 or -errno.
int nb_attach_bpf_socket(int sock, int prog_fd);
/// SO_ATTACH_FILTER with a classic BPF program (struct sock_filter[len]); 0 or -errno.
int nb_attach_classic_filter(int sock, const void *insns, uint16_t len);
/// bind() to ETH_P_ALL on ifindex (0: every interface); 0 or -errno.
int nb_packet_bind(int sock, int ifindex);
/// recvfrom with a timeout (ms); fills the interface index and packet type (PACKET_HOST,
/// PACKET_OUTGOING...). Returns the frame length (may exceed cap: truncated), 0 on timeout, -errno.
long nb_packet_recv(int sock, void *buf, size_t cap, int timeout_ms, int *ifindex, int *pkttype);
#ifdef __cplusplus
}
#endif
