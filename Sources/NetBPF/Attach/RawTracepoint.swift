import CLibBPF
import CNetBPFShims
import Glibc

extension BPFProgram {
    /// Attaches to a raw tracepoint (BPF_RAW_TRACEPOINT_OPEN, 4.17; libbpf
    /// bpf_program__attach_raw_tracepoint). The program sees the tracepoint's raw arguments.
    /// - Throws: `BPFError(.notFound)` when there is no such tracepoint; `.state` for a program
    ///   opened by id or pin.
    public func attachRawTracepoint(_ event: String) throws -> BPFLink {
        let p = try requirePointer("attach raw tracepoint")
        let ((link, err), log) = LibbpfLog.capture { (bpf_program__attach_raw_tracepoint(p, event), errno) }
        guard let link else {
            var e = AttachErrors.error(operation: "attach raw tracepoint", subject: event, section: "raw_tracepoint", errno: err, log: log)
            if abs(err) == ENOENT { e.code = .notFound; e.hint = "no such tracepoint; list them with `netbpf trace tplist`" }
            throw e
        }
        return BPFLink(libbpfLink: link, program: self, description: "raw_tracepoint/\(event)")
    }
}
