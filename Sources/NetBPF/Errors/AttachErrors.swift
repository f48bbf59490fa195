import Glibc

/// Explains attach failures in terms of what the kernel lacks, decided from probes.
package enum AttachErrors {
    package static func error(operation: String, subject: String, section: String, errno err: Int32, log: String) -> BPFError {
        let e = abs(err)
        var hint: String?
        var code = BPFError.Code.system
        if section.hasPrefix("kprobe") || section.hasPrefix("kretprobe") || section.hasPrefix("ksyscall") {
            if !Features.shared.kprobes.available {
                code = .unsupported
                return BPFError(code, operation: operation, subject: subject, errno: e,
                                message: "this kernel has no kprobes (built without CONFIG_KPROBES: no kprobe PMU, no kprobe_events)",
                                hint: "use a tracepoint (`netbpf trace tplist`) or a raw_tracepoint instead")
            }
        }
        // kprobe.multi links (5.18) go through fprobe: a kernel built without CONFIG_FPROBE
        // (Debian 12's 6.1) answers EOPNOTSUPP, which alone reads "operation not supported".
        if (section.hasPrefix("kprobe.multi") || section.hasPrefix("kretprobe.multi")) && (e == EOPNOTSUPP || e == 524) {
            return BPFError(.unsupported, operation: operation, subject: subject, errno: e,
                            message: "this kernel has no kprobe.multi links (built without CONFIG_FPROBE, or older than 5.18)",
                            hint: "attach one kprobe per function instead (SEC(\"kprobe/FUNC\"))")
        }
        if TrampolineRefusal.applies(section: section) {
            if e == EPERM { return TrampolineRefusal.error(operation: operation, subject: subject) }
            if !Features.shared.fentry.available {
                return BPFError(.unsupported, operation: operation, subject: subject, errno: e,
                                message: "fentry/fexit is not usable on this kernel (\(Features.shared.fentry.detail))",
                                hint: "use a tracepoint or raw_tracepoint instead (`netbpf trace tplist`)")
            }
        }
        if e == ENOENT && section.hasPrefix("tracepoint") {
            hint = "no such tracepoint; list them with `netbpf trace tplist`"
            code = .notFound
        }
        if e == EPERM || e == EACCES { code = .permission }
        let detail = LibbpfOutput.lastLine(log)
        return BPFError(code, operation: operation, subject: subject, errno: e,
                        message: ErrnoName.describe(e) + (detail.map { ": \($0)" } ?? ""), hint: hint)
    }
}
