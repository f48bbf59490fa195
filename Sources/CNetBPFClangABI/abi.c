// The C interface of the in-process compiler (include/netbpf_clang.h), as its own target so the
// Swift side can use its types while loading the implementation (libNetBPFClang.so) with dlopen.
#include "netbpf_clang.h"
