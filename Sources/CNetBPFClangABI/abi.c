// The client half of the compiler helper's protocol (include/netbpf_clang.h): start netbpf-cc,
// hand it the source, read back one result. Linked into netbpf; no LLVM here.
#define _GNU_SOURCE
#include "netbpf_clang.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

void nb_file_identity(const struct stat *st, char *buf, size_t len) {
    snprintf(buf, len, "%lld:%lld.%09ld:%lld.%09ld:%llu:%llu", (long long)st->st_size,
             (long long)st->st_mtim.tv_sec, (long)st->st_mtim.tv_nsec, (long long)st->st_ctim.tv_sec,
             (long)st->st_ctim.tv_nsec, (unsigned long long)st->st_ino, (unsigned long long)st->st_dev);
}

void nb_free_result(nb_compile_result *r) {
    if (!r) return;
    for (size_t i = 0; i < r->ndiags; i++) {
        free((char *)r->diags[i].file);
        free((char *)r->diags[i].message);
        free((char *)r->diags[i].source_line);
        free((char *)r->diags[i].flag);
    }
    free(r->diags);
    for (size_t i = 0; i < r->ninputs; i++) {
        free((char *)r->inputs[i].path);
        free((char *)r->inputs[i].identity);
    }
    free(r->inputs);
    free(r->object);
    free(r->error);
    memset(r, 0, sizeof *r);
}

// ---- Wire format: integers in host order (both ends are the same machine); a string or byte
// run is its length (UINT64_MAX for NULL) then its bytes.

typedef struct { char *p; size_t len, cap; int failed; } wbuf;

static void put(wbuf *b, const void *p, size_t n) {
    if (b->failed) return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n) cap *= 2;
        char *q = realloc(b->p, cap);
        if (!q) { b->failed = 1; return; }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
}
static void put_i64(wbuf *b, int64_t v) { put(b, &v, sizeof v); }
static void put_bytes(wbuf *b, const void *p, size_t n, int null) {
    uint64_t len = null ? UINT64_MAX : n;
    put(b, &len, sizeof len);
    if (!null) put(b, p, n);
}
static void put_str(wbuf *b, const char *s) { put_bytes(b, s, s ? strlen(s) : 0, s == NULL); }

static const char magic[8] = "NBCCRES1";

int nb_result_write(int fd, const nb_compile_result *r) {
    wbuf b = {0};
    put(&b, magic, sizeof magic);
    put_i64(&b, r->status);
    put_i64(&b, r->pch_status);
    put_str(&b, r->error);
    put_bytes(&b, r->object, r->object_size, r->object == NULL);
    put_i64(&b, (int64_t)r->ndiags);
    for (size_t i = 0; i < r->ndiags; i++) {
        const nb_diag *d = &r->diags[i];
        put_i64(&b, d->severity);
        put_str(&b, d->file);
        put_i64(&b, d->line);
        put_i64(&b, d->column);
        put_str(&b, d->message);
        put_str(&b, d->source_line);
        put_str(&b, d->flag);
    }
    put_i64(&b, (int64_t)r->ninputs);
    for (size_t i = 0; i < r->ninputs; i++) {
        put_str(&b, r->inputs[i].path);
        put_str(&b, r->inputs[i].identity);
    }
    int rc = b.failed ? -1 : 0;
    for (size_t off = 0; rc == 0 && off < b.len;) {
        ssize_t n = write(fd, b.p + off, b.len - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) rc = -1;
        else off += (size_t)n;
    }
    free(b.p);
    return rc;
}

typedef struct { const char *p; size_t left; int failed; } rbuf;

static void take(rbuf *b, void *out, size_t n) {
    if (b->failed || b->left < n) { b->failed = 1; memset(out, 0, n); return; }
    memcpy(out, b->p, n);
    b->p += n;
    b->left -= n;
}
static int64_t take_i64(rbuf *b) { int64_t v; take(b, &v, sizeof v); return v; }
// A malloc'd copy with a NUL after it (NULL for a NULL string); *len gets the length.
static char *take_bytes(rbuf *b, size_t *len) {
    uint64_t n;
    take(b, &n, sizeof n);
    if (b->failed || n == UINT64_MAX) return NULL;
    if (n > b->left) { b->failed = 1; return NULL; }
    char *s = malloc(n + 1);
    if (!s) { b->failed = 1; return NULL; }
    memcpy(s, b->p, n);
    s[n] = 0;
    b->p += n;
    b->left -= n;
    if (len) *len = n;
    return s;
}
static char *take_str(rbuf *b) { return take_bytes(b, NULL); }

int nb_result_read(int fd, nb_compile_result *out) {
    memset(out, 0, sizeof *out);
    wbuf all = {0};
    char chunk[1 << 16];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        put(&all, chunk, (size_t)n);
    }
    rbuf b = {all.p, all.len, all.failed};
    char m[sizeof magic];
    take(&b, m, sizeof m);
    if (memcmp(m, magic, sizeof m) != 0) b.failed = 1;
    out->status = (int)take_i64(&b);
    out->pch_status = (int)take_i64(&b);
    out->error = take_str(&b);
    out->object = (unsigned char *)take_bytes(&b, &out->object_size);
    uint64_t n = (uint64_t)take_i64(&b);
    if (!b.failed && n <= b.left && (out->diags = calloc(n ? n : 1, sizeof(nb_diag)))) {
        out->ndiags = n;
        for (size_t i = 0; i < n; i++) {
            nb_diag *d = &out->diags[i];
            d->severity = (int)take_i64(&b);
            d->file = take_str(&b);
            d->line = (unsigned)take_i64(&b);
            d->column = (unsigned)take_i64(&b);
            d->message = take_str(&b);
            d->source_line = take_str(&b);
            d->flag = take_str(&b);
        }
    } else {
        b.failed = 1;
    }
    n = (uint64_t)take_i64(&b);
    if (!b.failed && n <= b.left && (out->inputs = calloc(n ? n : 1, sizeof(nb_input)))) {
        out->ninputs = n;
        for (size_t i = 0; i < n; i++) {
            out->inputs[i].path = take_str(&b);
            out->inputs[i].identity = take_str(&b);
        }
    } else {
        b.failed = 1;
    }
    int ok = !b.failed && b.left == 0;
    free(all.p);
    if (!ok) nb_free_result(out);
    return ok ? 0 : -1;
}

