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

    @Test func unknownPatternHasNoHint() {
        let d = VerifierDiagnosis(log: "something entirely new\n")
        #expect(d.hint == nil)
        #expect(d.summary == "something entirely new")
    }
}

struct ErrnoTests {
    @Test func kernelInternalErrnoHasAName() {
        #expect(Errno.name(524) == "ENOTSUPP")
        #expect(Errno.name(-13) == "EACCES")
        #expect(Errno.describe(13) == "permission denied (EACCES)")
    }

    @Test func errorDescriptionIsOneLine() {
        let e = BPFError(.verifier, operation: "load program", subject: "http_filter", errno: 13,
                         message: "verifier rejected (EACCES): R0 invalid mem access 'map_value_or_null' (212 lines omitted)",
                         hint: "check the pointer", verifierLog: "a\nb\nc")
        #expect(e.description == "load program 'http_filter': verifier rejected (EACCES): R0 invalid mem access 'map_value_or_null' (212 lines omitted); hint: check the pointer")
        #expect(!e.description.contains("\n"))
    }
}
