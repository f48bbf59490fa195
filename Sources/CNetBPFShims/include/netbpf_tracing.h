// C helpers for NetBPFTracing: perf_event_open for probes and sampling (Swift cannot build
// struct perf_event_attr's unions and bitfields comfortably, nor call syscall(2)), libbpf attach
// calls that take LIBBPF_OPTS, and an async-signal-safe stop flag for tools.
#pragma once
#include <stddef.h>
#include <stdint.h>

struct bpf_program;
struct bpf_link;

#ifdef __cplusplus
extern "C" {
#endif

/// perf_event_open for a dynamic probe PMU (kprobe or uprobe, 4.17): `pmu_type` from
/// /sys/bus/event_source/devices/PMU/type, `retprobe_bit` from .../format/retprobe (config:N),
/// `name` the kernel function (kprobe) or the binary path (uprobe) in config1, `offset` in config2
/// (for a kprobe with name NULL, config2 is an address). pid -1 = every process. Returns fd or -errno.
int nb_perf_open_probe(uint32_t pmu_type, int retprobe_bit, int retprobe, const char *name,
                       uint64_t offset, int pid);

/// perf_event_open for a tracefs event id (PERF_TYPE_TRACEPOINT), on every process of `cpu`
/// (or pid/cpu as given). Returns fd or -errno.
int nb_perf_open_tracepoint(uint64_t id, int pid, int cpu);

/// perf_event_open for sampling: type PERF_TYPE_SOFTWARE/HARDWARE, config the event,
/// `use_freq` 1: `period_or_freq` samples per second, 0: one sample every `period_or_freq` events.
/// Returns fd or -errno.
int nb_perf_open_sampling(uint32_t type, uint64_t config, uint64_t period_or_freq, int use_freq,
                          int pid, int cpu);

/// bpf_program__attach_perf_event_opts with a BPF cookie (5.15); the link owns `pfd`.
/// Returns NULL and sets errno on failure (the caller still owns pfd then).
struct bpf_link *nb_attach_perf_event(struct bpf_program *prog, int pfd, uint64_t cookie);

/// bpf_program__attach_tracepoint_opts with a BPF cookie.
struct bpf_link *nb_attach_tracepoint(struct bpf_program *prog, const char *category,
                                      const char *name, uint64_t cookie);

/// bpf_program__attach_kprobe_multi_opts (5.18): either a glob `pattern` or `count` symbols,
/// optional cookies (one per symbol). NULL + errno on failure.
struct bpf_link *nb_attach_kprobe_multi(struct bpf_program *prog, const char *pattern,
                                        const char **symbols, const uint64_t *cookies,
                                        size_t count, int retprobe);

/// memfd_create(name, MFD_CLOEXEC) holding `size` bytes of `data`; fd or -errno.
int nb_memfd_with(const char *name, const void *data, size_t size);

/// Drops this process's page-table entries for the text mapping (r-xp) of its own executable,
/// MADV_DONTNEED: the pages stay in the page cache and fault back in (minor faults) when used
/// again. Data mappings, RELRO included, are left alone. Returns the bytes of mappings dropped.
long nb_drop_executable_readonly_pages(void);

/// SIGINT and SIGTERM set a flag instead of killing the process (tools stop cleanly).
void nb_install_stop_signals(void);
/// True once SIGINT/SIGTERM arrived (or nb_request_stop was called).
int nb_stop_requested(void);
void nb_request_stop(void);
void nb_reset_stop(void);

#ifdef __cplusplus
}
#endif