// ---- Client.

// A result that says the compiler failed: status -1, the message as error.
static int failed(nb_compile_result *out, const char *message) {
    nb_free_result(out);
    out->status = -1;
    out->error = strdup(message);
    return -1;
}

static int failed_errno(nb_compile_result *out, const char *what) {
    char message[256];
    snprintf(message, sizeof message, "cannot start the compiler: %s: %s", what, strerror(errno));
    return failed(out, message);
}

// fd moved above stdio (2), close-on-exec: a caller may have closed its stdin or stdout, and
// the descriptors given to the helper must not land on the numbers they are dup'ed to.
static int above_stdio(int fd) {
    if (fd < 0 || fd > 2) return fd;
    int moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    close(fd);
    return moved;
}

// Runs the helper with `argv`, `input` (may be -1: /dev/null) as its stdin, and reads its result.
static int run_helper(const char *helper, char *const argv[], int input, nb_compile_result *out) {
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) != 0) return failed_errno(out, "pipe");
    pipefd[0] = above_stdio(pipefd[0]);
    pipefd[1] = above_stdio(pipefd[1]);
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attr);
    if (input >= 0) posix_spawn_file_actions_adddup2(&actions, input, 0);
    else posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, pipefd[1], 1);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    // Nothing else of the caller's: a copy of, say, a descriptor `attach tc` holds while it
    // compiles would otherwise live on in the helper.
    posix_spawn_file_actions_addclosefrom_np(&actions, 3);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
    char *const envp[] = {NULL}; // CPATH and the like must not change what is compiled
    pid_t pid;
    int err = posix_spawn(&pid, helper, &actions, &attr, argv, envp);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    close(pipefd[1]);
    if (err != 0) {
        close(pipefd[0]);
        errno = err;
        return failed_errno(out, helper);
    }
    int complete = nb_result_read(pipefd[0], out) == 0;
    close(pipefd[0]);
    int status = 0;
    pid_t w;
    do w = waitpid(pid, &status, 0);
    while (w < 0 && errno == EINTR);
    if (complete) return out->status;

    char message[256];
    if (w == pid && WIFSIGNALED(status))
        snprintf(message, sizeof message, "clang crashed (signal %d, %s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
    else if (w == pid && WIFEXITED(status))
        snprintf(message, sizeof message, "the compiler (%s) exited with status %d without a result", helper, WEXITSTATUS(status));
    else
        snprintf(message, sizeof message, "the compiler (%s) ended without a result", helper);
    return failed(out, message);
}

// argv for the helper: the fixed words, then args; NULL-terminated. Freed with free().
static char **helper_argv(const char *const *fixed, size_t nfixed, const char *const *args, size_t nargs) {
    char **argv = calloc(nfixed + nargs + 1, sizeof(char *));
    if (!argv) return NULL;
    for (size_t i = 0; i < nfixed; i++) argv[i] = (char *)fixed[i];
    for (size_t i = 0; i < nargs; i++) argv[nfixed + i] = (char *)(args[i] ? args[i] : "");
    return argv;
}

int nb_cc_compile(const char *helper, const char *source, size_t source_len, const char *file_name,
                  const char *const *args, size_t nargs, const char *pch_path, nb_compile_result *out) {
    memset(out, 0, sizeof *out);
    // The source goes in through a memory file, written before the helper starts: no pipe to
    // write into, so no SIGPIPE in the caller if the helper dies, and no deadlock.
    int input = above_stdio(memfd_create("netbpf-cc-source", MFD_CLOEXEC));
    if (input < 0) return failed_errno(out, "memfd_create");
    for (size_t off = 0; off < source_len;) {
        ssize_t n = write(input, source + off, source_len - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) { close(input); return failed_errno(out, "write"); }
        off += (size_t)n;
    }
    lseek(input, 0, SEEK_SET);
    const char *fixed[] = {"netbpf-cc", "compile", file_name ? file_name : "input.bpf.c", pch_path ? pch_path : ""};
    char **argv = helper_argv(fixed, 4, args, nargs);
    if (!argv) { close(input); errno = ENOMEM; return failed_errno(out, "argv"); }
    int rc = run_helper(helper, argv, input, out);
    free(argv);
    close(input);
    return rc;
}

int nb_cc_build_pch(const char *helper, const char *header_path, const char *const *args, size_t nargs,
                    const char *out_pch_path, nb_compile_result *out) {
    memset(out, 0, sizeof *out);
    const char *fixed[] = {"netbpf-cc", "pch", header_path, out_pch_path};
    char **argv = helper_argv(fixed, 4, args, nargs);
    if (!argv) { errno = ENOMEM; return failed_errno(out, "argv"); }
    int rc = run_helper(helper, argv, -1, out);
    free(argv);
    return rc;
}
