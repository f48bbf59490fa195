/// The source rewrite BCC's clang front end does before compiling, done on tokens so that the
/// result is libbpf C: every line stays on its line (diagnostics point at the program's own
/// lines), comments and strings are never touched.
///
/// What it rewrites:
/// - `map.method(args)` on the maps the program declares with BCC's macros (BPF_HASH,
///   BPF_TABLE("hash", ...), ...) into the helper call (`m.lookup(&k)` ->
///   `((__typeof__(m.value))bpf_map_lookup_elem(&m, (&k)))`), nested calls too;
/// - `BPF_TABLE("type", ...)` into `BPF_TABLE(type, ...)` so a macro can pick the map type;
/// - `bpf_trace_printk("fmt", ...)` (BCC's form, without the size) into libbpf's bpf_printk;
/// - `#include <dir/file.h>` of kernel and BCC headers into an empty line (vmlinux.h and the
///   prelude have what they gave), except libbpf's `bpf/...`;
/// - program functions without a section: a section from BCC's name conventions (kprobe__X,
///   kretprobe__X, tracepoint__C__E, raw_tracepoint__X, syscall__X) or from the type of the
///   first parameter (pt_regs -> kprobe, xdp_md -> xdp, __sk_buff -> socket ...), or from
///   the caller's table (`CompileOptions.bccSections`);
/// - the extra parameters of a kprobe function (`int f(struct pt_regs *ctx, struct sock *sk)`)
///   into locals read from the registers (PT_REGS_PARMn; for syscall__ functions, from the
///   syscall's own pt_regs);
/// - non-static functions that are not programs into `static __always_inline` ones.
///
/// What needs types is done after it, on clang's syntax tree, by netbpf-cc
/// (CNetBPFClang/bcc_kernel_reads.h): BCC's implicit kernel reads (`sk->__sk_common.skc_daddr`
/// in a kprobe) and its packet-header fields (`ip->src` on a cursor). Not done: USDT arguments.
struct BCCRewriter {
    struct Result: Equatable {
        /// The rewritten source, line for line.
        var source: String
        /// Map names declared with BCC's macros.
        var maps: [String] = []
        /// Functions that got a section: (function, section).
        var sections: [AutoAttachedFunction] = []
        /// (category, event) of every TRACEPOINT_PROBE and tracepoint__C__E struct used.
        var tracepoints: [TracepointName] = []
        /// What was seen and left alone because it is not supported (one line each).
        var unsupported: [String] = []
    }

    struct TracepointName: Hashable, Comparable {
        let category: String
        let event: String
        static func < (a: Self, b: Self) -> Bool { (a.category, a.event) < (b.category, b.event) }
    }

    /// Macros whose first argument is the map's name.
    static let mapMacrosNameFirst: Set<String> = [
        "BPF_HASH", "BPF_LRU_HASH", "BPF_PERCPU_HASH", "BPF_ARRAY", "BPF_PERCPU_ARRAY", "BPF_HISTOGRAM",
        "BPF_LPM_TRIE", "BPF_STACK_TRACE", "BPF_STACK_TRACE_BUILDID", "BPF_PERF_OUTPUT", "BPF_PERF_ARRAY", "BPF_RINGBUF_OUTPUT",
        "BPF_PROG_ARRAY", "BPF_CGROUP_ARRAY", "BPF_DEVMAP", "BPF_CPUMAP", "BPF_XSKMAP", "BPF_SOCKMAP",
        "BPF_SOCKHASH", "BPF_QUEUE", "BPF_STACK", "BPF_SK_STORAGE", "BPF_INODE_STORAGE", "BPF_TASK_STORAGE",
    ]
    /// Macros of the BPF_TABLE family: ("type", key, value, name, size, ...).
    static let tableMacros: Set<String> = ["BPF_TABLE", "BPF_F_TABLE", "BPF_TABLE_SHARED", "BPF_TABLE_PUBLIC", "BPF_TABLE_PINNED"]
    /// BPF_TABLE types the prelude knows.
    static let tableTypes: Set<String> = ["hash", "array", "percpu_hash", "percpu_array", "lru_hash", "lru_percpu_hash", "lpm_trie",
                                          "stacktrace", "devmap", "cpumap", "xskmap", "sockmap", "sockhash", "prog", "perf_output",
                                          "perf_array", "cgroup_array", "extern"]
    /// Macros that define a function (not to be taken as a function named like the macro).
    static let functionMacros: Set<String> = ["TRACEPOINT_PROBE", "RAW_TRACEPOINT_PROBE", "KFUNC_PROBE", "KRETFUNC_PROBE", "KMOD_RET", "LSM_PROBE"]

