import Foundation
import Testing
import NetBPF
import NetBPFCompiler
import NetBPFTestSupport

/// The same source and options give the same object bytes, or the same errors, whatever the
/// cache holds: cold, warm, with the cache off, with the precompiled header there or not.
extension CompilerTests {
    /// Sources of this test's own: libbpf's tracing, CO-RE and endian macros used without
    /// their headers (a PCH holding those headers made them compile once it existed), the
    /// same done right, a syntax error after vmlinux.h, a #define before vmlinux.h.
    static let ownSources: [String: String] = [
        "core_read_without_header.bpf.c": """
        #include "vmlinux.h"
        #include <netbpf.h>

        SEC("kprobe/do_unlinkat")
        int on_unlink(struct pt_regs *ctx)
        {
        	struct filename *name = (struct filename *)PT_REGS_PARM2_CORE(ctx);
        	const char *p = BPF_CORE_READ(name, name);
        	bpf_printk("unlink %s", p);
        	return 0;
        }
        NETBPF_LICENSE("GPL");
        """,
        "kprobe_macro_without_header.bpf.c": """
        #include "vmlinux.h"
        #include <bpf/bpf_helpers.h>

        SEC("kprobe/do_unlinkat")
        int BPF_KPROBE(on_unlink, int dfd, struct filename *name)
        {
        	return 0;
        }
        char LICENSE[] SEC("license") = "GPL";
        """,
        "uapi_without_their_headers.bpf.c": """
        #include <linux/bpf.h>
        #include <bpf/bpf_helpers.h>

        SEC("tc")
        int f(struct __sk_buff *skb)
        {
        	return skb->protocol == bpf_htons(ETH_P_IP);
        }
        char LICENSE[] SEC("license") = "GPL";
        """,
        "core_read_with_headers.bpf.c": """
        /* The headers it uses, each included. */
        #include "vmlinux.h"
        #include <bpf/bpf_helpers.h>
        #include <bpf/bpf_tracing.h>
        #include <bpf/bpf_core_read.h>

        SEC("kprobe/do_unlinkat")
        int BPF_KPROBE(on_unlink, int dfd, struct filename *name)
        {
        	const char *p = BPF_CORE_READ(name, name);
        	bpf_printk("unlink %s", p);
        	return 0;
        }
        char LICENSE[] SEC("license") = "GPL";
        """,
        "syntax_error_after_vmlinux.bpf.c": """
        #include "vmlinux.h"
        #include <bpf/bpf_helpers.h>

        SEC("tc") int f(struct __sk_buff *skb) { return skb-> ; }
        """,
        "define_before_vmlinux.bpf.c": """
        #define BPF_NO_PRESERVE_ACCESS_INDEX
        #include "vmlinux.h"
        #include <bpf/bpf_helpers.h>

        SEC("tc") int f(struct __sk_buff *skb) { return skb->len > 100; }
        char LICENSE[] SEC("license") = "GPL";
        """,
    ]

    /// Every program of programs/ and Tools/, and the sources above ("own/NAME").
    static let determinismCorpus: [String] = {
        let root = TestPrograms.repositoryRoot.path
        let tools = ((try? FileManager.default.contentsOfDirectory(atPath: root + "/Tools")) ?? []).sorted()
            .map { "Tools/\($0)/\($0).bpf.c" }.filter { FileManager.default.fileExists(atPath: root + "/" + $0) }
        return programs.map { "programs/" + $0 } + tools + ownSources.keys.sorted().map { "own/" + $0 }
    }()

    /// What a compile gave: the object and its warnings, or the error.
    enum Outcome: Equatable, CustomStringConvertible {
        case object([UInt8], [Diagnostic])
        case error(CompileError.Kind, String, String?, [Diagnostic])

        init(_ body: () throws -> CompiledObject) {
            do {
                let c = try body()
                self = .object(c.bytes, c.diagnostics)
            } catch let e as CompileError {
                self = .error(e.kind, e.message, e.hint, e.diagnostics)
            } catch {
                self = .error(.toolchain, "\(error)", nil, [])
            }
        }

