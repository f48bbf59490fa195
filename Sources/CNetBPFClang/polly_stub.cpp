// Debian's LLVM 14 registers Polly as a static pass-builder extension (Extension.def), so
// clangCodeGen and LLVMLTO reference getPollyPluginInfo(). Polly only runs with -mllvm -polly,
// which netbpf never passes; an extension that registers nothing keeps it out of the library.
#include <llvm/Passes/PassPlugin.h>

llvm::PassPluginLibraryInfo getPollyPluginInfo() {
    return {LLVM_PLUGIN_API_VERSION, "Polly", "none", [](llvm::PassBuilder &) {}};
}