    /// The section for a program function whose first parameter is `struct TYPE *`.
    static let sectionForContext: [String: String] = [
        "pt_regs": "kprobe", "xdp_md": "xdp", "__sk_buff": "socket", "bpf_perf_event_data": "perf_event",
        "bpf_raw_tracepoint_args": "raw_tracepoint", "bpf_sock_ops": "sockops", "sk_msg_md": "sk_msg",
        "bpf_sysctl": "cgroup/sysctl", "sk_reuseport_md": "sk_reuseport", "bpf_sk_lookup": "sk_lookup",
    ]

    let bytes: [UInt8]
    let tokens: [BCCToken]
    /// Index of the matching bracket for every ( [ { and ) ] }.
    private var match: [Int: Int] = [:]
    /// function -> section, from the caller (load_func's program type, say).
    let overrides: [String: String]
    /// -D NAME=VALUE of the compile (BCC's cflags), for a BPF_TABLE type given as a macro.
    let defines: [String: String]
    /// Whether vmlinux.h defines `struct NAME` or `union NAME`.
    let kernelHas: (String) -> Bool
    private(set) var result: Result

    init(_ source: String, sections overrides: [String: String] = [:], defines: [String] = [], kernelHas: @escaping (String) -> Bool = { _ in false }) {
        bytes = Array(source.utf8)
        tokens = BCCTokenizer.tokenize(bytes)
        self.overrides = overrides
        var d: [String: String] = [:]
        for def in defines {
            if let eq = def.firstIndex(of: "=") { d[String(def[..<eq])] = String(def[def.index(after: eq)...]) } else { d[def] = "1" }
        }
        self.defines = d
        self.kernelHas = kernelHas
        result = Result(source: source)
        var stack: [Int] = []
        for (i, t) in tokens.enumerated() where t.kind == .punctuation {
            switch t.text {
            case "(", "[", "{": stack.append(i)
            case ")", "]", "}":
                if let o = stack.popLast() { match[o] = i; match[i] = o }
            default: break
            }
        }
    }

    /// Rewrites `source` (see the type's comment).
    static func rewrite(_ source: String, sections: [String: String] = [:], defines: [String] = [],
                        kernelHas: @escaping (String) -> Bool = { _ in false }) -> Result {
        var r = BCCRewriter(source, sections: sections, defines: defines, kernelHas: kernelHas)
        r.collectMaps()
        var body = r.emit(0, r.tokens.count, topLevel: true)
        // What follows the last token (comments, the final line break).
        body += r.text(r.tokens.last?.end ?? 0, r.bytes.count)
        r.result.source = body
        r.result.tracepoints = Array(Set(r.result.tracepoints)).sorted()
        return r.result
    }

    // MARK: - Pieces

    fileprivate func text(_ s: Int, _ e: Int) -> String { String(decoding: bytes[s..<e], as: UTF8.self) }
    private func tok(_ i: Int) -> String { i >= 0 && i < tokens.count ? tokens[i].text : "" }

    /// The argument token ranges of the call whose "(" is at `open` (up to its ")").
    private func arguments(open: Int) -> [Range<Int>] {
        guard let close = match[open] else { return [] }
        var out: [Range<Int>] = []
        var start = open + 1
        var i = open + 1
        while i < close {
            let t = tokens[i].text
            if tokens[i].kind == .punctuation, (t == "(" || t == "[" || t == "{"), let m = match[i] { i = m + 1; continue }
            if tokens[i].kind == .punctuation, t == "," { out.append(start..<i); start = i + 1 }
            i += 1
        }
        if start < close || !out.isEmpty { out.append(start..<close) }
        return out
    }

    private mutating func collectMaps() {
        var i = 0
        while i + 1 < tokens.count {
            let t = tokens[i]
            if t.kind == .identifier, tokens[i + 1].text == "(", tok(i - 1) != "define" {
                let nameIndex: Int? = Self.mapMacrosNameFirst.contains(t.text) ? 0 : Self.tableMacros.contains(t.text) ? 3 : nil
                if let nameIndex {
                    let args = arguments(open: i + 1)
                    if nameIndex < args.count, let last = args[nameIndex].last(where: { tokens[$0].kind == .identifier }) {
                        result.maps.append(tokens[last].text)
                    }
                }
            }
            i += 1
        }
    }

