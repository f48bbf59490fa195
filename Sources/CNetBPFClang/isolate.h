// Runs one compile in a forked child of the calling process.
//
// Why: LLVM 14's BPF CO-RE pass (BPFAbstractMemberAccess) caches the GlobalVariable it creates
// for each relocation in a process-global map keyed by "llvm.<type>:<kind>:<imm>$<access>", and
// never clears it. A second compile in the same process that touches the same field reuses a
// pointer into the first, freed, module and crashes (or miscompiles). A forked child gets a
// copy of the parent with LLVM already loaded and initialised, does the work, and exits, so the
// parent's copy of that map is never written. It also keeps crashes, LLVM fatal errors and
// anything LLVM writes to stdout/stderr out of the host process.
#pragma once
#include <functional>
#include <string>

namespace netbpf {

/// Calls work() in a forked child (on a thread with an 8 MiB stack) and returns true with the
/// bytes it returned in payload. Returns false with a message in failure when the child hit an
/// LLVM fatal error, crashed, or could not be started.
bool runIsolated(const std::function<std::string()> &work, std::string &payload, std::string &failure);

} // namespace netbpf
