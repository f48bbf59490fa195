#define _GNU_SOURCE
#include "netbpf_tracing.h"

#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/perf_event.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

static int perf_open(struct perf_event_attr *attr, int pid, int cpu)
{
	int fd = (int)syscall(__NR_perf_event_open, attr, pid, cpu, -1, PERF_FLAG_FD_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int nb_perf_open_probe(uint32_t pmu_type, int retprobe_bit, int retprobe, const char *name,
                       uint64_t offset, int pid)
{
	struct perf_event_attr attr;

	memset(&attr, 0, sizeof(attr));
	attr.size = sizeof(attr);
	attr.type = pmu_type;
	if (retprobe && retprobe_bit >= 0)
		attr.config |= 1ULL << retprobe_bit;
	attr.config1 = (uint64_t)(uintptr_t)name;
	attr.config2 = offset;
	/* A pid filter counts on any CPU; no pid means all processes, which needs one CPU. */
	return perf_open(&attr, pid < 0 ? -1 : pid, pid < 0 ? 0 : -1);
}

int nb_perf_open_tracepoint(uint64_t id, int pid, int cpu)
{
	struct perf_event_attr attr;

	memset(&attr, 0, sizeof(attr));
	attr.size = sizeof(attr);
	attr.type = PERF_TYPE_TRACEPOINT;
	attr.config = id;
	return perf_open(&attr, pid, cpu);
}

int nb_perf_open_sampling(uint32_t type, uint64_t config, uint64_t period_or_freq, int use_freq,
                          int pid, int cpu)
{
	struct perf_event_attr attr;

	memset(&attr, 0, sizeof(attr));
	attr.size = sizeof(attr);
	attr.type = type;
	attr.config = config;
	if (use_freq) {
		attr.freq = 1;
		attr.sample_freq = period_or_freq;
	} else {
		attr.sample_period = period_or_freq;
	}
	return perf_open(&attr, pid, cpu);
}

struct bpf_link *nb_attach_perf_event(struct bpf_program *prog, int pfd, uint64_t cookie)
{
	LIBBPF_OPTS(bpf_perf_event_opts, opts, .bpf_cookie = cookie);
	return bpf_program__attach_perf_event_opts(prog, pfd, &opts);
}

struct bpf_link *nb_attach_tracepoint(struct bpf_program *prog, const char *category,
                                      const char *name, uint64_t cookie)
{
	LIBBPF_OPTS(bpf_tracepoint_opts, opts, .bpf_cookie = cookie);
	return bpf_program__attach_tracepoint_opts(prog, category, name, &opts);
}

struct bpf_link *nb_attach_kprobe_multi(struct bpf_program *prog, const char *pattern,
                                        const char **symbols, const uint64_t *cookies,
                                        size_t count, int retprobe)
{
	LIBBPF_OPTS(bpf_kprobe_multi_opts, opts, .syms = pattern ? NULL : symbols,
		    .cookies = pattern ? NULL : cookies, .cnt = pattern ? 0 : count,
		    .retprobe = retprobe != 0);
	return bpf_program__attach_kprobe_multi_opts(prog, pattern, &opts);
}

int nb_memfd_with(const char *name, const void *data, size_t size)
{
	const char *p = data;
	int fd = memfd_create(name, MFD_CLOEXEC);

	if (fd < 0)
		return -errno;
	while (size > 0) {
		ssize_t n = write(fd, p, size);
		if (n < 0) {
			int e = errno;
			if (e == EINTR)
				continue;
			close(fd);
			return -e;
		}
		p += n;
		size -= (size_t)n;
	}
	return fd;
}

long nb_drop_executable_readonly_pages(void)
{
	char exe[512], line[1024];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	long dropped = 0;
	FILE *maps;

	if (n <= 0)
		return 0;
	exe[n] = 0;
	maps = fopen("/proc/self/maps", "re");
	if (!maps)
		return 0;
	while (fgets(line, sizeof(line), maps)) {
		unsigned long start, end;
		char perms[5];
		char *path = strchr(line, '/');

		if (!path || sscanf(line, "%lx-%lx %4s", &start, &end, perms) != 3)
			continue;
		path[strcspn(path, "\n")] = 0;
		/* Text only (r-xp): never written. Read-only data is not safe to drop: the RELRO
		 * segment is r--p too, but holds relocated (copied-on-write) pages. */
		if (strcmp(path, exe) != 0 || strcmp(perms, "r-xp") != 0)
			continue;
		if (madvise((void *)start, end - start, MADV_DONTNEED) == 0)
			dropped += (long)(end - start);
	}
	fclose(maps);
	return dropped;
}

static volatile sig_atomic_t stop_flag;

static void on_stop(int sig)
{
	(void)sig;
	stop_flag = 1;
}

void nb_install_stop_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	/* A parent may have spawned us with these blocked (Foundation's Process does). */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

int nb_stop_requested(void) { return stop_flag != 0; }
void nb_request_stop(void) { stop_flag = 1; }
void nb_reset_stop(void) { stop_flag = 0; }