    /// Source text of token range [lo, hi) with every rewrite applied.
    private mutating func emit(_ lo: Int, _ hi: Int, topLevel: Bool) -> String {
        guard lo < hi else { return "" }
        var out = ""
        var cursor = tokens[lo].start
        var depth = 0
        var i = lo
        /// Replaces tokens [from, through] with `replacement`.
        func replace(_ from: Int, _ through: Int, with replacement: String) {
            out += text(cursor, tokens[from].start)
            out += replacement
            cursor = tokens[through].end
        }
        while i < hi {
            let t = tokens[i]
            switch t.kind {
            case .directive:
                if let header = Self.kernelInclude(t.text) {
                    // Kept as a comment on the same line (and the lines it spanned).
                    let lines = t.text.filter { $0 == "\n" }.count
                    replace(i, i, with: "/* netbpf bcc: <\(header)> from vmlinux.h */" + String(repeating: "\n", count: lines))
                }
                i += 1
                continue
            case .punctuation:
                if t.text == "{" { depth += 1 } else if t.text == "}" { depth -= 1 }
            case .string where i > 0 && Self.tableMacros.contains(tok(i - 2)) && tok(i - 1) == "(":
                let name = String(t.text.dropFirst().dropLast())
                if Self.tableTypes.contains(name) {
                    replace(i, i, with: name)
                } else {
                    result.unsupported.append("BPF_TABLE type \"\(name)\" is not supported")
                }
            case .identifier:
                // map.method(...)
                if result.maps.contains(t.text), tok(i + 1) == ".", tokens.indices.contains(i + 3), tokens[i + 2].kind == .identifier,
                   tok(i + 3) == "(", tok(i - 1) != ".", tok(i - 1) != "->", let close = match[i + 3], close < hi {
                    let args = arguments(open: i + 3).map { emit($0.lowerBound, $0.upperBound, topLevel: false) }
                    if let call = Self.methodCall(map: t.text, method: tokens[i + 2].text, arguments: args) {
                        replace(i, close, with: call)
                        i = close + 1
                        continue
                    }
                    result.unsupported.append("\(t.text).\(tokens[i + 2].text)(): unknown map method")
                }
                // bpf_trace_printk("literal", ...) -> bpf_printk
                // BPF_TABLE(MAPTYPE, ...) with -DMAPTYPE="hash" (BCC's cflags)
                if i > 1, Self.tableMacros.contains(tok(i - 2)), tok(i - 1) == "(", let value = defines[t.text],
                   value.hasPrefix("\""), value.hasSuffix("\""), value.count > 2, Self.tableTypes.contains(String(value.dropFirst().dropLast())) {
                    replace(i, i, with: String(value.dropFirst().dropLast()))
                }
                if t.text == "bpf_trace_printk", tok(i + 1) == "(", tokens.indices.contains(i + 2), tokens[i + 2].kind == .string {
                    replace(i, i, with: "bpf_printk")
                }
                // A struct the program defines that vmlinux.h has too (BCC programs copy kernel-private
                // structs such as nameidata): the kernel's stands, CO-RE finds the fields.
                if t.text == "struct" || t.text == "union", depth == 0, tokens.indices.contains(i + 2), tokens[i + 1].kind == .identifier,
                   tok(i + 2) == "{", kernelHas(tokens[i + 1].text) {
                    replace(i + 1, i + 1, with: tokens[i + 1].text + "___bcc_copy")
                    result.unsupported.append("struct \(tokens[i + 1].text): the program's copy is renamed; vmlinux.h's is used")
                    i += 2
                    continue
                }
                if t.text == "TRACEPOINT_PROBE", tok(i + 1) == "(", tokens.indices.contains(i + 4), tok(i + 3) == "," {
                    result.tracepoints.append(TracepointName(category: tok(i + 2), event: tok(i + 4)))
                }
                if t.text == "struct", tokens.indices.contains(i + 1), tokens[i + 1].text.hasPrefix("tracepoint__"),
                   let tp = Self.tracepointName(String(tokens[i + 1].text.dropFirst("tracepoint__".count))) {
                    result.tracepoints.append(tp)
                }
                // A function definition at file scope.
                if topLevel, depth == 0, tok(i + 1) == "(", !Self.functionMacros.contains(t.text),
                   let close = match[i + 1], close + 1 < hi, tok(close + 1) == "{" {
                    if let edit = functionEdit(name: i, open: i + 1, close: close) {
                        // Text up to the declaration's start, then the section, then the rest up to
                        // and including "{", then the locals.
                        // Never before the cursor: on malformed text the declaration's start can
                        // fall inside an earlier edit (the fuzzer found one), and text already
                        // written must not be written again.
                        let declarationStart = max(cursor, tokens[edit.declarationStart].start)
                        out += text(cursor, declarationStart)
                        out += edit.prefix
                        cursor = declarationStart
                        if let drop = edit.dropParameters, tokens[drop.lowerBound].start >= cursor {
                            out += text(cursor, tokens[drop.lowerBound].start)
                            let removed = text(tokens[drop.lowerBound].start, tokens[drop.upperBound - 1].end)
                            out += String(repeating: "\n", count: removed.filter { $0 == "\n" }.count)
                            cursor = tokens[drop.upperBound - 1].end
                        }
                        out += text(cursor, tokens[close + 1].end)
                        out += edit.locals
                        cursor = tokens[close + 1].end
                        depth += 1
                        i = close + 2
                        continue
                    }
                }
            default: break
            }
            i += 1
        }
        out += text(cursor, tokens[hi - 1].end)
        return out
    }

