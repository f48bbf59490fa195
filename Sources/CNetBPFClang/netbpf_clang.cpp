// The C entry points: compile BPF C held in memory, build a PCH, free results.
// Each clang run happens in a forked child (isolate.h says why); this file decides what runs
// there and turns the child's Outcome into the C result.
#include "netbpf_clang.h"

#include "diag_collector.h"
#include "invocation.h"
#include "isolate.h"
#include "outcome.h"
#include "result.h"
#include "toolchain.h"

#include <clang/CodeGen/CodeGenAction.h>
#include <clang/Frontend/CompilerInstance.h>
#include <clang/Frontend/FrontendActions.h>
#include <clang/Lex/PreprocessorOptions.h>
#include <llvm/Support/BuryPointer.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/raw_ostream.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <new>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

using namespace netbpf;

namespace {

// Everything lazily initialised is set up before forking, so no child repeats it and no
// child can inherit a half-done initialisation from another thread.
void prepareParent() {
    static std::once_flag once;
    std::call_once(once, [] {
        initializeBPFBackend();
        (void)resourceDir();
        (void)clangExecutablePath();
        (void)versionString();
    });
}

// In the child: builds the invocation, lets `prepare` adjust it, runs the action from
// `makeAction`, and returns the encoded Outcome.
// `mainFile` is left out of the inputs it records.
template <typename Prepare, typename MakeAction>
std::string runClang(const std::vector<std::string> &argv, const std::string &mainFile, Prepare prepare,
                     MakeAction makeAction) {
    Outcome o;
    DiagCollector diags;
    llvm::SmallVector<char, 0> object;
    llvm::IntrusiveRefCntPtr<InputRecorder> files(new InputRecorder(llvm::vfs::getRealFileSystem(), mainFile));
    if (auto inv = buildInvocation(argv, diags, o.internalError)) {
        // A PCH's system headers are checked too (clang checks only user headers by default),
        // so a PCH of UAPI headers that changed is rejected and rebuilt, and those headers are
        // among the compile's inputs.
        inv->getHeaderSearchOpts().ModulesValidateSystemHeaders = true;
        if (prepare(*inv, o)) {
            auto ci = std::make_unique<clang::CompilerInstance>();
            ci->setInvocation(inv);
            ci->createDiagnostics(&diags, /*ShouldOwnClient=*/false);
            ci->createFileManager(files);
            auto action = makeAction(*ci, object);
            o.ok = ci->ExecuteAction(*action) && diags.getNumErrors() == 0;
            // This runs in the compile child, which exits next: as clang's own -disable-free
            // does, the action (LLVM module and context) and the compiler instance are left to
            // the exit rather than freed node by node (a few ms for a vmlinux.h program).
            llvm::BuryPointer(std::move(action));
            llvm::BuryPointer(std::move(ci));
        }
    }
    o.diags = std::move(diags.records);
    o.numErrors = diags.getNumErrors();
    o.pchFailed = diags.pchFailed;
    o.pchFailure = std::move(diags.pchFailure);
    o.inputs = std::move(files->records);
    if (o.ok) o.object.assign(object.begin(), object.end());
    return encode(o);
}

// Runs work in a child and decodes what it sent back.
Outcome isolated(const std::function<std::string()> &work) {
    Outcome o;
    std::string payload, failure;
    if (!runIsolated(work, payload, failure))
        o.internalError = failure;
    else if (!decode(payload, o))
        o = Outcome{false, "malformed result from the compiler process"};
    return o;
}

Outcome compileOnce(llvm::StringRef source, const std::string &fileName, const char *const *args,
                    size_t nargs, const char *pch) {
    std::vector<std::string> tail;
    if (pch) tail = {"-include-pch", pch};
    // -o is required by the driver but unused: the object goes to an in-memory stream.
    for (const char *s : {"-x", "c", "-c", fileName.c_str(), "-o", "/dev/null"}) tail.emplace_back(s);
    std::vector<std::string> argv = driverCommandLine(args, nargs, tail);
    return isolated([&] {
        return runClang(
            argv, fileName,
            [&](clang::CompilerInvocation &inv, Outcome &) {
                auto &pp = inv.getPreprocessorOpts();
                pp.addRemappedFile(fileName, llvm::MemoryBuffer::getMemBufferCopy(source, fileName).release());
                pp.RetainRemappedFileBuffers = false; // the invocation owns the buffer
                return true;
            },
            [](clang::CompilerInstance &ci, llvm::SmallVector<char, 0> &object) {
                ci.setOutputStream(std::make_unique<llvm::raw_svector_ostream>(object));
                return std::make_unique<clang::EmitObjAction>();
            });
    });
}

// "file:line:col: message" of the first error, for nb_compile_result.error.
std::string summarize(const Outcome &o) {
    for (const DiagRecord &r : o.diags) {
        if (r.severity < NB_DIAG_ERROR) continue;
        std::string s;
        if (r.hasLocation) s = r.file + ":" + std::to_string(r.line) + ":" + std::to_string(r.column) + ": ";
        s += r.message;
        if (o.numErrors > 1) s += " (and " + std::to_string(o.numErrors - 1) + " more errors)";
        return s;
    }
    return "compilation failed";
}

int finish(nb_compile_result *out, Outcome &o, int pchStatus) {
    int rc = 0;
    std::string error;
    if (!o.ok && !o.internalError.empty()) {
        // A crash or fatal error outranks whatever clang diagnosed before it.
        DiagRecord fatal;
        fatal.severity = NB_DIAG_FATAL;
        fatal.message = o.internalError;
        o.diags.push_back(fatal);
        error = o.internalError;
        rc = -1;
    } else if (!o.ok) {
        error = summarize(o);
        rc = 1;
    }
    llvm::ArrayRef<char> object = rc == 0 ? llvm::ArrayRef<char>(o.object.data(), o.object.size())
                                          : llvm::ArrayRef<char>();
    if (!fillResult(out, o.diags, object, error, pchStatus, o.inputs)) {
        freeResult(out);
        return -1;
    }
    return rc;
}

int failEarly(nb_compile_result *out, const char *message) {
    Outcome o;
    o.internalError = message;
    return finish(out, o, NB_PCH_NONE);
}

} // namespace

