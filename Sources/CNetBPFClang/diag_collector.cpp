#include "diag_collector.h"
#include "netbpf_clang.h"

#include <clang/Basic/DiagnosticFrontend.h>
#include <clang/Basic/DiagnosticIDs.h>
#include <clang/Basic/SourceManager.h>
#include <llvm/ADT/SmallString.h>

namespace netbpf {

static int severityOf(clang::DiagnosticsEngine::Level level) {
    switch (level) {
    case clang::DiagnosticsEngine::Warning: return NB_DIAG_WARNING;
    case clang::DiagnosticsEngine::Error: return NB_DIAG_ERROR;
    case clang::DiagnosticsEngine::Fatal: return NB_DIAG_FATAL;
    default: return NB_DIAG_NOTE; // Note, Remark
    }
}

// ASTReader reports unusable PCH files in the serialization category; the frontend reports
// the final "unable to load PCH file".
static bool isPchFailure(unsigned id) {
    if (id == clang::diag::err_fe_unable_to_load_pch) return true;
    unsigned cat = clang::DiagnosticIDs::getCategoryNumberForDiag(id);
    return cat != 0 && clang::DiagnosticIDs::getCategoryNameFromID(cat) == "AST Deserialization Issue";
}

void DiagCollector::HandleDiagnostic(clang::DiagnosticsEngine::Level level, const clang::Diagnostic &info) {
    DiagnosticConsumer::HandleDiagnostic(level, info); // keeps the error/warning counts
    if (level == clang::DiagnosticsEngine::Ignored) return;

    DiagRecord r;
    r.severity = severityOf(level);
    llvm::SmallString<256> msg;
    info.FormatDiagnostic(msg);
    r.message = msg.str().str();
    llvm::StringRef flag = clang::DiagnosticIDs::getWarningOptionForDiag(info.getID());
    if (!flag.empty()) r.flag = ("-W" + flag).str();

    if (level >= clang::DiagnosticsEngine::Error && isPchFailure(info.getID())) {
        pchFailed = true;
        if (pchFailure.empty()) pchFailure = r.message;
    }

    if (info.getLocation().isValid() && info.hasSourceManager()) {
        const clang::SourceManager &sm = info.getSourceManager();
        // Like clang's own printer: a macro expansion is reported where the macro was used.
        clang::SourceLocation loc = sm.getFileLoc(info.getLocation());
        clang::PresumedLoc p = sm.getPresumedLoc(loc);
        if (p.isValid()) {
            r.hasLocation = true;
            r.file = p.getFilename();
            r.line = p.getLine();
            r.column = p.getColumn();
        }
        auto [fid, offset] = sm.getDecomposedLoc(loc);
        bool invalid = false;
        llvm::StringRef buf = sm.getBufferData(fid, &invalid);
        if (!invalid && offset <= buf.size()) {
            size_t start = offset;
            while (start > 0 && buf[start - 1] != '\n' && buf[start - 1] != '\r') --start;
            size_t end = buf.find_first_of("\r\n", offset);
            if (end == llvm::StringRef::npos) end = buf.size();
            r.hasSourceLine = true;
            r.sourceLine = buf.slice(start, end).str();
        }
    }
    records.push_back(std::move(r));
}

} // namespace netbpf
