// netbpf-cc: the compiler helper netbpf starts for each compile (CNetBPFClang/netbpf_clang.cpp).
#include "netbpf_clang.h"

int main(int argc, char **argv) { return nb_cc_main(argc, argv); }
