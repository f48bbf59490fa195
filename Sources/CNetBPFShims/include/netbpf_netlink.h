// C helpers for NetBPFNetlink: the mount(2)/umount2(2) dance behind named network namespaces
// (iproute2's /run/netns layout) and a raw BPF_PROG_GET_FD_BY_ID, which Swift's Glibc module
// does not expose in a callable form. Everything returns 0 / an fd, or -errno.
#pragma once
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Makes `dir` (e.g. /run/netns) exist and be a shared mount point, as `ip netns add` does:
/// mkdir 0755, flock, mount --make-shared, and if that fails with EINVAL, bind-mount the
/// directory onto itself first. Returns 0 or -errno.
int nb_netns_prepare_dir(const char *dir);

/// Bind-mounts the calling thread's network namespace (/proc/thread-self/ns/net, not
/// /proc/self/..., which names the main thread) onto `target`, an existing empty file.
int nb_netns_bind_thread_ns(const char *target);

/// umount2(path, MNT_DETACH): releases a namespace bind mount. Returns 0 or -errno.
int nb_netns_unmount(const char *path);

/// The kernel thread id of the caller (gettid(2)).
int nb_gettid(void);

/// BPF_PROG_GET_FD_BY_ID (kernel 4.13): a new O_CLOEXEC fd for program `id`, or -errno.
int nb_prog_fd_by_id(uint32_t id);

#ifdef __cplusplus
}
#endif
