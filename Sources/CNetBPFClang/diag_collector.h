// Collects clang's diagnostics as values instead of printing them.
#pragma once
#include <clang/Basic/Diagnostic.h>

#include <string>
#include <vector>

namespace netbpf {

struct DiagRecord {
    int severity = 0; // nb_diag_severity
    bool hasLocation = false;
    std::string file;
    unsigned line = 0, column = 0;
    std::string message;
    bool hasSourceLine = false;
    std::string sourceLine;
    std::string flag; // "-Wfoo" or empty
};

class DiagCollector final : public clang::DiagnosticConsumer {
public:
    void HandleDiagnostic(clang::DiagnosticsEngine::Level level, const clang::Diagnostic &info) override;

    std::vector<DiagRecord> records;
    /// Set when a PCH could not be used (stale input, option mismatch, corrupt file).
    bool pchFailed = false;
    std::string pchFailure;
};

} // namespace netbpf
