// Standalone driver for the in-process BPF compiler. Loads libNetBPFClang.so with dlopen, as
// the Swift side will, so this binary itself never links LLVM.
//
//   devtest version
//   devtest vmlinux OUT.h [BTF]            write vmlinux.h (nb_write_vmlinux_h)
//   devtest pch HEADER OUT.pch [-- ARGS]   build a PCH
//   devtest compile SRC OUT.o [--pch P] [-- ARGS]
//   devtest bench SRC N [--pch P] [-- ARGS]   N compiles in this process, timings in ms
//   devtest diag SRC [-- ARGS]              print structured diagnostics; exit 0 iff rc != 0
//   devtest parallel SRC THREADS [--pch P]  THREADS threads compile SRC twice each at once
// NB_DEVTEST_IGNORE_SIGCHLD=1 sets SIGCHLD to SIG_IGN first (hosts that reap nothing).
#define _GNU_SOURCE
#include "netbpf_clang.h"
#include "netbpf_vmlinux.h"

#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static nb_clang_compile_fn p_compile;
static nb_clang_build_pch_fn p_build_pch;
static nb_clang_free_result_fn p_free;
static nb_clang_version_fn p_version;
static nb_clang_abi_version_fn p_abi;
static nb_clang_resource_dir_fn p_resource_dir;

static void load_library(const char *argv0) {
    char path[PATH_MAX];
    const char *env = getenv("NB_CLANG_LIB");
    if (env) {
        snprintf(path, sizeof path, "%s", env);
    } else {
        char self[PATH_MAX];
        if (!realpath(argv0, self)) snprintf(self, sizeof self, "%s", argv0);
        snprintf(path, sizeof path, "%s/libNetBPFClang.so", dirname(self));
    }
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        fprintf(stderr, "dlopen %s: %s\n", path, dlerror());
        exit(2);
    }
#define SYM(var, name)                                                      \
    if (!(*(void **)&var = dlsym(h, name))) {                              \
        fprintf(stderr, "dlsym %s: %s\n", name, dlerror());                \
        exit(2);                                                            \
    }
    SYM(p_compile, "nb_clang_compile");
    SYM(p_build_pch, "nb_clang_build_pch");
    SYM(p_free, "nb_clang_free_result");
    SYM(p_version, "nb_clang_version");
    SYM(p_abi, "nb_clang_abi_version");
    SYM(p_resource_dir, "nb_clang_resource_dir");
    if (p_abi() != NB_CLANG_ABI_VERSION) {
        fprintf(stderr, "ABI mismatch: library %d, header %d\n", p_abi(), NB_CLANG_ABI_VERSION);
        exit(2);
    }
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static long max_rss_kb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(2);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
        perror(path);
        exit(2);
    }
    buf[n] = 0;
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static const char *sev_name(int s) {
    static const char *names[] = {"note", "warning", "error", "fatal"};
    return s >= 0 && s <= 3 ? names[s] : "?";
}

// One line per diagnostic with every field, then a caret display built from them.
static void print_diags(const nb_compile_result *r) {
    for (size_t i = 0; i < r->ndiags; i++) {
        const nb_diag *d = &r->diags[i];
        printf("diag[%zu] severity=%s file=%s line=%u column=%u flag=%s\n  message=%s\n  source_line=%s\n", i,
               sev_name(d->severity), d->file ? d->file : "(none)", d->line, d->column,
               d->flag ? d->flag : "(none)", d->message, d->source_line ? d->source_line : "(none)");
        if (d->source_line && d->column > 0) {
            printf("    | %s\n    | ", d->source_line);
            for (unsigned c = 1; c < d->column; c++) putchar(d->source_line[c - 1] == '\t' ? '\t' : ' ');
            printf("^\n");
        }
    }
    if (r->error) printf("error=%s\n", r->error);
}

static const char *pch_name(int s) {
    return s == NB_PCH_USED ? "used" : s == NB_PCH_REJECTED ? "rejected" : "none";
}

// Parses "[--pch P] [-- ARGS...]" starting at argv[i].
static void parse_tail(int argc, char **argv, int i, const char **pch, const char *const **args, size_t *nargs) {
    *pch = NULL;
    *args = NULL;
    *nargs = 0;
    for (; i < argc; i++) {
        if (!strcmp(argv[i], "--pch") && i + 1 < argc) {
            *pch = argv[++i];
        } else if (!strcmp(argv[i], "--")) {
            *args = (const char *const *)&argv[i + 1];
            *nargs = (size_t)(argc - i - 1);
            return;
        }
    }
}

struct job {
    const char *src, *name, *pch;
    size_t len;
    int failures;
};

