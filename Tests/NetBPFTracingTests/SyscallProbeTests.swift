import Foundation
import Testing
import NetBPF
import NetBPFTestSupport
import NetBPFTracing

/// execsnoop/opensnoop's choice between the syscall tracepoints and kprobes on the syscall
/// functions. The kprobe path itself runs with exact counts in the kernel matrix (Debian's 6.1
/// under qemu: KernelMatrixTests `execsnoop-kprobe`, `opensnoop-kprobe`); this machine has no
/// kprobes, so here it must fail with the reason.
struct SyscallProbeChoiceTests {
    typealias R = SyscallProbes.Request

    @Test func tracepointsByDefaultKprobesWhenAsked() throws {
        for (request, kprobes, expected) in [(R.automatic, true, SyscallProbes.Mode.tracepoint), (.kprobe, true, .kprobe), (.tracepoint, false, .tracepoint),
                                             (.automatic, false, .tracepoint)] {
            let c = try SyscallProbes.choose(request, tool: "execsnoop", syscall: "execve", tracepoint: true, kprobes: kprobes)
            #expect(c.mode == expected && c.note == nil, "\(request) kprobes \(kprobes): \(c)")
        }
    }

    /// A kernel without CONFIG_FTRACE_SYSCALLS: kprobes, with a note that says why.
    @Test func fallsBackToKprobesWithoutSyscallTracepoints() throws {
        let (mode, note) = try SyscallProbes.choose(.automatic, tool: "opensnoop", syscall: "openat", tracepoint: false, kprobes: true)
        #expect(mode == .kprobe)
        #expect(note?.contains("no syscalls:sys_enter_openat tracepoint") == true && note?.contains("CONFIG_FTRACE_SYSCALLS") == true, "\(note ?? "nil")")
    }

    @Test func missingProbesAreNamed() throws {
        let noKprobes = try #require(throws: BPFError.self) {
            try SyscallProbes.choose(.kprobe, tool: "execsnoop", syscall: "execve", tracepoint: true, kprobes: false)
        }
        #expect(noKprobes.code == .unsupported && noKprobes.description.contains("CONFIG_KPROBES"))
        #expect(noKprobes.description.contains("leave out --kprobe"), "\(noKprobes)")
        let neither = try #require(throws: BPFError.self) {
            try SyscallProbes.choose(.automatic, tool: "execsnoop", syscall: "execve", tracepoint: false, kprobes: false)
        }
        #expect(neither.description.contains("CONFIG_FTRACE_SYSCALLS") && neither.description.contains("CONFIG_KPROBES"), "\(neither)")
        let noTracepoint = try #require(throws: BPFError.self) {
            try SyscallProbes.choose(.tracepoint, tool: "execsnoop", syscall: "execve", tracepoint: false, kprobes: true)
        }
        #expect(noTracepoint.description.contains("use --kprobe"), "\(noTracepoint)")
    }
}

@Suite(.serialized, .enabled(if: TestEnvironment.isRoot, "requires root: the tools load BPF programs"))
struct SyscallProbeCLITests {
    /// `--kprobe` on a kernel without kprobes: one line, exit 1, nothing loaded.
    @Test(.disabled(if: Features.shared.kprobes.available, "this kernel has kprobes: --kprobe attaches (see the kernel matrix)"),
          arguments: ["execsnoop", "opensnoop"])
    func kprobeFlagSaysTheKernelHasNoKprobes(tool: String) throws {
        let (status, _, err) = try CLI.run(["trace", tool, "--kprobe", "-d", "1"])
        #expect(status == 1)
        #expect(err.hasPrefix("netbpf: ") && err.contains("no kprobes (built without CONFIG_KPROBES)") && err.contains("leave out --kprobe"), "\(err)")
        #expect(err.split(separator: "\n").count == 1, "\(err)")
    }
}
