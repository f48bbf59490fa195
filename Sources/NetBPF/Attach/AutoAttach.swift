import CLibBPF
import CNetBPFShims
import Glibc

extension BPFProgram {
    /// Attaches by section name (bpf_program__attach): tracepoint/, raw_tracepoint/, tp_btf/, kprobe/, ...
    /// - Throws: `BPFError(.state)` for a program opened by id or pin (no section); `.unsupported`
    ///   when the kernel lacks kprobes or fentry; `.notFound` for a tracepoint that does not exist.
    public func attach() throws -> BPFLink {
        guard let pointer else {
            throw BPFError(.state, operation: "attach", subject: name, message: "program opened by id or pin has no section to attach by")
        }
        let ((link, err), log) = LibbpfLog.capture { (bpf_program__attach(pointer), errno) }
        guard let link else {
            throw AttachErrors.error(operation: "attach", subject: name, section: section, errno: err, log: log)
        }
        return BPFLink(libbpfLink: link, program: self, description: section)
    }
}
