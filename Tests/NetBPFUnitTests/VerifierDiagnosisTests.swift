import Glibc
import Testing
@testable import NetBPF

/// The hints people see first when the verifier says no, matched on logs seen on this kernel
/// (programs/bad_*.bpf.c record the exact text).
struct VerifierDiagnosisTests {
    @Test func uncheckedLookupGetsTheNullHint() {
        let log = """
        0: R1=ctx() R10=fp0
        7: (79) r0 = *(u64 *)(r0 +0)
        R0 invalid mem access 'map_value_or_null'
        processed 8 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0
        """
        let d = VerifierDiagnosis(log: log)
        #expect(d.summary == "R0 invalid mem access 'map_value_or_null'")
        #expect(d.omittedLines == 3)
        #expect(d.hint?.contains("NULL") == true)
    }

    @Test func stackOverflowGetsTheStackHint() {
        let d = VerifierDiagnosis(log: "combined stack size of 2 calls is 608. Too large\nprocessed 20 insns")
        #expect(d.summary.contains("combined stack size"))
        #expect(d.hint?.contains("512 bytes") == true)
    }

    @Test func directKernelReadGetsProbeReadHint() {
        let d = VerifierDiagnosis(log: "1: (79) r1 = *(u64 *)(r1 +0)\nR1 invalid mem access 'scalar'\nprocessed 2 insns")
        #expect(d.hint?.contains("bpf_probe_read_kernel") == true)
    }

    @Test func gplOnlyHelperGetsLicenseHint() {
        let d = VerifierDiagnosis(log: "6: (85) call bpf_probe_read_kernel#113\ncannot call GPL-restricted function from non-GPL compatible program\nprocessed 7 insns")
        #expect(d.hint?.contains("LICENSE") == true)
    }

    @Test func unknownHelperNamesItsKernelVersion() {
        let d = VerifierDiagnosis(log: "5: (85) call unknown#212\nunknown func bpf_ringbuf_output#130\n")
        #expect(d.hint?.contains("5.8") == true)
    }

    @Test func helperNotAllowedForProgramType() {
        let d = VerifierDiagnosis(log: "8: (85) call bpf_skb_store_bytes#9\nprogram of this type cannot use helper bpf_skb_store_bytes#9\nprocessed 9 insns")
        #expect(d.summary.hasPrefix("program of this type cannot use helper"))
        #expect(d.hint != nil)
    }

    @Test func packetBoundsHint() {
        let d = VerifierDiagnosis(log: "invalid access to packet, off=14 size=1, R2(id=0,off=14,r=0)")
        #expect(d.hint?.contains("data_end") == true)
    }

    // Logs below were captured on 6.18 from programs/bad_kprobe_args, bad_kprobe_ctx and
    // bad_socket_packet (and a `void` socket filter); the kernel tests load those programs.

    static let kprobeExtraArgumentLog = """
    0: R1=ctx() R10=fp0
    ; int kprobe__tcp_v4_connect(struct pt_regs *ctx, struct sock *sk) @ bad_kprobe_args.bpf.c:20
    0: (bf) r3 = r2
    R2 !read_ok
    processed 1 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0
    """

