#include "invocation.h"
#include "toolchain.h"

#include <clang/Basic/DiagnosticOptions.h>
#include <clang/Driver/Compilation.h>
#include <clang/Driver/Driver.h>
#include <clang/Driver/Job.h>
#include <clang/Driver/Tool.h>
#include <llvm/Support/Casting.h>
#include <llvm/Support/CommandLine.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Support/VirtualFileSystem.h> // complete type for Driver's default VFS argument

namespace netbpf {

std::vector<std::string> driverCommandLine(const std::vector<std::string> &args,
                                           const std::vector<std::string> &tail) {
    std::vector<std::string> argv = defaultDriverArgs();
    for (const std::string &a : args)
        if (!a.empty()) argv.push_back(a);
    argv.insert(argv.end(), tail.begin(), tail.end());
    return argv;
}

// Runs in netbpf-cc, a process per compile, so cc1's process-wide habits are fine:
// -disable-free stays (the process exits instead of tearing the AST down) and -mllvm options
// may go into LLVM's global option registry.
static bool adapt(clang::CompilerInvocation &inv, clang::DiagnosticsEngine &diags) {
    // With carets on, CompilerInstance prints "N errors generated." to stderr.
    inv.getDiagnosticOpts().ShowCarets = false;
    inv.getDiagnosticOpts().ShowColors = false;
    inv.getFrontendOpts().ShowStats = false;

    const auto &llvmArgs = inv.getFrontendOpts().LLVMArgs;
    if (llvmArgs.empty()) return true;
    std::vector<const char *> argv = {"clang (LLVM option parsing)"};
    for (const std::string &a : llvmArgs) argv.push_back(a.c_str());
    std::string errors;
    llvm::raw_string_ostream errStream(errors);
    if (llvm::cl::ParseCommandLineOptions(int(argv.size()), argv.data(), "", &errStream)) return true;
    unsigned id = diags.getCustomDiagID(clang::DiagnosticsEngine::Error, "invalid -mllvm option: %0");
    diags.Report(id) << llvm::StringRef(errStream.str()).trim();
    return false;
}

std::shared_ptr<clang::CompilerInvocation>
buildInvocation(const std::vector<std::string> &argv, clang::DiagnosticConsumer &consumer,
                std::string &error) {
    llvm::IntrusiveRefCntPtr<clang::DiagnosticOptions> opts(new clang::DiagnosticOptions());
    opts->ShowCarets = false;
    clang::DiagnosticsEngine diags(new clang::DiagnosticIDs(), opts, &consumer, /*ShouldOwnClient=*/false);

    std::vector<const char *> cargv;
    cargv.reserve(argv.size());
    for (const std::string &a : argv) cargv.push_back(a.c_str());

    clang::driver::Driver driver(clangExecutablePath(), "bpf", diags, "netbpf BPF compiler");
    driver.setCheckInputsExist(false); // the main source lives in memory
    std::unique_ptr<clang::driver::Compilation> comp(driver.BuildCompilation(cargv));
    if (!comp || diags.hasErrorOccurred()) {
        if (!diags.hasErrorOccurred()) error = "clang driver failed";
        return nullptr;
    }
    const clang::driver::JobList &jobs = comp->getJobs();
    if (jobs.size() != 1 || !llvm::isa<clang::driver::Command>(*jobs.begin())) {
        error = "arguments do not describe exactly one compile job";
        return nullptr;
    }
    const auto &cmd = llvm::cast<clang::driver::Command>(*jobs.begin());
    if (llvm::StringRef(cmd.getCreator().getName()) != "clang") {
        error = "arguments do not describe a clang compile job";
        return nullptr;
    }

    auto inv = std::make_shared<clang::CompilerInvocation>();
    if (!clang::CompilerInvocation::CreateFromArgs(*inv, cmd.getArguments(), diags, cargv[0]) ||
        diags.hasErrorOccurred()) {
        if (!diags.hasErrorOccurred()) error = "invalid compiler arguments";
        return nullptr;
    }
    if (!adapt(*inv, diags)) return nullptr;
    return inv;
}

} // namespace netbpf
