// BCC mode's automatic kernel memory reads (docs/bcc-c.md), done on clang's syntax tree.
#pragma once
#include <clang/Frontend/FrontendAction.h>

#include <memory>
#include <string>

namespace netbpf {

/// The define that asks netbpf-cc for this pass (BCC mode passes it with its other clang
/// arguments, so the compile cache's key covers it).
constexpr const char *kBCCKernelReadsDefine = "-D__NETBPF_BCC__=1";

/// Parses the main file and, where the program reads kernel memory through a pointer the way
/// BCC allows (`sk->__sk_common.skc_daddr` in a kprobe), wraps that read in
/// bpf_probe_read_kernel of a CO-RE relocated address (vmlinux.h records carry
/// preserve_access_index), as BCC's
/// ProbeVisitor does with bpf_probe_read. Which pointers point into the kernel follows BCC:
/// values loaded from a tracing program's context (kprobe registers, tracepoint records,
/// raw tracepoint arguments), values loaded from kernel memory, pointers kept in maps, and
/// what bpf_get_current_task() returns; through variables, casts, arithmetic, calls of the
/// program's own functions and their returns. Map values, the stack, packets and contexts
/// themselves are read directly, as before.
///
/// Edits only insert text inside lines (and replace `->` of bitfields), so diagnostics of
/// the compile that follows keep the program's lines. A read that cannot be rewritten (inside
/// a macro of the program's own, a write to kernel memory) is an error at the user's line
/// that says what to write instead. `out` gets the main file's new text; unchanged when
/// nothing needed rewriting.
std::unique_ptr<clang::FrontendAction> makeKernelReadsAction(std::string &out, bool &changed);

} // namespace netbpf