    private struct FunctionEdit {
        var declarationStart: Int
        var prefix = ""
        var dropParameters: Range<Int>?
        var locals = ""
    }

    /// What to do to the function whose name is token `name` and parameters (open...close).
    private mutating func functionEdit(name nameIndex: Int, open: Int, close: Int) -> FunctionEdit? {
        let name = tokens[nameIndex].text
        // Declaration start: after the previous ; or } or directive at file scope.
        var ds = nameIndex
        while ds > 0 {
            let p = tokens[ds - 1]
            if p.kind == .directive || (p.kind == .punctuation && (p.text == ";" || p.text == "}")) { break }
            if p.kind == .punctuation, p.text == ")", let o = match[ds - 1] { ds = o; continue }
            ds -= 1
        }
        let specifiers = tokens[ds..<nameIndex].map(\.text)
        if specifiers.contains(where: { $0 == "SEC" || $0 == "section" || $0 == "BCC_SEC" || $0 == "__section" }) { return nil }
        let isStatic = specifiers.contains("static")
        let params = arguments(open: open)
        // The first parameter's struct type, and its name.
        var contextType: String?
        var contextName: String?
        if let first = params.first, !first.isEmpty {
            let ts = first.map { tokens[$0] }
            if ts.count >= 3, ts[0].text == "struct" || (ts[0].text == "const" && ts[1].text == "struct") {
                let k = ts[0].text == "const" ? 2 : 1
                if k < ts.count { contextType = ts[k].text }
                // `struct CTXTYPE *ctx` with -DCTXTYPE=xdp_md (BCC's examples pick the type in cflags).
                if let t = contextType, let value = defines[t], !value.isEmpty { contextType = value }
            }
            if ts.contains(where: { $0.text == "*" }), let last = ts.last, last.kind == .identifier { contextName = last.text }
        }

        if let ct = contextType, ct.hasPrefix("tracepoint__"), let tp = Self.tracepointName(String(ct.dropFirst("tracepoint__".count))) {
            result.tracepoints.append(tp) // the parameter's struct is needed whatever the section
        }
        var section: String?
        if let o = overrides[name] {
            section = o
        } else if !isStatic {
            section = Self.conventionSection(name)
            if section == nil, let ct = contextType {
                if ct.hasPrefix("tracepoint__"), let tp = Self.tracepointName(String(ct.dropFirst("tracepoint__".count))) {
                    section = "tracepoint/\(tp.category)/\(tp.event)"
                    result.tracepoints.append(tp)
                } else {
                    section = Self.sectionForContext[ct]
                }
            }
        }
        var edit = FunctionEdit(declarationStart: ds)
        if let section {
            edit.prefix = "BCC_SEC(\"\(section)\") "
            result.sections.append(AutoAttachedFunction(function: name, section: section))
        } else if !isStatic {
            edit.prefix = "static __always_inline "
        }
        // Extra parameters of a kprobe function: read from the registers.
        let isKprobeLike = contextType == "pt_regs" && (section.map { $0.hasPrefix("kprobe") || $0.hasPrefix("kretprobe") || $0.hasPrefix("uprobe") || $0.hasPrefix("uretprobe") } ?? false)
        if isKprobeLike, params.count > 1, let ctx = contextName {
            edit.dropParameters = params[0].upperBound..<close // from the first "," up to before ")"
            let syscall = name.hasPrefix("syscall__") || name.hasPrefix("kprobe____x64_sys_")
            var locals = syscall ? " struct pt_regs *__nbb_sregs = (struct pt_regs *)PT_REGS_PARM1(\(ctx));" : ""
            for (n, p) in params.dropFirst().enumerated() {
                guard let last = p.last, tokens[last].kind == .identifier, p.count >= 2 else {
                    result.unsupported.append("\(name): parameter \(n + 2) has no name")
                    continue
                }
                guard n < 6 else { result.unsupported.append("\(name): more than 6 register arguments"); break }
                let type = text(tokens[p.lowerBound].start, tokens[last].start).trimmingCharacters(in: .whitespacesAndNewlines)
                    .replacingOccurrences(of: "\n", with: " ")
                let reg = syscall ? "PT_REGS_PARM\(n + 1)_CORE_SYSCALL(__nbb_sregs)" : (n == 5 ? "__NBB_PARM6(\(ctx))" : "PT_REGS_PARM\(n + 1)(\(ctx))")
                locals += " \(type)\(type.hasSuffix("*") ? "" : " ")\(tokens[last].text) = (\(type))\(reg);"
            }
            edit.locals = locals
        }
        if edit.prefix.isEmpty && edit.dropParameters == nil { return nil }
        return edit
    }

