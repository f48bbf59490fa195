#include "netbpf_pcap.h"

#include <dlfcn.h>
#include <pcap/pcap.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

// libpcap is opened when the first expression is compiled, not linked: linking it makes every
// netbpf process load it and the ten libraries it pulls in (libdbus, libsystemd, libgcrypt,
// liblzma, libzstd ...), which only `attach socket --pcap` uses.
static struct {
    pcap_t *(*open_dead)(int, int);
    int (*compile)(pcap_t *, struct bpf_program *, const char *, int, bpf_u_int32);
    char *(*geterr)(pcap_t *);
    void (*freecode)(struct bpf_program *);
    void (*close)(pcap_t *);
    char error[256];
} lib;

static void open_libpcap(void) {
    // Debian's soname, then the upstream one other distributions ship, then the -dev link.
    static const char *const names[] = {"libpcap.so.0.8", "libpcap.so.1", "libpcap.so"};
    void *h = NULL;
    for (size_t i = 0; i < sizeof names / sizeof names[0] && !h; i++) {
        h = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
        if (!h && i == 0) // the first failure says the most; dlerror's buffer is reused
            snprintf(lib.error, sizeof lib.error, "cannot load libpcap (%s); Debian: apt-get install libpcap0.8", dlerror());
    }
    if (!h) return;
    lib.open_dead = (pcap_t *(*)(int, int))dlsym(h, "pcap_open_dead");
    lib.compile = (int (*)(pcap_t *, struct bpf_program *, const char *, int, bpf_u_int32))dlsym(h, "pcap_compile");
    lib.geterr = (char *(*)(pcap_t *))dlsym(h, "pcap_geterr");
    lib.freecode = (void (*)(struct bpf_program *))dlsym(h, "pcap_freecode");
    lib.close = (void (*)(pcap_t *))dlsym(h, "pcap_close");
    if (!lib.open_dead || !lib.compile || !lib.geterr || !lib.freecode || !lib.close) {
        snprintf(lib.error, sizeof lib.error, "libpcap lacks pcap_compile or its companions");
        lib.open_dead = NULL;
    }
}

int nb_pcap_compile(const char *expression, int snaplen, nb_classic_insn *out, size_t max,
                    char *err, size_t errlen) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, open_libpcap);
    if (!lib.open_dead) {
        snprintf(err, errlen, "%s", lib.error);
        return -1;
    }
    pcap_t *p = lib.open_dead(DLT_EN10MB, snaplen);
    if (!p) {
        snprintf(err, errlen, "libpcap could not start");
        return -1;
    }
    struct bpf_program prog;
    if (lib.compile(p, &prog, expression, 1, PCAP_NETMASK_UNKNOWN) != 0) {
        snprintf(err, errlen, "%s", lib.geterr(p));
        lib.close(p);
        return -1;
    }
    int n = (int)prog.bf_len;
    for (size_t i = 0; i < (size_t)n && i < max; i++) {
        out[i].code = prog.bf_insns[i].code;
        out[i].jt = prog.bf_insns[i].jt;
        out[i].jf = prog.bf_insns[i].jf;
        out[i].k = prog.bf_insns[i].k;
    }
    lib.freecode(&prog);
    lib.close(p);
    return n;
}