        var description: String {
            switch self {
            case .object(let bytes, let diags): return "object of \(bytes.count) bytes, \(diags.count) diagnostics"
            case .error(let kind, let message, _, let diags): return "\(kind) error: \(message) (\(diags.count) diagnostics)"
            }
        }
    }

    @Test(arguments: determinismCorpus)
    func sameSourceSameResultWhateverTheCacheHolds(source: String) throws {
        try withCompiler { compiler, dir in
            var path = TestPrograms.repositoryRoot.path + "/" + source
            if source.hasPrefix("own/") {
                path = dir + "/src/" + source.dropFirst(4)
                try FileManager.default.createDirectory(atPath: dir + "/src", withIntermediateDirectories: true)
                try Self.ownSources[String(source.dropFirst(4))]!.write(toFile: path, atomically: false, encoding: .utf8)
            }
            func compile(cache: Bool = true, pch: Bool = true) -> Outcome {
                var options = CompileOptions()
                options.useCache = cache
                options.usePrecompiledHeader = pch
                return Outcome { try compiler.compile(file: path, options: options) }
            }
            func pchFiles() -> [String] { (FileManager.default.subpaths(atPath: dir) ?? []).filter { $0.hasSuffix(".pch") } }

            let cold = compile()                        // fresh cache: no object, no PCH yet
            BPFCompiler.waitForBackgroundWork()
            let warm = compile()                        // a hit for an object
            let noCache = compile(cache: false)         // with vmlinux.h's PCH, once built
            BPFCompiler.waitForBackgroundWork()
            let havePCH = !pchFiles().isEmpty
            let withPCH = compile(cache: false)         // every PCH the source can use is there
            for p in pchFiles() { unlink(dir + "/" + p) }
            let pchRemoved = compile(cache: false)
            BPFCompiler.waitForBackgroundWork()
            let pchOff = compile(cache: false, pch: false)

            for (name, other) in [("warm", warm), ("no cache", noCache), ("with the PCH", withPCH),
                                  ("PCH removed", pchRemoved), ("PCH off", pchOff)] {
                #expect(other == cold, "\(source) \(name): \(other), cold: \(cold)")
            }
            // The own sources that start with vmlinux.h did meet a PCH.
            if source.hasPrefix("own/") && !source.contains("define_before"),
               Self.ownSources[String(source.dropFirst(4))]!.contains("#include \"vmlinux.h\"") {
                #expect(havePCH, "\(source): no PCH was built")
            }
        }
    }

    /// A program's own vmlinux.h is a header like any other: part of the cache key, and no
    /// PCH of the kernel's stands in for it.
    @Test func ownVmlinuxHeaderIsAFileLikeAnyOther() throws {
        try withCompiler { compiler, dir in
            let src = dir + "/src"
            try FileManager.default.createDirectory(atPath: src, withIntermediateDirectories: true)
            func header(_ ret: Int) throws {
                try "#ifndef __VMLINUX_H__\n#define __VMLINUX_H__\n#define RET \(ret)\n#endif\n".write(toFile: src + "/vmlinux.h", atomically: true, encoding: .utf8)
            }
            try header(1)
            try """
            #include "vmlinux.h"
            #include <linux/bpf.h>
            #include <bpf/bpf_helpers.h>
            SEC("socket") int f(struct __sk_buff *skb) { return RET; }
            char LICENSE[] SEC("license") = "GPL";
            """.write(toFile: src + "/p.bpf.c", atomically: true, encoding: .utf8)
            #expect(try Self.returnValue(compiler.compile(file: src + "/p.bpf.c")) == 1)
            BPFCompiler.waitForBackgroundWork()
            usleep(10_000)
            try header(2)
            let edited = try compiler.compile(file: src + "/p.bpf.c")
            #expect(!edited.isCacheHit)
            #expect(try Self.returnValue(edited) == 2)
            var noCache = CompileOptions()
            noCache.useCache = false
            #expect(try !compiler.compile(file: src + "/p.bpf.c", options: noCache).usedPrecompiledHeader)
        }
    }
}
