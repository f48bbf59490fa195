// Copies C++ compile outcomes into the malloc-owned C result struct.
#pragma once
#include "diag_collector.h"
#include "input_recorder.h"
#include "netbpf_clang.h"

#include <llvm/ADT/SmallVector.h>

namespace netbpf {

/// Fills *out (object bytes may be empty; free it with nb_free_result). Returns false if
/// memory ran out.
bool fillResult(nb_compile_result *out, const std::vector<DiagRecord> &diags,
                llvm::ArrayRef<char> object, const std::string &error, int pchStatus,
                const std::vector<InputRecord> &inputs);

} // namespace netbpf
