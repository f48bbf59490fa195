import CLibBPF
import CNetBPFShims
import Glibc

extension BPFProgram {
    /// Attaches an fentry/fexit/fmod_ret program to the function named in its section
    /// (bpf_program__attach_trace, a BPF trampoline, 5.5). Fails with `.unsupported` and the reason
    /// where trampolines are refused (this project's kernels: ftrace direct calls locked down).
    public func attachTrampoline() throws -> BPFLink {
        let p = try requirePointer("attach fentry")
        let fentry = Features.shared.fentry
        guard fentry.available else {
            throw BPFError(.unsupported, operation: "attach fentry/fexit", subject: section.isEmpty ? name : section,
                           message: "fentry/fexit is not usable on this kernel: \(fentry.detail)",
                           hint: "use a tracepoint or raw tracepoint (`netbpf trace tplist`)")
        }
        let ((link, err), log) = LibbpfLog.capture { (bpf_program__attach_trace(p), errno) }
        guard let link else {
            throw AttachErrors.error(operation: "attach fentry/fexit", subject: section, section: section, errno: err, log: log)
        }
        return BPFLink(libbpfLink: link, program: self, description: section)
    }
}