    /// The section BCC's naming gives a function, or nil.
    static func conventionSection(_ name: String) -> String? {
        for prefix in ["kprobe", "kretprobe", "raw_tracepoint", "kfunc", "kretfunc"] where name.hasPrefix(prefix + "__") {
            let target = String(name.dropFirst(prefix.count + 2))
            guard !target.isEmpty else { return nil }
            let sec = prefix == "kfunc" ? "fentry" : prefix == "kretfunc" ? "fexit" : prefix
            return "\(sec)/\(target)"
        }
        if name.hasPrefix("tracepoint__"), let tp = tracepointName(String(name.dropFirst("tracepoint__".count))) {
            return "tracepoint/\(tp.category)/\(tp.event)"
        }
        if name.hasPrefix("syscall__") {
            let target = String(name.dropFirst("syscall__".count))
            return target.isEmpty ? nil : "kprobe/__x64_sys_\(target)"
        }
        return nil
    }

    /// "sched__sched_switch" -> (sched, sched_switch).
    static func tracepointName(_ s: String) -> TracepointName? {
        guard let r = s.range(of: "__") else { return nil }
        let c = String(s[..<r.lowerBound]), e = String(s[r.upperBound...])
        guard !c.isEmpty, !e.isEmpty else { return nil }
        return TracepointName(category: c, event: e)
    }

    /// `#include <dir/file.h>` of a kernel or BCC header: the header, else nil.
    static func kernelInclude(_ directive: String) -> String? {
        var s = Substring(directive.dropFirst()) // '#'
        s = s.drop(while: { $0 == " " || $0 == "\t" })
        guard s.hasPrefix("include") else { return nil }
        s = s.dropFirst("include".count).drop(while: { $0 == " " || $0 == "\t" })
        guard s.first == "<", let close = s.firstIndex(of: ">") else { return nil }
        let header = String(s[s.index(after: s.startIndex)..<close])
        guard let slash = header.firstIndex(of: "/") else { return nil }
        let dir = header[..<slash]
        return ["linux", "uapi", "net", "asm", "asm-generic", "bcc", "trace", "scsi", "crypto", "keys", "xen", "kvm"].contains(String(dir)) ? header : nil
    }

