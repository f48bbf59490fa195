#include "netbpf_pcap.h"

#include <pcap/pcap.h>
#include <stdio.h>
#include <string.h>

int nb_pcap_compile(const char *expression, int snaplen, nb_classic_insn *out, size_t max,
                    char *err, size_t errlen) {
    pcap_t *p = pcap_open_dead(DLT_EN10MB, snaplen);
    if (!p) {
        snprintf(err, errlen, "libpcap could not start");
        return -1;
    }
    struct bpf_program prog;
    if (pcap_compile(p, &prog, expression, 1, PCAP_NETMASK_UNKNOWN) != 0) {
        snprintf(err, errlen, "%s", pcap_geterr(p));
        pcap_close(p);
        return -1;
    }
    int n = (int)prog.bf_len;
    for (size_t i = 0; i < (size_t)n && i < max; i++) {
        out[i].code = prog.bf_insns[i].code;
        out[i].jt = prog.bf_insns[i].jt;
        out[i].jf = prog.bf_insns[i].jf;
        out[i].k = prog.bf_insns[i].k;
    }
    pcap_freecode(&prog);
    pcap_close(p);
    return n;
}
