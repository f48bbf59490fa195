import NetBPF

/// What netbpf checks after clang succeeds, before anything is loaded: the object has programs,
/// every program's section names a program type libbpf knows, and there is a license.
enum ObjectChecks {
    static func check(_ object: [UInt8], name: String, path: String) throws -> [Diagnostic] {
        let spec: BPFObjectSpec
        do {
            spec = try BPFObjectSpec.open(bytes: object, name: name)
        } catch let e as BPFError {
            // No BTF for an extern: a function called without any declaration (allowed only
            // with -Wno-error=implicit-function-declaration).
            let undeclared = e.message.contains("failed to find BTF for extern")
            throw CompileError(kind: .object, message: "\(path): \(e.message)",
                               hint: undeclared ? "a function is called that the program never declares: include its header or declare it" : e.hint)
        }
        for p in spec.programs where p.type.rawValue == 0 {
            throw CompileError(kind: .object, message: "\(path): function '\(p.name)' is in section '\(p.section)', which names no BPF program type",
                               hint: "use a libbpf section such as SEC(\"tc\"), SEC(\"xdp\"), SEC(\"socket\"), SEC(\"tracepoint/CAT/EVENT\"), SEC(\"kprobe/FUNC\")")
        }
        var out: [Diagnostic] = []
        if !ELFSections.names(object).contains("license") {
            out.append(Diagnostic(severity: .warning, file: path, line: 0, column: 0,
                                  message: "no license section: the kernel will refuse GPL-only helpers (add `char LICENSE[] SEC(\"license\") = \"GPL\";`)"))
        }
        return out
    }
}
