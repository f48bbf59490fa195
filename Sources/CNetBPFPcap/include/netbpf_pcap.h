// pcap filter expressions to classic BPF, behind a header that does not include pcap.h:
// libpcap's `struct bpf_program` would clash with libbpf's in the Swift module that uses both.
#pragma once
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// One classic BPF instruction, laid out as struct sock_filter.
typedef struct nb_classic_insn { uint16_t code; uint8_t jt; uint8_t jf; uint32_t k; } nb_classic_insn;

/// Compiles `expression` for Ethernet (DLT_EN10MB) with pcap_compile, optimised, like tcpdump.
/// Writes up to `max` instructions and returns how many the program has (call again with a
/// larger buffer if that is more than `max`), or -1 with a message in `err`.
int nb_pcap_compile(const char *expression, int snaplen, nb_classic_insn *out, size_t max,
                    char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
