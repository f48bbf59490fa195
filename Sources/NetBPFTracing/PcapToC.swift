import Foundation
import NetBPF

/// Classic BPF (what libpcap's pcap_compile produces for a filter expression) translated to a
/// C function that the in-process compiler builds into a tool's eBPF program, so a pcap filter
/// runs in the kernel at a tracepoint or a tc hook and unmatched packets never reach user space
/// (pwru translates instructions instead; C lets clang and the verifier see ordinary code).
///
/// The function is `static __always_inline u32 netbpf_pcap_match(struct pkt_ctx *p)`: 0 when
/// the packet does not match, else the classic program's return value (the snap length). The
/// program that includes it provides `struct pkt_ctx` with a `len` member (bytes readable from
/// the Ethernet header on) and `bool pkt_ld(struct pkt_ctx *, u32 off, u32 size, u32 *out)`,
/// a big-endian load of 1, 2 or 4 bytes that fails outside the packet: a failed load rejects
/// the packet, as in the kernel's classic BPF. Classic jumps go forward only, so the function
/// is a loop-free chain of labels and gotos.
package enum PcapToC {
    /// The C text of `netbpf_pcap_match` for `filter`, preceded by `#define NETBPF_PCAP_FILTER 1`.
    /// - Throws: `BPFError(.invalidArgument)` for an instruction it does not know, a jump out of
    ///   the program, or a Linux ancillary load (SKF_AD_*), which libpcap only emits for live captures.
    package static func function(_ filter: ClassicFilter) throws -> String {
        let insns = filter.instructions
        func bad(_ i: Int, _ why: String) -> BPFError {
            BPFError(.invalidArgument, operation: "translate pcap filter", subject: filter.expression ?? "classic BPF",
                     message: "instruction \(i): \(why)")
        }
        var targets = Set<Int>()
        var used = Set<UInt32>()
        for (i, x) in insns.enumerated() {
            let cls = x.code & 0x07
            if cls == 0x05 {
                let op = x.code & 0xf0
                if op == 0x00 { targets.insert(i + 1 + Int(x.k)) } else { targets.insert(i + 1 + Int(x.jt)); targets.insert(i + 1 + Int(x.jf)) }
            }
            if (cls == 0x02 || cls == 0x03) || ((cls == 0x00 || cls == 0x01) && x.code & 0xe0 == 0x60) { used.insert(x.k & 15) }
        }
        if let t = targets.first(where: { $0 >= insns.count }) { throw bad(t, "jumps past the end of the program") }
        var out = "#define NETBPF_PCAP_FILTER 1\n"
        out += "/* pcap filter: \((filter.expression ?? "").replacingOccurrences(of: "*/", with: "* /")) */\n"
        out += "static __always_inline u32 netbpf_pcap_match(struct pkt_ctx *p)\n{\n\tu32 A = 0, X = 0, t = 0;\n"
        for m in used.sorted() { out += "\tu32 M\(m) = 0;\n" }
        out += "\t(void)t; (void)X;\n"
        let sizes: [UInt16: Int] = [0x00: 4, 0x08: 2, 0x10: 1]
        let aluOps: [UInt16: String] = [0x00: "+", 0x10: "-", 0x20: "*", 0x30: "/", 0x40: "|", 0x50: "&", 0x60: "<<", 0x70: ">>", 0x90: "%", 0xa0: "^"]
        let jumps: [UInt16: String] = [0x10: "==", 0x20: ">", 0x30: ">="]
        for (i, x) in insns.enumerated() {
            let label = targets.contains(i) ? "L\(i):" : ""
            let k = "0x" + String(x.k, radix: 16) + "U"
            let line: String
            switch x.code & 0x07 {
            case 0x00, 0x01: // LD, LDX
                let dst = x.code & 0x07 == 0 ? "A" : "X"
                let mode = x.code & 0xe0
                let size = sizes[x.code & 0x18]
                switch mode {
                case 0x00: line = "\(dst) = \(k);"
                case 0x80: line = "\(dst) = p->len;"
                case 0x60: line = "\(dst) = M\(x.k & 15);"
                case 0x20, 0x40:
                    guard dst == "A", let size else { throw bad(i, "load code 0x\(String(x.code, radix: 16))") }
                    guard x.k < 0xffff_f000 else { throw bad(i, "Linux ancillary data loads (SKF_AD_*) are not supported") }
                    let off = mode == 0x20 ? k : "X + \(k)"
                    line = "if (!pkt_ld(p, \(off), \(size), &A)) return 0;"
                case 0xa0:
                    guard dst == "X" else { throw bad(i, "msh load into A") }
                    line = "if (!pkt_ld(p, \(k), 1, &t)) return 0; X = (t & 0xf) << 2;"
                default: throw bad(i, "load mode 0x\(String(mode, radix: 16))")
                }
            case 0x02: line = "M\(x.k & 15) = A;"
            case 0x03: line = "M\(x.k & 15) = X;"
            case 0x04: // ALU
                let op = x.code & 0xf0
                let src = x.code & 0x08 != 0 ? "X" : k
                if op == 0x80 { line = "A = -A;" }
                else if let sym = aluOps[op] {
                    if op == 0x30 || op == 0x90 {
                        line = src == "X" ? "if (X == 0) return 0; A \(sym)= X;" : (x.k == 0 ? "return 0;" : "A \(sym)= \(k);")
                    } else if op == 0x60 || op == 0x70 {
                        line = src == "X" ? "A = X >= 32 ? 0 : A \(sym) X;" : (x.k >= 32 ? "A = 0;" : "A \(sym)= \(k);")
                    } else { line = "A \(sym)= \(src);" }
                } else { throw bad(i, "ALU op 0x\(String(op, radix: 16))") }
            case 0x05: // JMP
                let op = x.code & 0xf0
                let src = x.code & 0x08 != 0 ? "X" : k
                if op == 0x00 { line = "goto L\(i + 1 + Int(x.k));" }
                else {
                    let cond: String
                    if op == 0x40 { cond = "(A & \(src))" } else if let sym = jumps[op] { cond = "A \(sym) \(src)" } else { throw bad(i, "jump op 0x\(String(op, radix: 16))") }
                    line = "if (\(cond)) goto L\(i + 1 + Int(x.jt)); else goto L\(i + 1 + Int(x.jf));"
                }
            case 0x06: // RET
                switch x.code & 0x18 {
                case 0x10: line = "return A;"
                case 0x08: line = "return X;"
                default: line = "return \(k);"
                }
            default: // MISC
                line = x.code & 0xf8 == 0x80 ? "A = X;" : "X = A;"
            }
            out += "\(label)\t\(line)\n"
        }
        out += "}\n"
        return out
    }

    /// `source` with its `NETBPF_PCAP_FILTER_HERE` marker line replaced by `function`.
    /// - Throws: `BPFError(.notFound)` when the source has no marker.
    package static func insert(_ function: String, into source: String) throws -> String {
        guard let r = source.range(of: "/* NETBPF_PCAP_FILTER_HERE") else {
            throw BPFError(.notFound, operation: "insert pcap filter", message: "the program has no NETBPF_PCAP_FILTER_HERE marker")
        }
        let lineStart = source[..<r.lowerBound].lastIndex(of: "\n").map { source.index(after: $0) } ?? source.startIndex
        return String(source[..<lineStart]) + function + String(source[lineStart...])
    }
}
