// netbpf-cc, the compiler helper: one clang run per process (netbpf_clang.h says why and
// describes the protocol). This file decides what the run is and writes its result.
#include "netbpf_clang.h"

#include "bcc_kernel_reads.h"
#include "diag_collector.h"
#include "input_recorder.h"
#include "invocation.h"
#include "result.h"
#include "toolchain.h"

#include <clang/Basic/Stack.h>
#include <clang/CodeGen/CodeGenAction.h>
#include <clang/Frontend/CompilerInstance.h>
#include <clang/Frontend/FrontendActions.h>
#include <clang/Lex/PreprocessorOptions.h>
#include <llvm/Support/BuryPointer.h>
#include <llvm/Support/ErrorHandling.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/raw_ostream.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

using namespace netbpf;

namespace {

/// Where the result goes: the helper's stdout as it started. fd 1 itself is pointed at
/// /dev/null, so nothing LLVM prints (the driver's --version, say) can get in the way.
int resultFD = -1;

/// What one clang run produced.
struct Run {
    bool ok = false;
    std::string internalError; // a failure clang did not diagnose
    std::vector<DiagRecord> diags;
    unsigned numErrors = 0;
    bool pchFailed = false;
    std::string pchFailure;
    llvm::SmallVector<char, 0> object;
    std::vector<InputRecord> inputs;
};

[[noreturn]] void writeAndExit(Run &run, int pchStatus) {
    int status = 0;
    std::string error;
    if (!run.ok && !run.internalError.empty()) {
        error = run.internalError;
        status = -1;
    } else if (pchStatus == NB_PCH_REJECTED) {
        error = run.pchFailure;
        status = 1;
    } else if (!run.ok) {
        // "file:line:col: message" of the first error.
        error = "compilation failed";
        for (const DiagRecord &r : run.diags) {
            if (r.severity < NB_DIAG_ERROR) continue;
            error = r.hasLocation ? r.file + ":" + std::to_string(r.line) + ":" + std::to_string(r.column) + ": " : "";
            error += r.message;
            break;
        }
        status = 1;
    }
    nb_compile_result result{};
    llvm::ArrayRef<char> object = status == 0 ? llvm::ArrayRef<char>(run.object) : llvm::ArrayRef<char>();
    bool filled = fillResult(&result, run.diags, object, error, pchStatus, run.inputs);
    result.status = status;
    bool written = filled && nb_result_write(resultFD, &result) == 0;
    // The caller has all it needs once the result's descriptor is closed; the rest (the LLVM
    // module, the AST, the compiler instance) is left to the exit, as clang's -disable-free does.
    close(resultFD);
    _exit(written ? 0 : 71);
}

[[noreturn]] void fail(const std::string &message) {
    Run run;
    run.internalError = message;
    writeAndExit(run, NB_PCH_NONE);
}

// LLVM's default handler prints to stderr and exits; this one says it in the result.
void onFatalError(void *, const char *reason, bool) { fail(std::string("LLVM fatal error: ") + reason); }

// Builds the invocation for argv, lets `prepare` adjust it, runs the action from `makeAction`
// with a file system that records what it reads (left out: `mainFile`).
template <typename Prepare, typename MakeAction>
Run runClang(const std::vector<std::string> &argv, const std::string &mainFile, Prepare prepare, MakeAction makeAction,
             bool freeAfter = false) {
    Run run;
    DiagCollector diags;
    llvm::IntrusiveRefCntPtr<InputRecorder> files(new InputRecorder(llvm::vfs::getRealFileSystem(), mainFile));
    if (auto inv = buildInvocation(argv, diags, run.internalError)) {
        if (prepare(*inv, run)) {
            auto ci = std::make_unique<clang::CompilerInstance>();
            ci->setInvocation(inv);
            ci->createDiagnostics(&diags, /*ShouldOwnClient=*/false);
            ci->createFileManager(files);
            auto action = makeAction(*ci, run.object);
            if (freeAfter) inv->getFrontendOpts().DisableFree = false;
            run.ok = ci->ExecuteAction(*action) && diags.getNumErrors() == 0;
            if (freeAfter) { // another run follows: give its memory back first
                action.reset();
                ci.reset();
            } else {
                llvm::BuryPointer(std::move(action)); // this process exits next
                llvm::BuryPointer(std::move(ci));
            }
        }
    }
    run.diags = std::move(diags.records);
    run.numErrors = diags.getNumErrors();
    run.pchFailed = diags.pchFailed;
    run.pchFailure = std::move(diags.pchFailure);
    run.inputs = std::move(files->records);
    return run;
}

std::string readAll(int fd) {
    std::string bytes;
    char buf[1 << 16];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) fail(std::string("cannot read the source: ") + strerror(errno));
        if (n == 0) return bytes;
        bytes.append(buf, size_t(n));
    }
}

