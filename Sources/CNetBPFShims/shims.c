#define _GNU_SOURCE
#include "netbpf_shims.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <poll.h>
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <linux/if_ether.h>
#include <linux/filter.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <linux/perf_event.h>

static nb_print_fn print_target;

static int forward_print(enum libbpf_print_level level, const char *fmt, va_list args) {
    nb_print_fn fn = __atomic_load_n(&print_target, __ATOMIC_ACQUIRE);
    if (!fn) return 0;
    char stack_buf[1024];
    va_list copy;
    va_copy(copy, args);
    int n = vsnprintf(stack_buf, sizeof stack_buf, fmt, copy);
    va_end(copy);
    if (n < 0) return 0;
    if ((size_t)n < sizeof stack_buf) {
        fn((int)level, stack_buf);
        return n;
    }
    // Verifier logs arrive in one call and can be megabytes long.
    char *big = malloc((size_t)n + 1);
    if (!big) return 0;
    vsnprintf(big, (size_t)n + 1, fmt, args);
    fn((int)level, big);
    free(big);
    return n;
}

void nb_set_print(nb_print_fn fn) {
    __atomic_store_n(&print_target, fn, __ATOMIC_RELEASE);
    libbpf_set_print(forward_print);
}

int nb_prog_test_run(int prog_fd, const void *data_in, uint32_t data_size_in,
                     void *data_out, uint32_t *data_size_out,
                     const void *ctx_in, uint32_t ctx_size_in,
                     void *ctx_out, uint32_t *ctx_size_out,
                     int repeat, uint32_t flags, uint32_t *retval, uint32_t *duration_ns) {
    LIBBPF_OPTS(bpf_test_run_opts, opts,
        .data_in = data_in, .data_size_in = data_size_in,
        .data_out = data_out, .data_size_out = data_size_out ? *data_size_out : 0,
        .ctx_in = ctx_in, .ctx_size_in = ctx_size_in,
        .ctx_out = ctx_out, .ctx_size_out = ctx_size_out ? *ctx_size_out : 0,
        .repeat = repeat, .flags = flags);
    int err = bpf_prog_test_run_opts(prog_fd, &opts);
    if (err) return -errno;
    if (data_size_out) *data_size_out = opts.data_size_out;
    if (ctx_size_out) *ctx_size_out = opts.ctx_size_out;
    if (retval) *retval = opts.retval;
    if (duration_ns) *duration_ns = opts.duration;
    return 0;
}

int nb_prog_test_run_live(int prog_fd, const void *data_in, uint32_t data_size_in,
                          const void *ctx_in, uint32_t ctx_size_in,
                          uint32_t repeat, uint32_t batch_size, uint32_t *duration_ns) {
    LIBBPF_OPTS(bpf_test_run_opts, opts,
        .data_in = data_in, .data_size_in = data_size_in,
        .ctx_in = ctx_in, .ctx_size_in = ctx_size_in,
        .repeat = (int)repeat, .flags = BPF_F_TEST_XDP_LIVE_FRAMES, .batch_size = batch_size);
    int err = bpf_prog_test_run_opts(prog_fd, &opts);
    if (err) return -errno;
    if (duration_ns) *duration_ns = opts.duration;
    return 0;
}

int nb_map_lookup_batch(int map_fd, void *in_batch, void *out_batch,
                        void *keys, void *values, uint32_t *count, uint64_t elem_flags) {
    LIBBPF_OPTS(bpf_map_batch_opts, opts, .elem_flags = elem_flags);
    int err = bpf_map_lookup_batch(map_fd, in_batch, out_batch, keys, values, count, &opts);
    return err ? -errno : 0;
}

int nb_map_update_batch(int map_fd, const void *keys, const void *values,
                        uint32_t *count, uint64_t elem_flags, uint64_t flags) {
    LIBBPF_OPTS(bpf_map_batch_opts, opts, .elem_flags = elem_flags, .flags = flags);
    int err = bpf_map_update_batch(map_fd, keys, values, count, &opts);
    return err ? -errno : 0;
}

struct perf_ctx {
    nb_perf_sample_fn on_sample;
    nb_perf_lost_fn on_lost;
    void *ctx;
};

// Layout of a PERF_RECORD_SAMPLE with PERF_SAMPLE_RAW only.
struct raw_sample { struct perf_event_header header; uint32_t size; char data[]; };
struct lost_record { struct perf_event_header header; uint64_t id; uint64_t lost; };

