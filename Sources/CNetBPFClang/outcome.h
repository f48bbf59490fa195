// What one clang run produced, and its flat encoding for the child -> parent pipe.
#pragma once
#include "diag_collector.h"
#include "input_recorder.h"

#include <llvm/ADT/StringRef.h>

#include <string>
#include <vector>

namespace netbpf {

struct Outcome {
    bool ok = false;
    std::string internalError; // fatal error, crash, or a failure clang did not diagnose
    std::vector<DiagRecord> diags;
    unsigned numErrors = 0;
    bool pchFailed = false;
    std::string pchFailure;
    std::string object; // ELF bytes (empty for a PCH build)
    std::vector<InputRecord> inputs;
};

std::string encode(const Outcome &o);
/// False if bytes are truncated or malformed.
bool decode(llvm::StringRef bytes, Outcome &o);

} // namespace netbpf
