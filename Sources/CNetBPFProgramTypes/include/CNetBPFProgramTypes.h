/* The key, value and record layouts that the BPF programs of programs/ share with Swift, imported
 * as they are: Swift uses the C structs (and enums and limits) of these headers directly, so each
 * layout has one definition, in programs/include/, compiled by clang -target bpf on one side and
 * by the Swift importer on the other.
 *
 * Only headers both sides can include belong here: types from <linux/types.h> (__u32, __u64, ...)
 * and uapi headers, no SEC(), no map definitions, no helpers. A program's BPF-only code lives in
 * its .bpf.c or in a header of its own that includes the shared one (http_parse.h includes
 * http_filter.h). The paths are relative to this file, so the headers stay where the BPF
 * programs and the run-time compiler find them. */
#ifndef NETBPF_PROGRAM_TYPES_H
#define NETBPF_PROGRAM_TYPES_H

#include "../../../programs/include/distributed_bridge.h"
#include "../../../programs/include/http_filter.h"
#include "../../../programs/include/netbpf_test.h"
#include "../../../programs/include/ratelimit.h"
#include "../../../programs/include/tc_icmp6_events.h"
#include "../../../programs/include/tunnel_monitor.h"
#include "../../../programs/include/vlan_learning.h"

#endif /* NETBPF_PROGRAM_TYPES_H */