static enum bpf_perf_event_ret on_raw_event(void *ctx, int cpu, struct perf_event_header *event) {
    struct perf_ctx *pc = ctx;
    if (event->type == PERF_RECORD_SAMPLE) {
        struct raw_sample *s = (struct raw_sample *)event;
        pc->on_sample(pc->ctx, cpu, s->data, s->size);
    } else if (event->type == PERF_RECORD_LOST) {
        struct lost_record *l = (struct lost_record *)event;
        if (pc->on_lost) pc->on_lost(pc->ctx, cpu, l->lost);
    }
    return LIBBPF_PERF_EVENT_CONT;
}

struct perf_buffer *nb_perf_buffer_new(int map_fd, size_t page_cnt, uint32_t wakeup_events,
                                       nb_perf_sample_fn on_sample, nb_perf_lost_fn on_lost,
                                       void *ctx, void **owned) {
    // The callback table must outlive the buffer; the caller frees it with nb_perf_buffer_free.
    struct perf_ctx *pc = calloc(1, sizeof *pc);
    if (!pc) { errno = ENOMEM; return NULL; }
    pc->on_sample = on_sample; pc->on_lost = on_lost; pc->ctx = ctx;
    struct perf_event_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.config = PERF_COUNT_SW_BPF_OUTPUT;
    attr.type = PERF_TYPE_SOFTWARE;
    attr.sample_type = PERF_SAMPLE_RAW;
    attr.sample_period = 1;
    attr.wakeup_events = wakeup_events ? wakeup_events : 1;
    struct perf_buffer *pb = perf_buffer__new_raw(map_fd, page_cnt, &attr, on_raw_event, pc, NULL);
    if (!pb) { int e = errno; free(pc); errno = e; return NULL; }
    *owned = pc;
    return pb;
}

void nb_perf_buffer_free(struct perf_buffer *pb, void *owned) {
    perf_buffer__free(pb);
    free(owned);
}

int nb_tcx_link_create(int prog_fd, int ifindex, uint32_t attach_type, uint32_t flags,
                       uint32_t relative_fd_or_id, uint64_t expected_revision) {
    // Layout of union bpf_attr's link_create member for tcx (kernel 6.6 UAPI), written out here
    // because the 1.1-era headers on Debian 12 predate it.
    struct {
        uint32_t prog_fd;
        uint32_t target_ifindex;
        uint32_t attach_type;
        uint32_t flags;
        uint32_t relative_fd_or_id;
        uint32_t pad;
        uint64_t expected_revision;
        uint8_t rest[80];
    } attr;
    memset(&attr, 0, sizeof attr);
    attr.prog_fd = (uint32_t)prog_fd;
    attr.target_ifindex = (uint32_t)ifindex;
    attr.attach_type = attach_type;
    attr.flags = flags;
    attr.relative_fd_or_id = relative_fd_or_id;
    attr.expected_revision = expected_revision;
    long fd = syscall(__NR_bpf, 28 /* BPF_LINK_CREATE */, &attr, sizeof attr);
    return fd < 0 ? -errno : (int)fd;
}

int nb_tcx_query(int ifindex, uint32_t attach_type, uint32_t *prog_ids, uint32_t *link_ids,
                 uint32_t *count, uint64_t *revision) {
    // union bpf_attr's query member as of kernel 6.6.
    struct {
        uint32_t target_ifindex;
        uint32_t attach_type;
        uint32_t query_flags;
        uint32_t attach_flags;
        uint64_t prog_ids;
        uint32_t count;
        uint32_t pad;
        uint64_t prog_attach_flags;
        uint64_t link_ids;
        uint64_t link_attach_flags;
        uint64_t revision;
        uint8_t rest[64];
    } attr;
    memset(&attr, 0, sizeof attr);
    attr.target_ifindex = (uint32_t)ifindex;
    attr.attach_type = attach_type;
    attr.prog_ids = (uint64_t)(uintptr_t)prog_ids;
    attr.link_ids = (uint64_t)(uintptr_t)link_ids;
    attr.count = *count;
    long err = syscall(__NR_bpf, 16 /* BPF_PROG_QUERY */, &attr, sizeof attr);
    if (err < 0) return -errno;
    *count = attr.count;
    if (revision) *revision = attr.revision;
    return 0;
}

