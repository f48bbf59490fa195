// Turns clang driver arguments into a cc1 CompilerInvocation.
#pragma once
#include <clang/Basic/Diagnostic.h>
#include <clang/Frontend/CompilerInvocation.h>

#include <memory>
#include <string>
#include <vector>

namespace netbpf {

/// Full driver command line: defaultDriverArgs(), then the caller's args, then `tail`
/// (input and output). Empty strings in caller args are dropped.
std::vector<std::string> driverCommandLine(const std::vector<std::string> &args,
                                           const std::vector<std::string> &tail);

/// Runs the clang driver (no subprocess) to get the single cc1 job for argv and parses it.
/// Problems are reported through diags; returns nullptr on failure (error says why when the
/// reason is not already a diagnostic).
std::shared_ptr<clang::CompilerInvocation>
buildInvocation(const std::vector<std::string> &argv, clang::DiagnosticConsumer &diags,
                std::string &error);

} // namespace netbpf
