import Foundation

/// Turns what libbpf printed during a failed open or load into one `BPFError`.
enum LibbpfOutput {
    /// The last line libbpf printed, without its "libbpf: " prefix.
    static func lastLine(_ log: String) -> String? {
        log.split(separator: "\n").last(where: { !$0.contains("END PROG LOAD LOG") }).map {
            var s = String($0)
            if s.hasPrefix("libbpf: ") { s.removeFirst("libbpf: ".count) }
            return s
        }
    }

    /// The verifier log libbpf printed for `program`, between its BEGIN/END markers.
    static func verifierLog(in log: String, program: String) -> String? {
        let begin = "prog '\(program)': -- BEGIN PROG LOAD LOG --\n"
        guard let start = log.range(of: begin, options: .backwards) else { return nil }
        let rest = log[start.upperBound...]
        let end = rest.range(of: "-- END PROG LOAD LOG --")?.lowerBound ?? rest.endIndex
        return String(rest[..<end])
    }

    /// - Parameter programs: the object's programs, so the rejected one's type and section
    ///   choose the hint and say what an EPERM means.
    static func loadError(errno err: Int32, log: String, object: String, programs: [ProgramSpec] = []) -> BPFError {
        let e = abs(err)
        // libbpf: "prog 'NAME': BPF program load failed: Permission denied"
        if let r = log.range(of: #"prog '([^']+)': BPF program load failed"#, options: .regularExpression) {
            let match = log[r]
            let name = String(match.dropFirst("prog '".count).prefix(while: { $0 != "'" }))
            let program = programs.first { $0.name == name }
            let vlog = verifierLog(in: log, program: name) ?? ""
            // No verifier log: the kernel refused the program before the verifier ran.
            if vlog.isEmpty && e == EPERM {
                if let program, TrampolineRefusal.applies(section: program.section) {
                    return TrampolineRefusal.error(operation: "load program", subject: name, verifierLog: log)
                }
                return BPFError(.permission, operation: "load program", subject: name, errno: e,
                                message: "the kernel refused to load it (EPERM) before verification",
                                hint: "loading BPF needs root or CAP_BPF (plus CAP_NET_ADMIN / CAP_PERFMON for its program type)",
                                verifierLog: log)
            }
            let diagnosis = VerifierDiagnosis(log: vlog.isEmpty ? log : vlog, programType: program?.type)
            var message = "verifier rejected (\(ErrnoName.name(e))): \(diagnosis.summary)"
            if diagnosis.omittedLines > 0 { message += " (\(diagnosis.omittedLines) lines omitted)" }
            return BPFError(.verifier, operation: "load program", subject: name, errno: e, message: message,
                            hint: diagnosis.hint, verifierLog: vlog.isEmpty ? log : vlog)
        }
        let detail = lastLine(log)
        let diagnosis = VerifierDiagnosis(log: log)
        var hint = diagnosis.hint
        if hint == nil && (e == EPERM) { hint = "loading BPF needs root or CAP_BPF (plus CAP_NET_ADMIN / CAP_PERFMON)" }
        return BPFError(e == EPERM ? .permission : .system, operation: "load object", subject: object, errno: e,
                        message: detail.map { "\(ErrnoName.describe(e)): \($0)" } ?? ErrnoName.describe(e),
                        hint: hint, verifierLog: log.isEmpty ? nil : log)
    }
}
