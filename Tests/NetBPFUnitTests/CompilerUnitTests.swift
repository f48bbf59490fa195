import Foundation
import Testing
@testable import NetBPFCompiler

/// Pure logic of the compiler front: BCC naming, diagnostics rendering, preludes.
struct CompilerUnitTests {
    @Test func bccNamesBecomeSections() {
        let (out, added) = AutoAttach.rewrite("""
        int kprobe__tcp_v4_connect(struct pt_regs *ctx) { return 0; }
        int kretprobe__tcp_v4_connect(struct pt_regs *ctx) { return 0; }
        int tracepoint__syscalls__sys_enter_openat(void *ctx) { return 0; }
        int raw_tracepoint__sched_switch(void *ctx) { return 0; }
        SEC("kprobe/other") int kprobe__explicit(void *ctx) { return 0; }
        static int helper(void) { return 0; }
        """)
        #expect(added.map(\.section) == ["kprobe/tcp_v4_connect", "kretprobe/tcp_v4_connect",
                                         "tracepoint/syscalls/sys_enter_openat", "raw_tracepoint/sched_switch"])
        #expect(out.contains("__attribute__((section(\"kprobe/tcp_v4_connect\"), used)) int kprobe__tcp_v4_connect("))
        #expect(!out.contains("section(\"kprobe/explicit\")"))
        // Line numbers are kept: the attribute goes on the same line.
        #expect(out.split(separator: "\n").count == 6)
    }

    @Test func malformedTracepointNameIsLeftAlone() {
        #expect(AutoAttach.rewrite("int tracepoint__nocategory(void *c) { return 0; }").1.isEmpty)
    }

    @Test func diagnosticPrintsLikeClang() {
        // Column 9 is the 'x' after a tab and "return ": the caret keeps the tab.
        let d = Diagnostic(severity: .error, file: "prog.c", line: 5, column: 9, message: "use of undeclared identifier 'x'",
                           sourceLine: "\treturn x;", flag: nil)
        #expect(d.description == "prog.c:5:9: error: use of undeclared identifier 'x'\n\treturn x;\n\t       ^")
        #expect(d.summary == "prog.c:5:9: error: use of undeclared identifier 'x'")
        let w = Diagnostic(severity: .warning, file: "p.c", line: 1, column: 1, message: "unused", sourceLine: nil, flag: "-Wunused-variable")
        #expect(w.description == "p.c:1:1: warning: unused [-Wunused-variable]")
    }

    /// A PCH may hold only the #include lines a source starts with (Prelude).
    @Test func leadingIncludesStopAtTheFirstOtherLine() {
        let found = Prelude.leadingIncludes(Array("""
        /* A comment first,
           over two lines. */
        // and a line comment
        #include "vmlinux.h"

          # include <bpf/bpf_helpers.h> // trailing
        #include <bpf/bpf_endian.h> /* trailing,
        going on */
        #define X 1
        #include <bpf/bpf_tracing.h>
        """.utf8))
        #expect(found.map(\.name) == ["vmlinux.h", "bpf/bpf_helpers.h", "bpf/bpf_endian.h"])
        #expect(found.map(\.quoted) == [true, false, false])
        #expect(Prelude.leadingIncludes(Array("int x;\n#include <linux/bpf.h>\n".utf8)).isEmpty)
        #expect(Prelude.leadingIncludes(Array("#include_next <linux/bpf.h>\n".utf8)).isEmpty)
        #expect(Prelude.leadingIncludes(Array("#include MACRO\n#include <linux/bpf.h>\n".utf8)).isEmpty)
    }

    @Test func preludeIsTheSourcesOwnFirstInclude() {
        func prelude(_ text: String, kernel: Bool = true) -> Prelude? {
            Prelude.forSource(Array(text.utf8), kernelDirectory: "/k", firstIncludeIsKernels: { _ in kernel })
        }
        // vmlinux.h alone, never the libbpf headers after it.
        #expect(prelude("#include \"vmlinux.h\"\n#include <bpf/bpf_tracing.h>\n")?.text == "#include \"vmlinux.h\"\n")
        #expect(prelude("#include \"vmlinux.h\"\n")?.directory == "/k")
        #expect(prelude("#include \"vmlinux.h\"\n", kernel: false) == nil) // a vmlinux.h of its own
        #expect(prelude("#define BPF_NO_PRESERVE_ACCESS_INDEX\n#include \"vmlinux.h\"\n") == nil)
        // No PCH of UAPI headers (it saved 6-7 ms a compile).
        #expect(prelude("#include <linux/bpf.h>\n#include <bpf/bpf_helpers.h>\n") == nil)
    }

    /// netbpf's own programs come from the checkout the executable was built in or from where
    /// it is installed; the working directory is never among the places.
    @Test func bundledProgramLocations() {
        #expect(BundledPrograms.locations(of: "programs", executable: "/home/u/netbpf/.build/x86_64-unknown-linux-gnu/debug/netbpf")
            == ["/home/u/netbpf/programs", "/usr/share/netbpf/programs"])
        #expect(BundledPrograms.locations(of: "Tools", executable: "/usr/local/bin/netbpf")
            == ["/usr/local/share/netbpf/Tools", "/usr/share/netbpf/Tools"])
        #expect(BundledPrograms.locations(of: "programs", executable: "/usr/bin/netbpf") == ["/usr/share/netbpf/programs"])
        #expect(!BundledPrograms.locations(of: "programs", executable: nil).contains { $0.hasPrefix(FileManager.default.currentDirectoryPath) || !$0.hasPrefix("/") })
    }

    @Test func undeclaredNamesGetTheirHeader() {
        #expect(HeaderHints.hint(forUndeclared: "BPF_CORE_READ").contains("<bpf/bpf_core_read.h>"))
        #expect(HeaderHints.hint(forUndeclared: "PT_REGS_PARM1_CORE").contains("<bpf/bpf_tracing.h>"))
        #expect(HeaderHints.hint(forUndeclared: "bpf_htons").contains("<bpf/bpf_endian.h>"))
        #expect(HeaderHints.hint(forUndeclared: "bpf_trace_printk").contains("<bpf/bpf_helpers.h>"))
    }
}
