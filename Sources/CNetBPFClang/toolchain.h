// Where clang's pieces are and what every BPF compile gets by default.
#pragma once
#include <string>
#include <vector>

namespace netbpf {

/// Registers the BPF backend with LLVM; runs once per process, later calls are no-ops.
void initializeBPFBackend();

/// clang's resource dir (builtin headers in <dir>/include): Debian's
/// /usr/lib/llvm-14/lib/clang/<version>, from libclang-common-14-dev.
const std::string &resourceDir();

/// Path the driver treats as "the clang binary" (only used to derive install-relative paths).
const std::string &clangExecutablePath();

/// Driver arguments that come before the caller's: target, -O2 -g, arch define, include dirs.
std::vector<std::string> defaultDriverArgs();

} // namespace netbpf
