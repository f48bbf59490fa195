// The C interface of the in-process compiler (include/netbpf_clang.h), as its own target so the
// Swift side can use its types while loading the implementation (libNetBPFClang.so) with dlopen.
#include "netbpf_clang.h"

#include <stdio.h>

void nb_file_identity(const struct stat *st, char *buf, size_t len) {
    snprintf(buf, len, "%lld:%lld.%09ld:%lld.%09ld:%llu:%llu", (long long)st->st_size,
             (long long)st->st_mtim.tv_sec, (long)st->st_mtim.tv_nsec, (long long)st->st_ctim.tv_sec,
             (long)st->st_ctim.tv_nsec, (unsigned long long)st->st_ino, (unsigned long long)st->st_dev);
}
