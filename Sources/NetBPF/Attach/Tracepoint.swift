import CLibBPF
import CNetBPFShims
import Glibc

extension BPFProgram {
    /// Attaches to a tracepoint after checking it exists in tracefs (so a typo is "no such
    /// tracepoint", not a bare ENOENT); `cookie` is what
    /// bpf_get_attach_cookie() returns in the program (5.15). libbpf
    /// bpf_program__attach_tracepoint_opts; kernel 4.7.
    /// - Throws: `BPFError(.notFound)` when the tracepoint does not exist; `.state` for a program
    ///   opened by id or pin.
    public func attachTracepoint(category: String, name event: String, cookie: UInt64 = 0) throws -> BPFLink {
        let p = try requirePointer("attach tracepoint")
        _ = try Tracefs.format(category: category, event: event) // precise "no such tracepoint"
        let ((link, err), log) = LibbpfLog.capture { (nb_attach_tracepoint(p, category, event, cookie), errno) }
        guard let link else {
            throw AttachErrors.error(operation: "attach tracepoint", subject: "\(category):\(event)", section: section, errno: err, log: log)
        }
        return BPFLink(libbpfLink: link, program: self, description: "tracepoint/\(category)/\(event)")
    }
}