int nb_load_trivial_prog(uint32_t prog_type, uint32_t expected_attach_type, uint32_t attach_btf_id) {
    struct bpf_insn insns[] = {
        { .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
        { .code = BPF_JMP | BPF_EXIT },
    };
    LIBBPF_OPTS(bpf_prog_load_opts, opts,
        .expected_attach_type = (enum bpf_attach_type)expected_attach_type,
        .attach_btf_id = attach_btf_id);
    int fd = bpf_prog_load((enum bpf_prog_type)prog_type, "netbpf_probe", "GPL", insns, 2, &opts);
    return fd < 0 ? -errno : fd;
}

int nb_load_sched_cls_returning(int32_t ret, const char *name) {
    struct bpf_insn insns[] = {
        { .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = ret },
        { .code = BPF_JMP | BPF_EXIT },
    };
    int fd = bpf_prog_load(BPF_PROG_TYPE_SCHED_CLS, name, "GPL", insns, 2, NULL);
    return fd < 0 ? -errno : fd;
}

int nb_link_update_replace(int link_fd, int new_prog_fd, int old_prog_fd) {
    LIBBPF_OPTS(bpf_link_update_opts, opts, .flags = BPF_F_REPLACE, .old_prog_fd = (uint32_t)old_prog_fd);
    return bpf_link_update(link_fd, new_prog_fd, &opts) ? -errno : 0;
}

int nb_link_create_plain(int prog_fd, int target, uint32_t attach_type) {
    int fd = bpf_link_create(prog_fd, target, (enum bpf_attach_type)attach_type, NULL);
    return fd < 0 ? -errno : fd;
}

long nb_statfs_magic(const char *path) {
    struct statfs st;
    if (statfs(path, &st) != 0) return -errno;
    return (long)(unsigned long)st.f_type;
}

int nb_unshare_netns(void) { return unshare(CLONE_NEWNET) ? -errno : 0; }

int nb_setns_net(int fd) { return setns(fd, CLONE_NEWNET) ? -errno : 0; }

int nb_epoll_watch(int fd) {
    int epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) return -errno;
    struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) != 0) { int e = errno; close(epfd); return -e; }
    return epfd;
}

int nb_epoll_wait1(int epfd, int timeout_ms) {
    struct epoll_event ev;
    int n = epoll_wait(epfd, &ev, 1, timeout_ms);
    return n < 0 ? -errno : n;
}

int nb_xdp_link_create(int prog_fd, int ifindex, uint32_t xdp_flags) {
    LIBBPF_OPTS(bpf_link_create_opts, opts, .flags = xdp_flags);
    int fd = bpf_link_create(prog_fd, ifindex, BPF_XDP, &opts);
    return fd < 0 ? -errno : fd;
}

int nb_packet_socket(void) {
    int s = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
    return s < 0 ? -errno : s;
}

int nb_attach_bpf_socket(int sock, int prog_fd) {
    return setsockopt(sock, SOL_SOCKET, SO_ATTACH_BPF, &prog_fd, sizeof prog_fd) ? -errno : 0;
}

int nb_attach_classic_filter(int sock, const void *insns, uint16_t len) {
    struct sock_fprog prog = { .len = len, .filter = (struct sock_filter *)insns };
    return setsockopt(sock, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) ? -errno : 0;
}

int nb_packet_bind(int sock, int ifindex) {
    struct sockaddr_ll sll;
    memset(&sll, 0, sizeof sll);
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_ALL);
    sll.sll_ifindex = ifindex;
    return bind(sock, (struct sockaddr *)&sll, sizeof sll) ? -errno : 0;
}

long nb_packet_recv(int sock, void *buf, size_t cap, int timeout_ms, int *ifindex, int *pkttype) {
    struct pollfd pfd = { .fd = sock, .events = POLLIN };
    int r = poll(&pfd, 1, timeout_ms);
    if (r < 0) return -errno;
    if (r == 0) return 0;
    struct sockaddr_ll from;
    socklen_t fromlen = sizeof from;
    ssize_t n = recvfrom(sock, buf, cap, MSG_TRUNC, (struct sockaddr *)&from, &fromlen);
    if (n < 0) return -errno;
    if (ifindex) *ifindex = from.sll_ifindex;
    if (pkttype) *pkttype = from.sll_pkttype;
    return (long)n;
}
