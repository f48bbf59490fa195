import Testing
@testable import NetBPFCompiler

/// BCC mode's source rewrite (BCCRewriter) on tricky inputs: no kernel, no clang.
@Suite struct BCCRewriterTests {
    /// Found by the bcc fuzz target: a BPF_TABLE( left open runs into a function definition, so
    /// the declaration's start (walked back to the table macro) lies before text already
    /// rewritten (the "hash" string). That trapped on an inverted range; now the section goes
    /// in at the cursor and nothing is written twice.
    @Test func unclosedTableBeforeAFunctionDoesNotTrap() {
        let src = "BPF_TABLE(\"hash\", u32, u64, counts\nint f(struct __sk_buff *skb) { return 0; }\n"
        let r = BCCRewriter.rewrite(src, sections: ["f": "tc"])
        #expect(r.source.components(separatedBy: "hash").count == 2, "the table type appears once: \(r.source)")
        #expect(r.source.contains("return 0;"))
    }

    func lines(_ s: String) -> Int { s.filter { $0 == "\n" }.count }

    @Test func lookupUpdateDeleteBecomeHelperCalls() {
        let src = "BPF_HASH(counts, u32, u64);\nint f(void *ctx) { u32 k = 1; u64 *v = counts.lookup(&k); counts.update(&k, v); counts.delete(&k); return 0; }\n"
        let r = BCCRewriter.rewrite(src)
        #expect(r.maps == ["counts"])
        #expect(r.source.contains("((__typeof__(counts.value))bpf_map_lookup_elem(&counts, (&k)))"))
        #expect(r.source.contains("bpf_map_update_elem(&counts, (&k), (v), BPF_ANY)"))
        #expect(r.source.contains("bpf_map_delete_elem(&counts, (&k))"))
    }

    @Test func nestedCallsAndParenthesesInArguments() {
        let src = "BPF_HASH(a);\nBPF_ARRAY(b, u64, 4);\nstatic int g(void) { a.update(b.lookup(&(int){0}), (f(1, 2), &x)); return 0; }\n"
        let r = BCCRewriter.rewrite(src)
        #expect(r.source.contains("bpf_map_update_elem(&a, (((__typeof__(b.value))bpf_map_lookup_elem(&b, (&(int){0})))), ((f(1, 2), &x)), BPF_ANY)"))
    }

    @Test func commentsAndStringsAreLeftAlone() {
        let src = """
        BPF_HASH(m);
        // m.lookup(&k) in a comment
        /* m.update(&k, &v)
           across lines */
        static int g(void) { char s[] = "m.delete(&k)"; char c = '"'; return m.lookup(&s) != 0; }

        """
        let r = BCCRewriter.rewrite(src)
        #expect(r.source.contains("// m.lookup(&k) in a comment"))
        #expect(r.source.contains("/* m.update(&k, &v)\n   across lines */"))
        #expect(r.source.contains("\"m.delete(&k)\""))
        #expect(r.source.contains("'\"'"))
        #expect(r.source.contains("bpf_map_lookup_elem(&m, (&s))"))
        #expect(lines(r.source) == lines(src))
    }

    @Test func onlyDeclaredMapsAreRewritten() {
        let src = "struct { int (*lookup)(int *); } ops;\nBPF_PERF_OUTPUT(events);\nstatic int g(struct pt_regs *ctx) { int k; ops.lookup(&k); events.perf_submit(ctx, &k, sizeof(k)); x.events.lookup(1); return 0; }\n"
        let r = BCCRewriter.rewrite(src)
        #expect(r.source.contains("ops.lookup(&k)"))
        #expect(r.source.contains("bpf_perf_event_output((ctx), &events, BPF_F_CURRENT_CPU, (&k), (sizeof(k)))"))
        #expect(r.source.contains("x.events.lookup(1)")) // a member named like a map is not the map
    }

