import Foundation

/// Which C a source is written in.
public enum SourceDialect: String, Sendable, Equatable, CaseIterable {
    /// BCC's C when the source looks like it (`BCCMode.looksLikeBCC`), libbpf's otherwise.
    case auto
    /// libbpf C: the source is compiled as it is (BCC's naming convention still gives sections).
    case libbpf
    /// BCC's C (docs/bcc-c.md): rewritten for libbpf, with BCC's helpers.h surface implied.
    case bcc
}

/// BCC mode: BCC's C made into a libbpf CO-RE program before clang sees it. The source is
/// rewritten line for line (BCCRewriter) and framed by
///
///     #include "vmlinux.h"          kernel types from BTF
///     #include <netbpf_bcc.h>       BCC's helpers.h surface (BCCPrelude)
///     struct tracepoint__C__E {...} records of the TRACEPOINT_PROBEs it uses
///     #line 1                       diagnostics count the program's own lines
///     ...the program...
///     char _license[] SEC("license") = "GPL";   unless the program has a license section
enum BCCMode {
    struct Prepared {
        var source: String
        var sections: [AutoAttachedFunction]
        var notes: [String]
    }

    /// The define that makes netbpf-cc rewrite BCC's implicit kernel reads into CO-RE probe
    /// reads on clang's syntax tree (CNetBPFClang/bcc_kernel_reads.h; kBCCKernelReadsDefine).
    static let kernelReadsDefine = "__NETBPF_BCC__=1"

    /// Whether a source is BCC's C: it uses BCC's map macros, TRACEPOINT_PROBE, bcc/ or
    /// kernel-internal includes, or `map.method(` calls, and includes none of libbpf's
    /// headers, vmlinux.h or netbpf.h (libbpf programs always include one of them; BCC's
    /// never need to, helpers.h being implicit).
    static func looksLikeBCC(_ source: String) -> Bool {
        let libbpfMarkers = ["bpf/bpf_helpers.h", "vmlinux.h", "netbpf.h", "SEC(\""]
        if libbpfMarkers.contains(where: { source.contains($0) }) { return false }
        let bccMarkers = ["BPF_HASH(", "BPF_ARRAY(", "BPF_TABLE(", "BPF_F_TABLE(", "BPF_PERF_OUTPUT(", "BPF_HISTOGRAM(",
                          "BPF_RINGBUF_OUTPUT(", "BPF_PERCPU_ARRAY(", "BPF_PERCPU_HASH(", "BPF_LRU_HASH(", "BPF_STACK_TRACE(",
                          "BPF_PROG_ARRAY(", "BPF_DEVMAP(", "BPF_CPUMAP(", "BPF_XSKMAP(", "BPF_LPM_TRIE(", "TRACEPOINT_PROBE(",
                          "RAW_TRACEPOINT_PROBE(", "KFUNC_PROBE(", "<bcc/", "<uapi/linux/ptrace.h>", "<net/sock.h>",
                          "kprobe__", "kretprobe__", "bpf_trace_printk(\""]
        return bccMarkers.contains(where: { source.contains($0) })
    }

    /// Whether `options` and `source` ask for BCC mode.
    static func applies(to source: String, options: CompileOptions) -> Bool {
        switch options.dialect {
        case .bcc: return true
        case .libbpf: return false
        case .auto: return !options.bccSections.isEmpty || looksLikeBCC(source)
        }
    }

    /// The source to compile for a BCC program, with the prelude written into `cache`'s
    /// include directory.
    static func prepare(_ source: String, options: CompileOptions, cache: CacheDirectory) throws -> Prepared {
        try writePrelude(cache: cache)
        // vmlinux.h, read only when the program defines structs of its own (to drop its copies
        // of kernel structs).
        var kernelTypes: Data?
        if source.range(of: #"(struct|union)\s+\w+\s*\{"#, options: .regularExpression) != nil {
            let sum = try KernelTypes.btfChecksum(cache: cache)
            let dir = try KernelTypes.includeDirectory(cache: cache, btfChecksum: sum)
            kernelTypes = cache.read(dir + "/vmlinux.h")
        }
        let r = BCCRewriter.rewrite(source, sections: options.bccSections, defines: options.defines, kernelHas: { name in
            guard let k = kernelTypes else { return false }
            return k.range(of: Data("\nstruct \(name) {\n".utf8)) != nil || k.range(of: Data("\nunion \(name) {\n".utf8)) != nil
        })
        var notes = r.unsupported
        var head = "#include \"vmlinux.h\"\n#include <\(BCCPrelude.fileName)>\n"
        for tp in r.tracepoints {
            let d = BCCTracepoints.definition(category: tp.category, event: tp.event)
            head += d.text
            if let note = d.note { notes.append(note) }
        }
        head += "#line 1\n"
        var body = r.source
        if !body.hasSuffix("\n") { body += "\n" }
        // BCC gives every program a license (GPL unless BPF_LICENSE says otherwise).
        let tail = """
        #ifndef BPF_LICENSE
        #define BPF_LICENSE GPL
        #endif
        #define __NBB_STR2(x) #x
        #define __NBB_STR(x) __NBB_STR2(x)
        char __nbb_license[] SEC("license") = __NBB_STR(BPF_LICENSE);

        """
        return Prepared(source: head + body + (body.contains("SEC(\"license\")") ? "" : tail), sections: r.sections, notes: notes)
    }

    /// <cache>/include/netbpf_bcc.h, written when it differs.
    static func writePrelude(cache: CacheDirectory) throws {
        let dir = cache.path + "/include"
        let header = dir + "/" + BCCPrelude.fileName
        try cache.makeDirectory(dir)
        if let existing = cache.read(header), existing == Data(BCCPrelude.text.utf8) { return }
        try cache.writeAtomically(Data(BCCPrelude.text.utf8), to: header)
    }
}