[[noreturn]] void compile(const std::string &fileName, const std::string &pch, const std::vector<std::string> &args) {
    std::string source = readAll(STDIN_FILENO);
    std::vector<std::string> tail;
    if (!pch.empty()) tail = {"-include-pch", pch};
    // -o is required by the driver but unused: the object goes to an in-memory stream.
    for (const char *s : {"-x", "c", "-c", fileName.c_str(), "-o", "/dev/null"}) tail.emplace_back(s);
    auto withSource = [&](clang::CompilerInvocation &inv, Run &) {
        auto &pp = inv.getPreprocessorOpts();
        pp.addRemappedFile(fileName, llvm::MemoryBuffer::getMemBufferCopy(source, fileName).release());
        pp.RetainRemappedFileBuffers = false; // the invocation owns the buffer
        return true;
    };
    // BCC mode: a first parse makes BCC's implicit kernel reads explicit (bcc_kernel_reads.h);
    // its errors are the compile's, otherwise the rewritten text is what gets compiled.
    if (std::find(args.begin(), args.end(), kBCCKernelReadsDefine) != args.end()) {
        std::string rewritten;
        bool changed = false;
        Run first = runClang(driverCommandLine(args, tail), fileName, withSource,
                             [&](clang::CompilerInstance &, llvm::SmallVector<char, 0> &) { return makeKernelReadsAction(rewritten, changed); },
                             /*freeAfter=*/true);
        if (!first.ok) writeAndExit(first, pch.empty() ? NB_PCH_NONE : first.pchFailed ? NB_PCH_REJECTED : NB_PCH_USED);
        if (changed) source = std::move(rewritten);
    }
    Run run = runClang(
        driverCommandLine(args, tail), fileName,
        withSource,
        [](clang::CompilerInstance &ci, llvm::SmallVector<char, 0> &object) {
            ci.setOutputStream(std::make_unique<llvm::raw_svector_ostream>(object));
            return std::make_unique<clang::EmitObjAction>();
        });
    writeAndExit(run, pch.empty() ? NB_PCH_NONE : run.pchFailed ? NB_PCH_REJECTED : NB_PCH_USED);
}

[[noreturn]] void buildPCH(const std::string &header, const std::string &out, const std::vector<std::string> &args) {
    // An unnamed file in the PCH's directory, linked into place once complete: a build that
    // fails in any way (a full disk makes LLVM end the process, a crash, SIGKILL) leaves
    // nothing behind. clang writes it through /proc/self/fd (no temporary file of its own).
    std::string dir = out.substr(0, out.find_last_of('/') == std::string::npos ? 0 : out.find_last_of('/'));
    int fd = open(dir.empty() ? "." : dir.c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0) fail("cannot create the PCH in " + dir + ": " + strerror(errno));
    std::string unnamed = "/proc/self/fd/" + std::to_string(fd);
    Run run = runClang(
        driverCommandLine(args, {"-x", "c-header", header, "-o", unnamed}), header,
        [](clang::CompilerInvocation &inv, Run &run) {
            if (inv.getFrontendOpts().ProgramAction != clang::frontend::GeneratePCH) {
                run.internalError = "arguments do not describe a PCH build";
                return false;
            }
            // Write the -o file itself, and free the AST consumer at the end (no
            // -disable-free): the destructor of its output stream is what reports a failed write.
            inv.getFrontendOpts().UseTemporary = false;
            inv.getFrontendOpts().DisableFree = false;
            return true;
        },
        [](clang::CompilerInstance &, llvm::SmallVector<char, 0> &) { return std::make_unique<clang::GeneratePCHAction>(); });
    // 0644 whatever the umask: the cache takes no entry that others can write. A PCH already
    // there (another process built it meanwhile) is as good as this one.
    if (run.ok && (fchmod(fd, 0644) != 0 ||
                   (linkat(AT_FDCWD, unnamed.c_str(), AT_FDCWD, out.c_str(), AT_SYMLINK_FOLLOW) != 0 && errno != EEXIST))) {
        run.ok = false;
        run.internalError = std::string("cannot link the PCH into place: ") + strerror(errno);
    }
    writeAndExit(run, NB_PCH_NONE);
}

} // namespace

extern "C" int nb_cc_main(int argc, char **argv) {
    resultFD = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
    int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (resultFD < 0 || devnull < 0 || dup2(devnull, STDOUT_FILENO) < 0) return 70;
    close(devnull);
    std::string mode = argc > 1 ? argv[1] : "";
    if (argc < 4 || (mode != "compile" && mode != "pch")) {
        dprintf(STDERR_FILENO, "usage: netbpf-cc compile FILE PCH|'' [CLANG_ARG...] < source\n"
                               "       netbpf-cc pch HEADER OUT [CLANG_ARG...]\n"
                               "The result goes to stdout in netbpf's format (netbpf_clang.h).\n");
        return 2;
    }
    clang::noteBottomOfStack(); // lets clang move deep recursion to a thread with more stack
    llvm::install_fatal_error_handler(onFatalError, nullptr);
    initializeBPFBackend();
    std::vector<std::string> args(argv + 4, argv + argc);
    if (mode == "compile") compile(argv[2], argv[3], args);
    buildPCH(argv[2], argv[3], args);
}