    @Test func kprobeExtraArgumentIsNotAnUninitialisedStruct() {
        let d = VerifierDiagnosis(log: Self.kprobeExtraArgumentLog, programType: .kprobe)
        #expect(d.summary == "R2 !read_ok")
        #expect(d.hint?.contains("zero-initialise") == false)
        #expect(d.hint?.contains("PT_REGS_PARM1(ctx)") == true, "\(d.hint ?? "no hint")")
        #expect(d.hint?.contains("BPF_KPROBE") == true)
        // Without the program type the hint still names the mistake.
        #expect(VerifierDiagnosis(log: Self.kprobeExtraArgumentLog).hint?.contains("parameters after ctx are empty") == true)
        // A third parameter is R4: PT_REGS_PARM3.
        #expect(VerifierDiagnosis(log: "0: (63) *(u32 *)(r10 -12) = r4\nR4 !read_ok\nprocessed 1 insns", programType: .kprobe)
            .hint?.contains("PT_REGS_PARM3(ctx)") == true)
    }

    @Test func kprobeReadPastPtRegsNamesTheStack() {
        let log = """
        0: R1=ctx() R10=fp0
        ; return regs[sizeof(struct pt_regs) / sizeof(unsigned long)] != 0; @ bad_kprobe_ctx.bpf.c:21
        0: (79) r1 = *(u64 *)(r1 +168)
        invalid bpf_context access off=168 size=8
        processed 1 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0
        """
        let d = VerifierDiagnosis(log: log, programType: .kprobe)
        #expect(d.summary == "invalid bpf_context access off=168 size=8")
        #expect(d.hint?.contains("struct pt_regs") == true)
        #expect(d.hint?.contains("PT_REGS_SP(ctx)") == true, "\(d.hint ?? "no hint")")
    }

    static let socketPacketLog = """
    0: R1=ctx() R10=fp0
    ; unsigned char *p = (void *)(long)skb->data; @ bad_socket_packet.bpf.c:18
    0: (61) r1 = *(u32 *)(r1 +76)
    invalid bpf_context access off=76 size=4
    processed 1 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0
    """

    @Test func socketFilterPacketReadNamesSkbLoadBytes() {
        let d = VerifierDiagnosis(log: Self.socketPacketLog, programType: .socketFilter)
        #expect(d.hint?.contains("bpf_skb_load_bytes()") == true, "\(d.hint ?? "no hint")")
        #expect(d.hint?.contains("bpf_probe_read_kernel") == false)
        // data_end (off=80), as clang orders the usual bounds check.
        let dataEnd = VerifierDiagnosis(log: "1: (61) r2 = *(u32 *)(r1 +80)\ninvalid bpf_context access off=80 size=4\n", programType: .socketFilter)
        #expect(dataEnd.hint?.contains("bpf_skb_load_bytes()") == true)
        // A scalar dereferenced in a socket filter: the packet helper, not bpf_probe_read_kernel.
        let scalar = VerifierDiagnosis(log: "1: (71) r0 = *(u8 *)(r1 +12)\nR1 invalid mem access 'scalar'\n", programType: .socketFilter)
        #expect(scalar.hint?.contains("bpf_skb_load_bytes()") == true)
        #expect(scalar.hint?.contains("bpf_probe_read_kernel") == false)
    }

    @Test func missingReturnValueIsNotAnUninitialisedStruct() {
        let d = VerifierDiagnosis(log: "; } @ r0.bpf.c:6\n0: (95) exit\nR0 !read_ok\nprocessed 1 insns (limit 1000000)", programType: .socketFilter)
        #expect(d.hint?.contains("return") == true)
        #expect(d.hint?.contains("zero-initialise") == false)
    }

    @Test func uninitialisedStackStillGetsTheZeroInitHint() {
        let d = VerifierDiagnosis(log: "12: (85) call bpf_map_update_elem#2\ninvalid indirect read from stack R3 off -16+4 size 8\n")
        #expect(d.hint?.contains("zero-initialise") == true)
    }

    /// What libbpf printed for SEC("fentry/bpf_fentry_test1") here (6.18, root, CAP_BPF and
    /// CAP_PERFMON): EPERM before the verifier ran, with libbpf's wrong 'ulimit -l' guess.
    static let fentryLoadLog = """
    libbpf: loading kernel BTF '/sys/kernel/btf/vmlinux': 0
    libbpf: prog 'on_fentry': BPF program load failed: Operation not permitted
    libbpf: permission error while running as root; try raising 'ulimit -l'? current value: 8.0 MiB
    libbpf: prog 'on_fentry': failed to load: -1
    libbpf: failed to load object 'fe'
    """

    static let fentrySpec = ProgramSpec(name: "on_fentry", section: "fentry/bpf_fentry_test1", type: .tracing,
                                        expectedAttachType: .fentry, instructionCount: 2, autoload: true)

    @Test func fentryEPERMIsNotAVerifierRejection() {
        let e = LibbpfOutput.loadError(errno: -EPERM, log: Self.fentryLoadLog, object: "fe", programs: [Self.fentrySpec])
        #expect(e.code != .verifier)
        #expect(!e.description.contains("verifier rejected"), "\(e)")
        #expect(e.errno == EPERM)
        #expect(e.hint != nil)
        #expect(!e.description.contains("\n"))
    }

    @Test func fentryEPERMSaysWhichRefusal() {
        let root = Capabilities(effective: 0x1fffeffffff) // this machine's CapEff
        let locked = TrampolineRefusal.error(operation: "load program", subject: "on_fentry", capabilities: root, lockdown: "integrity")
        #expect(locked.code == .unsupported)
        #expect(locked.description.contains("kernel lockdown (integrity)"), "\(locked)")
        #expect(locked.description.contains("ftrace direct calls"))
        #expect(locked.hint?.contains("`netbpf trace tplist`") == true)
        let unlocked = TrampolineRefusal.error(operation: "attach fentry/fexit", subject: "x", capabilities: root, lockdown: "none")
        #expect(unlocked.description.contains("does not allow ftrace direct calls"))
        let unknown = TrampolineRefusal.error(operation: "load program", subject: "x", capabilities: root, lockdown: nil)
        #expect(unknown.description.contains("kernel lockdown or a kernel without ftrace direct calls"))
        let user = TrampolineRefusal.error(operation: "load program", subject: "x", capabilities: Capabilities(effective: 0), lockdown: nil)
        #expect(user.code == .permission)
        #expect(user.description.contains("CAP_BPF and CAP_PERFMON"))
        #expect(Lockdown.parse("none [integrity] confidentiality\n") == "integrity")
        #expect(TrampolineRefusal.applies(section: "fexit/do_sys_openat2") && TrampolineRefusal.applies(section: "fentry.s/x"))
        #expect(!TrampolineRefusal.applies(section: "tp_btf/sched_switch") && !TrampolineRefusal.applies(section: "fentryx"))
    }

    @Test func otherEPERMBeforeVerificationIsAPermissionError() {
        let log = "libbpf: prog 'count_tc': BPF program load failed: Operation not permitted\nlibbpf: prog 'count_tc': failed to load: -1\n"
        let tc = ProgramSpec(name: "count_tc", section: "tc", type: .schedCls, expectedAttachType: AttachType(rawValue: 0), instructionCount: 9, autoload: true)
        let e = LibbpfOutput.loadError(errno: -EPERM, log: log, object: "count_packets", programs: [tc])
        #expect(e.code == .permission)
        #expect(!e.description.contains("verifier rejected"))
        #expect(e.hint?.contains("CAP_BPF") == true)
    }

    @Test func missingTracepointHintsNameTheRealCommand() {
        let tp = AttachErrors.error(operation: "attach tracepoint", subject: "syscalls:nope", section: "tracepoint/syscalls/nope", errno: -ENOENT, log: "")
        #expect(tp.hint?.contains("`netbpf trace tplist`") == true, "\(tp)")
        let fe = AttachErrors.error(operation: "attach fentry/fexit", subject: "fentry/x", section: "fentry/x", errno: -EPERM, log: "")
        #expect(fe.code != .verifier && fe.errno == EPERM && fe.hint != nil)
    }

    @Test func unknownPatternHasNoHint() {
        let d = VerifierDiagnosis(log: "something entirely new\n")
        #expect(d.hint == nil)
        #expect(d.summary == "something entirely new")
    }
}

struct ErrnoTests {
    @Test func kernelInternalErrnoHasAName() {
        #expect(ErrnoName.name(524) == "ENOTSUPP")
        #expect(ErrnoName.name(-13) == "EACCES")
        #expect(ErrnoName.describe(13) == "permission denied (EACCES)")
    }

    @Test func errorDescriptionIsOneLine() {
        let e = BPFError(.verifier, operation: "load program", subject: "http_filter", errno: 13,
                         message: "verifier rejected (EACCES): R0 invalid mem access 'map_value_or_null' (212 lines omitted)",
                         hint: "check the pointer", verifierLog: "a\nb\nc")
        #expect(e.description == "load program 'http_filter': verifier rejected (EACCES): R0 invalid mem access 'map_value_or_null' (212 lines omitted); hint: check the pointer")
        #expect(!e.description.contains("\n"))
    }
}
