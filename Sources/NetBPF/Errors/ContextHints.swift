import Foundation

/// Hints for reads of what a program is handed at entry: its context (R1) and nothing else.
/// The verifier's words ("R2 !read_ok", "invalid bpf_context access off=76") name a register
/// or an offset; what the author did wrong depends on the program type.
enum ContextHints {
    static func hint(summary: String, programType: ProgramType?) -> String? {
        if let register = capture(#"^R([2-5]) !read_ok"#, in: summary).flatMap(Int.init) {
            return argumentRegister(register, programType: programType)
        }
        if let offset = capture(#"invalid bpf_context access off=(-?[0-9]+)"#, in: summary).flatMap(Int.init) {
            return contextAccess(offset: offset, programType: programType)
        }
        return nil
    }

    /// R2-R5 at entry hold nothing: a program function with parameters after `ctx`
    /// (BCC's `int kprobe__f(struct pt_regs *ctx, struct sock *sk)`) reads empty registers.
    static func argumentRegister(_ register: Int, programType: ProgramType?) -> String {
        let base = "R\(register) was never set: a BPF program is called with one argument, its context (R1), so parameters after ctx are empty"
        switch programType {
        case .kprobe?:
            return base + "; take the probed function's arguments from ctx with BPF_KPROBE(name, ...) or PT_REGS_PARM\(register - 1)(ctx)"
        case .tracepoint?, .rawTracepoint?, .tracing?:
            return base + "; take the event's arguments from ctx (BPF_PROG(name, ...) for raw/BTF tracepoints and fentry)"
        case nil:
            return base + "; read what you need from ctx (kprobes: BPF_KPROBE(name, ...) or PT_REGS_PARMn(ctx))"
        default:
            return base + "; read what you need from ctx"
        }
    }

    /// Offsets of `struct __sk_buff` that socket filters may not read (data, data_end, data_meta).
    static let skbPacketPointers: Set<Int> = [76, 80, 140]

    static func contextAccess(offset: Int, programType: ProgramType?) -> String {
        switch programType {
        case .kprobe?:
            return "a kprobe's context is the probed function's registers (struct pt_regs) and offset \(offset) is not in it: "
                + "arguments past the sixth are on the stack; read them with bpf_probe_read_kernel() from PT_REGS_SP(ctx) + 8 * (N - 6) (x86-64)"
        case .socketFilter? where skbPacketPointers.contains(offset):
            return "socket filters cannot read skb->data, data_end or data_meta: copy packet bytes with bpf_skb_load_bytes()"
        case .socketFilter?:
            return "struct __sk_buff has no field a socket filter may read at offset \(offset); packet bytes come from bpf_skb_load_bytes()"
        default:
            return "this program type's context has no field it may read at offset \(offset): check that the section gives the program type whose context struct the code uses"
        }
    }

    /// The first capture group of `pattern` in `text`.
    static func capture(_ pattern: String, in text: String) -> String? {
        guard let regex = try? NSRegularExpression(pattern: pattern),
              let match = regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)),
              let group = Range(match.range(at: 1), in: text) else { return nil }
        return String(text[group])
    }
}
