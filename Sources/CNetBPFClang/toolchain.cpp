#include "toolchain.h"

#include <clang/Basic/Version.h>
#include <llvm/Config/llvm-config.h>

#include <climits>
#include <mutex>
#include <unistd.h>

// The BPF target's registration hooks (C symbols of libLLVMBPF*.a). Only BPF is
// registered: the driver never needs the host backend for -target bpf.
extern "C" {
void LLVMInitializeBPFTargetInfo();
void LLVMInitializeBPFTarget();
void LLVMInitializeBPFTargetMC();
void LLVMInitializeBPFAsmPrinter();
void LLVMInitializeBPFAsmParser(); // inline asm in BPF C (e.g. barrier_var) needs it
}

#define NB_STR2(x) #x
#define NB_STR(x) NB_STR2(x)
#define LLVM_VERSION_MAJOR_STR NB_STR(LLVM_VERSION_MAJOR)

namespace netbpf {

void initializeBPFBackend() {
    static std::once_flag once;
    std::call_once(once, [] {
        LLVMInitializeBPFTargetInfo();
        LLVMInitializeBPFTarget();
        LLVMInitializeBPFTargetMC();
        LLVMInitializeBPFAsmPrinter();
        LLVMInitializeBPFAsmParser();
    });
}

// clang and LLVM are linked into this library from Debian's static archives, so the install
// they came from is fixed at build time: its builtin headers (stddef.h, ...) are
// libclang-common-14-dev's, under /usr/lib/llvm-14/lib/clang/<version>.
static const char *const llvmPrefix = "/usr/lib/llvm-" LLVM_VERSION_MAJOR_STR;

// An installed helper (scripts/install.sh, the Debian package) has clang's freestanding headers
// beside it, in <its folder>/clang/include: the package then needs no libclang-common-14-dev,
// which would pull in libllvm14 (107 MB) for 20 MB of headers netbpf-cc does not link against.
// The folder is trusted as the helper is (root's, like /usr/lib/netbpf). Otherwise Debian's.
const std::string &resourceDir() {
    static const std::string dir = [] {
        char exe[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (n > 0) {
            std::string beside(exe, size_t(n));
            beside = beside.substr(0, beside.rfind('/')) + "/clang";
            if (access((beside + "/include/stddef.h").c_str(), R_OK) == 0) return beside;
        }
        return std::string(llvmPrefix) + "/lib/clang/" CLANG_VERSION_STRING;
    }();
    return dir;
}

const std::string &clangExecutablePath() {
    static const std::string path = std::string(llvmPrefix) + "/bin/clang";
    return path;
}

// Host-specific bits: the arch define bpf_tracing.h wants and the multiarch dir holding asm/.
#if defined(__x86_64__)
#define NB_TARGET_ARCH "x86"
#define NB_MULTIARCH "x86_64-linux-gnu"
#elif defined(__aarch64__)
#define NB_TARGET_ARCH "arm64"
#define NB_MULTIARCH "aarch64-linux-gnu"
#else
#error "unsupported host architecture"
#endif

std::vector<std::string> defaultDriverArgs() {
    return {
        clangExecutablePath(),
        "-target", "bpf",
        "-O2", "-g",
        "-D__TARGET_ARCH_" NB_TARGET_ARCH,
        "-resource-dir", resourceDir(),
        // The driver already searches /usr/include for -target bpf, but not the multiarch dir
        // with <asm/types.h>; after the caller's -I so user headers win.
        "-idirafter", "/usr/include/" NB_MULTIARCH,
        "-fno-color-diagnostics",
        // A call to an undeclared function can never load (no BTF for it, and BPF links
        // nothing in): clang 14 only warns, and libbpf then fails with a bare ENOENT.
        "-Werror=implicit-function-declaration",
    };
}

} // namespace netbpf