    /// The helper call for `map.method(arguments)`, or nil for a method BCC does not have.
    static func methodCall(map m: String, method: String, arguments a: [String]) -> String? {
        func arg(_ i: Int) -> String { i < a.count ? "(" + a[i].trimmingCharacters(in: .whitespaces) + ")" : "0" }
        switch (method, a.count) {
        case ("lookup", 1): return "((__typeof__(\(m).value))bpf_map_lookup_elem(&\(m), \(arg(0))))"
        case ("lookup_or_init", 2), ("lookup_or_try_init", 2): return "__NBB_LOOKUP_OR_INIT(\(m), \(arg(0)), \(arg(1)))"
        case ("update", 2): return "bpf_map_update_elem(&\(m), \(arg(0)), \(arg(1)), BPF_ANY)"
        case ("insert", 2): return "bpf_map_update_elem(&\(m), \(arg(0)), \(arg(1)), BPF_NOEXIST)"
        case ("delete", 1): return "bpf_map_delete_elem(&\(m), \(arg(0)))"
        case ("increment", 1), ("atomic_increment", 1): return "__NBB_INCREMENT(\(m), \(arg(0)), 1)"
        case ("increment", 2), ("atomic_increment", 2): return "__NBB_INCREMENT(\(m), \(arg(0)), \(arg(1)))"
        case ("perf_submit", 3): return "bpf_perf_event_output(\(arg(0)), &\(m), BPF_F_CURRENT_CPU, \(arg(1)), \(arg(2)))"
        case ("perf_submit_skb", 4):
            return "bpf_perf_event_output(\(arg(0)), &\(m), ((__u64)\(arg(1)) << 32) | BPF_F_CURRENT_CPU, \(arg(2)), \(arg(3)))"
        case ("perf_read", 1): return "bpf_perf_event_read(&\(m), \(arg(0)))"
        case ("perf_counter_value", 3): return "bpf_perf_event_read_value(&\(m), \(arg(0)), \(arg(1)), \(arg(2)))"
        case ("ringbuf_output", 3): return "bpf_ringbuf_output(&\(m), \(arg(0)), \(arg(1)), \(arg(2)))"
        case ("ringbuf_reserve", 1): return "bpf_ringbuf_reserve(&\(m), \(arg(0)), 0)"
        case ("ringbuf_submit", 2): return "bpf_ringbuf_submit(\(arg(0)), \(arg(1)))"
        case ("ringbuf_discard", 2): return "bpf_ringbuf_discard(\(arg(0)), \(arg(1)))"
        case ("get_stackid", 2): return "bpf_get_stackid(\(arg(0)), &\(m), \(arg(1)))"
        case ("call", 2): return "bpf_tail_call(\(arg(0)), &\(m), \(arg(1)))"
        case ("redirect_map", 2): return "bpf_redirect_map(&\(m), \(arg(0)), \(arg(1)))"
        case ("push", 2): return "bpf_map_push_elem(&\(m), \(arg(0)), \(arg(1)))"
        case ("pop", 1): return "bpf_map_pop_elem(&\(m), \(arg(0)))"
        case ("peek", 1): return "bpf_map_peek_elem(&\(m), \(arg(0)))"
        case ("sock_map_update", 3): return "bpf_sock_map_update(\(arg(0)), &\(m), \(arg(1)), \(arg(2)))"
        case ("sock_hash_update", 3): return "bpf_sock_hash_update(\(arg(0)), &\(m), \(arg(1)), \(arg(2)))"
        case ("msg_redirect_map", 3): return "bpf_msg_redirect_map(\(arg(0)), &\(m), \(arg(1)), \(arg(2)))"
        case ("msg_redirect_hash", 3): return "bpf_msg_redirect_hash(\(arg(0)), &\(m), \(arg(1)), \(arg(2)))"
        case ("sk_redirect_map", 3): return "bpf_sk_redirect_map(\(arg(0)), &\(m), \(arg(1)), \(arg(2)))"
        case ("sk_redirect_hash", 3): return "bpf_sk_redirect_hash(\(arg(0)), &\(m), \(arg(1)), \(arg(2)))"
        case ("sk_storage_get", 3): return "bpf_sk_storage_get(&\(m), \(arg(0)), \(arg(1)), \(arg(2)))"
        case ("sk_storage_delete", 1): return "bpf_sk_storage_delete(&\(m), \(arg(0)))"
        case ("inode_storage_get", 3): return "bpf_inode_storage_get(&\(m), \(arg(0)), \(arg(1)), \(arg(2)))"
        case ("inode_storage_delete", 1): return "bpf_inode_storage_delete(&\(m), \(arg(0)))"
        case ("task_storage_get", 3): return "bpf_task_storage_get(&\(m), \(arg(0)), \(arg(1)), \(arg(2)))"
        case ("task_storage_delete", 1): return "bpf_task_storage_delete(&\(m), \(arg(0)))"
        case ("check_current_task", 1): return "bpf_current_task_under_cgroup(&\(m), \(arg(0)))"
        default: return nil
        }
    }
}