    @Test func everyMethodOfTheTable() {
        let calls: [(String, [String], String)] = [
            ("increment", ["k"], "__NBB_INCREMENT(m, (k), 1)"),
            ("increment", ["k", "5"], "__NBB_INCREMENT(m, (k), (5))"),
            ("lookup_or_try_init", ["&k", "&z"], "__NBB_LOOKUP_OR_INIT(m, (&k), (&z))"),
            ("insert", ["&k", "&v"], "bpf_map_update_elem(&m, (&k), (&v), BPF_NOEXIST)"),
            ("ringbuf_output", ["&e", "sizeof(e)", "0"], "bpf_ringbuf_output(&m, (&e), (sizeof(e)), (0))"),
            ("get_stackid", ["ctx", "0"], "bpf_get_stackid((ctx), &m, (0))"),
            ("call", ["ctx", "2"], "bpf_tail_call((ctx), &m, (2))"),
            ("redirect_map", ["i", "0"], "bpf_redirect_map(&m, (i), (0))"),
            ("perf_submit_skb", ["skb", "skb->len", "&e", "sizeof(e)"], "bpf_perf_event_output((skb), &m, ((__u64)(skb->len) << 32) | BPF_F_CURRENT_CPU, (&e), (sizeof(e)))"),
        ]
        for (method, args, expected) in calls {
            #expect(BCCRewriter.methodCall(map: "m", method: method, arguments: args) == expected, "\(method)")
        }
        #expect(BCCRewriter.methodCall(map: "m", method: "frobnicate", arguments: []) == nil)
    }

    @Test func unknownMethodIsReportedNotRewritten() {
        let r = BCCRewriter.rewrite("BPF_HASH(m);\nstatic int g(void) { return m.frob(1); }\n")
        #expect(r.source.contains("m.frob(1)"))
        #expect(r.unsupported.contains { $0.contains("m.frob()") })
    }

    @Test func tableTypeStringsAndDefines() {
        let r = BCCRewriter.rewrite("BPF_TABLE(\"percpu_array\", u32, long, drops, 256);\nBPF_TABLE(T, u32, long, other, 8);\nBPF_TABLE(\"hash_of_maps\", u32, int, hom, 8);\n",
                                    defines: ["T=\"lru_hash\""])
        #expect(r.source.contains("BPF_TABLE(percpu_array, u32, long, drops, 256);"))
        #expect(r.source.contains("BPF_TABLE(lru_hash, u32, long, other, 8);"))
        #expect(r.maps == ["drops", "other", "hom"])
        #expect(r.unsupported.contains { $0.contains("hash_of_maps") })
    }

    @Test func traceprintkWithALiteralOnly() {
        let r = BCCRewriter.rewrite("static int g(void) { char fmt[] = \"x\"; bpf_trace_printk(\"hi %d\\n\", 1); bpf_trace_printk(fmt, sizeof(fmt)); return 0; }\n")
        #expect(r.source.contains("bpf_printk(\"hi %d\\n\", 1)"))
        #expect(r.source.contains("bpf_trace_printk(fmt, sizeof(fmt))"))
    }

    @Test func kernelIncludesBecomeCommentsOnTheSameLines() {
        let src = "#include <uapi/linux/ptrace.h>\n#include <net/sock.h>\n#include <bcc/proto.h>\n#include <bpf/bpf_helpers.h>\n#include \"mine.h\"\n#include <stddef.h>\n"
        let r = BCCRewriter.rewrite(src)
        #expect(!r.source.contains("#include <uapi/linux/ptrace.h>"))
        #expect(!r.source.contains("#include <bcc/proto.h>"))
        #expect(r.source.contains("#include <bpf/bpf_helpers.h>"))
        #expect(r.source.contains("#include \"mine.h\""))
        #expect(r.source.contains("#include <stddef.h>"))
        #expect(lines(r.source) == lines(src))
    }

    @Test func kprobeArgumentsBecomeRegisterReads() {
        let src = "int kprobe__tcp_v4_connect(struct pt_regs *ctx,\n                           struct sock *sk)\n{\n\treturn sk != 0;\n}\n"
        let r = BCCRewriter.rewrite(src)
        #expect(r.sections == [AutoAttachedFunction(function: "kprobe__tcp_v4_connect", section: "kprobe/tcp_v4_connect")])
        #expect(r.source.hasPrefix("BCC_SEC(\"kprobe/tcp_v4_connect\") int kprobe__tcp_v4_connect(struct pt_regs *ctx\n"))
        #expect(r.source.contains("{ struct sock *sk = (struct sock *)PT_REGS_PARM1(ctx);"))
        #expect(lines(r.source) == lines(src))
    }

    @Test func syscallFunctionsReadTheSyscallsOwnRegisters() {
        let r = BCCRewriter.rewrite("int syscall__execve(struct pt_regs *ctx, const char __user *filename, int flags) { return 0; }\n")
        #expect(r.sections.first?.section == "kprobe/__x64_sys_execve")
        #expect(r.source.contains("struct pt_regs *__nbb_sregs = (struct pt_regs *)PT_REGS_PARM1(ctx);"))
        #expect(r.source.contains("const char __user *filename = (const char __user *)PT_REGS_PARM1_CORE_SYSCALL(__nbb_sregs);"))
        #expect(r.source.contains("int flags = (int)PT_REGS_PARM2_CORE_SYSCALL(__nbb_sregs);"))
    }