extern "C" int nb_clang_compile(const char *source, size_t source_len, const char *file_name,
                                const char *const *args, size_t nargs, const char *pch_path,
                                nb_compile_result *out) {
    if (!out) return -1;
    *out = nb_compile_result{};
    try {
        if (!source && source_len) return failEarly(out, "source is NULL");
        std::string name = (file_name && *file_name) ? file_name : "input.bpf.c";
        llvm::StringRef text(source ? source : "", source ? source_len : 0);
        if (pch_path && !*pch_path) pch_path = nullptr;
        prepareParent();

        Outcome first = compileOnce(text, name, args, nargs, pch_path);
        if (!pch_path || !first.pchFailed) return finish(out, first, pch_path ? NB_PCH_USED : NB_PCH_NONE);

        // A stale or mismatched PCH is a cache miss, not a user error: compile without it.
        Outcome second = compileOnce(text, name, args, nargs, nullptr);
        DiagRecord note;
        note.severity = NB_DIAG_NOTE;
        note.message = std::string("precompiled header '") + pch_path + "' not used: " + first.pchFailure;
        second.diags.insert(second.diags.begin(), note);
        return finish(out, second, NB_PCH_REJECTED);
    } catch (const std::bad_alloc &) {
        freeResult(out);
        return -1;
    }
}

extern "C" int nb_clang_build_pch(const char *header_path, const char *const *args, size_t nargs,
                                  const char *out_pch_path, nb_compile_result *out) {
    if (!out) return -1;
    *out = nb_compile_result{};
    try {
        if (!header_path || !*header_path || !out_pch_path || !*out_pch_path)
            return failEarly(out, "header_path and out_pch_path are required");
        prepareParent();
        // The child writes a temporary file of this call's own and renames it into place once
        // the PCH is complete; this process removes it if the child failed in any way (LLVM's
        // fatal "IO failure on output stream" on a full disk, a crash, SIGKILL), which clang's
        // own temporary file would outlive.
        static std::atomic<unsigned> serial{0};
        std::string tmp = std::string(out_pch_path) + "." + std::to_string(getpid()) + "-" +
                          std::to_string(serial++) + ".tmp";
        std::vector<std::string> argv = driverCommandLine(args, nargs, {"-x", "c-header", header_path, "-o", tmp});
        Outcome o = isolated([&] {
            std::string encoded = runClang(
                argv, header_path,
                [](clang::CompilerInvocation &inv, Outcome &o) {
                    if (inv.getFrontendOpts().ProgramAction != clang::frontend::GeneratePCH) {
                        o.internalError = "arguments do not describe a PCH build";
                        return false;
                    }
                    // Write the -o file itself (no temporary of clang's own), and free the AST
                    // consumer at the end (no -disable-free): the destructor of its output
                    // stream is what reports a failed write.
                    inv.getFrontendOpts().UseTemporary = false;
                    inv.getFrontendOpts().DisableFree = false;
                    return true;
                },
                [](clang::CompilerInstance &, llvm::SmallVector<char, 0> &) {
                    return std::make_unique<clang::GeneratePCHAction>();
                });
            Outcome built;
            if (!decode(encoded, built) || !built.ok) return encoded;
            // 0644 whatever the umask: the cache takes no entry that others can write.
            if (chmod(tmp.c_str(), 0644) != 0 || rename(tmp.c_str(), out_pch_path) != 0) {
                built.ok = false;
                built.internalError = std::string("cannot move the PCH into place: ") + strerror(errno);
                return encode(built);
            }
            return encoded;
        });
        if (!o.ok) unlink(tmp.c_str());
        return finish(out, o, NB_PCH_NONE);
    } catch (const std::bad_alloc &) {
        freeResult(out);
        return -1;
    }
}

extern "C" void nb_clang_free_result(nb_compile_result *r) { freeResult(r); }

extern "C" const char *nb_clang_version(void) {
    prepareParent();
    return versionString().c_str();
}

extern "C" int nb_clang_abi_version(void) { return NB_CLANG_ABI_VERSION; }

extern "C" const char *nb_clang_resource_dir(void) {
    prepareParent();
    return resourceDir().c_str();
}
