/// Which header declares a name that a program called without declaring it. In BPF C such a
/// call can never work: clang 14 only warns about the implicit declaration, emits no BTF for
/// it, and libbpf then fails to open the object with a bare ENOENT ("failed to find BTF for
/// extern"). netbpf makes it an error (-Werror=implicit-function-declaration, toolchain.cpp),
/// and this names the header to include.
enum HeaderHints {
    /// A hint for the first "implicit declaration of function 'X'" among `diagnostics`, or nil.
    static func hint(for diagnostics: [Diagnostic]) -> String? {
        for d in diagnostics where d.message.hasPrefix("implicit declaration of function '") {
            let name = d.message.split(separator: "'").dropFirst().first.map(String.init) ?? ""
            return hint(forUndeclared: name)
        }
        return nil
    }

    static func hint(forUndeclared name: String) -> String {
        if name.hasPrefix("BPF_CORE_READ") || name.hasPrefix("bpf_core_") {
            return "\(name) is a macro of libbpf's <bpf/bpf_core_read.h>: include it"
        }
        if ["BPF_KPROBE", "BPF_KRETPROBE", "BPF_KSYSCALL", "BPF_UPROBE", "BPF_URETPROBE", "BPF_PROG", "PT_REGS_"].contains(where: name.hasPrefix) {
            return "\(name) is a macro of libbpf's <bpf/bpf_tracing.h>: include it"
        }
        if ["bpf_htons", "bpf_ntohs", "bpf_htonl", "bpf_ntohl", "bpf_cpu_to_be64", "bpf_be64_to_cpu"].contains(name) {
            return "\(name) is a macro of libbpf's <bpf/bpf_endian.h>: include it"
        }
        if name.hasPrefix("bpf_") {
            return "BPF helpers such as \(name) are declared in libbpf's <bpf/bpf_helpers.h>: include it"
        }
        return "a BPF program can call only functions it declares: BPF helpers (<bpf/bpf_helpers.h>), kfuncs declared __ksym, or its own"
    }
}