    @Test func sectionsFromContextTypeNamesAndOverrides() {
        let src = """
        int on_xdp(struct xdp_md *ctx) { return 2; }
        int on_skb(struct __sk_buff *skb) { return 0; }
        int on_tc(struct __sk_buff *skb) { return 0; }
        static int helper(struct __sk_buff *skb) { return 0; }
        int other(int x) { return x; }
        int tracepoint__sched__sched_switch(struct tracepoint__sched__sched_switch *args) { return 0; }
        int on_perf(struct bpf_perf_event_data *ctx) { return 0; }
        __attribute__((section("xdp"))) int mine(struct xdp_md *ctx) { return 2; }

        """
        let r = BCCRewriter.rewrite(src, sections: ["on_tc": "tc"])
        let got = Dictionary(uniqueKeysWithValues: r.sections.map { ($0.function, $0.section) })
        #expect(got == ["on_xdp": "xdp", "on_skb": "socket", "on_tc": "tc", "tracepoint__sched__sched_switch": "tracepoint/sched/sched_switch", "on_perf": "perf_event"])
        #expect(r.source.contains("static __always_inline int other(int x)"))
        #expect(r.source.contains("static int helper("))
        #expect(r.tracepoints == [BCCRewriter.TracepointName(category: "sched", event: "sched_switch")])
    }

    /// BCC's xdp examples name the context type in their cflags (`-DCTXTYPE=xdp_md`).
    @Test func contextTypeFromADefine() {
        let r = BCCRewriter.rewrite("int xdp_prog1(struct CTXTYPE *ctx) { return 1; }\n", defines: ["CTXTYPE=xdp_md"])
        #expect(r.sections.map(\.section) == ["xdp"])
    }

    @Test func tracepointProbeIsFoundAndNotTakenForAFunction() {
        let r = BCCRewriter.rewrite("TRACEPOINT_PROBE(syscalls, sys_enter_openat) {\n  return args->dfd;\n}\n")
        #expect(r.tracepoints == [BCCRewriter.TracepointName(category: "syscalls", event: "sys_enter_openat")])
        #expect(r.sections.isEmpty)
        #expect(r.source.hasPrefix("TRACEPOINT_PROBE(syscalls, sys_enter_openat) {"))
    }

    @Test func kernelStructCopiesAreRenamed() {
        let r = BCCRewriter.rewrite("struct nameidata { struct path path; };\nstruct mine { int x; };\n", kernelHas: { $0 == "nameidata" })
        #expect(r.source.contains("struct nameidata___bcc_copy {"))
        #expect(r.source.contains("struct mine {"))
    }

    @Test func tracepointFormatBecomesAStructAtTheKernelsOffsets() throws {
        let format = """
        name: sys_enter_openat
        ID: 1
        format:
        \tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
        \tfield:int __syscall_nr;\toffset:8;\tsize:4;\tsigned:1;
        \tfield:int dfd;\toffset:16;\tsize:8;\tsigned:0;
        \tfield:const char __user * filename;\toffset:24;\tsize:8;\tsigned:0;
        \tfield:__data_loc char[] name;\toffset:32;\tsize:4;\tsigned:0;
        \tfield:char comm[16];\toffset:36;\tsize:16;\tsigned:0;

        print fmt: "x"
        """
        let s = try #require(BCCTracepoints.structFromFormat(name: "tracepoint__syscalls__sys_enter_openat", format: format))
        #expect(s.contains("struct { char __nbb_at2[16]; int dfd __attribute__((aligned(8))); } __attribute__((packed));"))
        #expect(s.contains("const char  * filename __attribute__((aligned(8)))"))
        #expect(s.contains("u32 data_loc_name"))
        #expect(s.contains("char comm[16];"))
    }

    @Test func detection() {
        #expect(BCCMode.looksLikeBCC("BPF_HASH(start, u32);\nint kprobe__f(struct pt_regs *ctx) { return 0; }"))
        #expect(BCCMode.looksLikeBCC("#include <uapi/linux/ptrace.h>\nint f(void *ctx) { bpf_trace_printk(\"hi\\n\"); return 0; }"))
        #expect(!BCCMode.looksLikeBCC("#include <netbpf.h>\nBPF_HASH(start, u32, u64, 16);"))
        #expect(!BCCMode.looksLikeBCC("#include \"vmlinux.h\"\n#include <bpf/bpf_helpers.h>\nSEC(\"kprobe/f\") int kprobe__f(void *ctx) { return 0; }"))
    }
}
