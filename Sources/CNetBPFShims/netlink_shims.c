// See include/netbpf_netlink.h. Kept apart from shims.c: these helpers serve NetBPFNetlink only.
#define _GNU_SOURCE
#include "netbpf_netlink.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

int nb_netns_prepare_dir(const char *dir) {
    if (mkdir(dir, S_IRWXU | S_IRGRP | S_IXGRP | S_IROTH | S_IXOTH) != 0 && errno != EEXIST)
        return -errno;
    // Serialise with concurrent `ip netns add` (and ourselves): repeated bind mounts of the
    // directory onto itself would otherwise stack up (Debian bug 949235).
    int lock = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (lock >= 0) flock(lock, LOCK_EX);
    int made_mount_point = 0, err = 0;
    while (mount("", dir, "none", MS_SHARED | MS_REC, NULL) != 0) {
        if (errno != EINVAL || made_mount_point) { err = -errno; break; }
        // Not a mount point yet: make it one, then retry --make-shared.
        if (mount(dir, dir, "none", MS_BIND | MS_REC, NULL) != 0) { err = -errno; break; }
        made_mount_point = 1;
    }
    if (lock >= 0) { flock(lock, LOCK_UN); close(lock); }
    return err;
}

int nb_netns_bind_thread_ns(const char *target) {
    return mount("/proc/thread-self/ns/net", target, "none", MS_BIND, NULL) ? -errno : 0;
}

int nb_netns_unmount(const char *path) {
    return umount2(path, MNT_DETACH) ? -errno : 0;
}

int nb_gettid(void) { return (int)syscall(SYS_gettid); }

int nb_prog_fd_by_id(uint32_t id) {
    // union bpf_attr's get-by-id member: prog_id, next_id, open_flags.
    union { struct { uint32_t id, next_id, open_flags; } get; uint8_t pad[128]; } attr;
    memset(&attr, 0, sizeof attr);
    attr.get.id = id;
    long fd = syscall(__NR_bpf, 13 /* BPF_PROG_GET_FD_BY_ID */, &attr, sizeof attr);
    return fd < 0 ? -errno : (int)fd;
}