static void *parallel_worker(void *p) {
    struct job *j = p;
    for (int i = 0; i < 2; i++) {
        nb_compile_result r = {0};
        int rc = p_compile(j->src, j->len, j->name, NULL, 0, j->pch, &r);
        if (rc != 0 || r.object_size == 0) j->failures++;
        p_free(&r);
    }
    return NULL;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: see the comment at the top of devtest.c\n");
        return 2;
    }
    const char *cmd = argv[1];
    if (getenv("NB_DEVTEST_IGNORE_SIGCHLD")) signal(SIGCHLD, SIG_IGN);

    if (!strcmp(cmd, "vmlinux") && argc >= 3) {
        char err[512] = "", sum[65];
        double t0 = now_ms();
        int rc = nb_write_vmlinux_h(argc > 3 ? argv[3] : NULL, argv[2], err, sizeof err);
        double t1 = now_ms();
        if (rc) {
            fprintf(stderr, "nb_write_vmlinux_h: %d %s\n", rc, err);
            return 1;
        }
        nb_btf_checksum(argc > 3 ? argv[3] : NULL, sum, sizeof sum);
        printf("wrote %s in %.1f ms; BTF sha256 %s (checksum alone %.1f ms)\n", argv[2], t1 - t0, sum, now_ms() - t1);
        return 0;
    }

    load_library(argv[0]);

    if (!strcmp(cmd, "version")) {
        printf("version: %s\nresource dir: %s\nabi: %d\n", p_version(), p_resource_dir(), p_abi());
        return 0;
    }

    if (!strcmp(cmd, "pch") && argc >= 4) {
        const char *pch;
        const char *const *args;
        size_t nargs;
        parse_tail(argc, argv, 4, &pch, &args, &nargs);
        nb_compile_result r = {0};
        double t0 = now_ms();
        int rc = p_build_pch(argv[2], args, nargs, argv[3], &r);
        printf("build_pch rc=%d in %.1f ms\n", rc, now_ms() - t0);
        print_diags(&r);
        p_free(&r);
        return rc ? 1 : 0;
    }

    if ((!strcmp(cmd, "compile") && argc >= 4) || (!strcmp(cmd, "bench") && argc >= 4) ||
        (!strcmp(cmd, "diag") && argc >= 3)) {
        int is_diag = !strcmp(cmd, "diag");
        const char *pch;
        const char *const *args;
        size_t nargs;
        parse_tail(argc, argv, is_diag ? 3 : 4, &pch, &args, &nargs);
        size_t len;
        char *src = read_file(argv[2], &len);
        char name[PATH_MAX];
        if (!realpath(argv[2], name)) snprintf(name, sizeof name, "%s", argv[2]);
        int n = !strcmp(cmd, "bench") ? atoi(argv[3]) : 1;
        if (n < 1) n = 1;
        double *ms = calloc((size_t)n, sizeof *ms);
        long rss0 = 0;
        int rc = 0;
        for (int i = 0; i < n; i++) {
            nb_compile_result r = {0};
            double t0 = now_ms();
            rc = p_compile(src, len, name, args, nargs, pch, &r);
            ms[i] = now_ms() - t0;
            if (i == 0) rss0 = max_rss_kb();
            if (!strcmp(cmd, "compile") || is_diag || rc) {
                printf("compile rc=%d in %.1f ms, object %zu bytes, pch %s, %zu diags\n", rc, ms[i], r.object_size,
                       pch_name(r.pch_status), r.ndiags);
                print_diags(&r);
            }
            if (!strcmp(cmd, "compile") && rc == 0) {
                FILE *f = fopen(argv[3], "wb");
                if (!f || fwrite(r.object, 1, r.object_size, f) != r.object_size || fclose(f)) {
                    perror(argv[3]);
                    return 2;
                }
            }
            p_free(&r);
            if (rc && !is_diag) return 1;
        }
        if (!strcmp(cmd, "bench")) {
            double sum = 0;
            for (int i = 0; i < n; i++) sum += ms[i];
            double first = ms[0];
            qsort(ms, (size_t)n, sizeof *ms, cmp_double);
            printf("bench %s%s: n=%d first=%.1f min=%.1f median=%.1f mean=%.1f ms; maxrss after 1st %ld KB, after all %ld KB\n",
                   argv[2], pch ? " (pch)" : "", n, first, ms[0], ms[n / 2], sum / n, rss0, max_rss_kb());
        }
        if (is_diag) return rc != 0 ? 0 : 1;
        return 0;
    }

    if (!strcmp(cmd, "parallel") && argc >= 4) {
        const char *pch;
        const char *const *args;
        size_t nargs;
        parse_tail(argc, argv, 4, &pch, &args, &nargs);
        int n = atoi(argv[3]);
        if (n < 1 || n > 64) n = 4;
        struct job jobs[64];
        pthread_t threads[64];
        char name[PATH_MAX];
        size_t len;
        char *src = read_file(argv[2], &len);
        if (!realpath(argv[2], name)) snprintf(name, sizeof name, "%s", argv[2]);
        double t0 = now_ms();
        for (int i = 0; i < n; i++) {
            jobs[i] = (struct job){src, name, pch, len, 0};
            pthread_create(&threads[i], NULL, parallel_worker, &jobs[i]);
        }
        int failures = 0;
        for (int i = 0; i < n; i++) {
            pthread_join(threads[i], NULL);
            failures += jobs[i].failures;
        }
        printf("parallel: %d threads x 2 compiles in %.1f ms, %d failures\n", n, now_ms() - t0, failures);
        return failures ? 1 : 0;
    }

    fprintf(stderr, "bad command\n");
    return 2;
}
