#include <linux/bpf.h>
#include "no_such_header.h"

int prog(void) { return 0; }
