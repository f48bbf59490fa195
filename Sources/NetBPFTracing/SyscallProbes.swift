import Glibc
import NetBPF

/// How execsnoop and opensnoop hook their syscalls. libbpf-tools uses the syscall tracepoints
/// (syscalls:sys_enter_NAME / sys_exit_NAME, which need CONFIG_FTRACE_SYSCALLS); BCC's originals
/// use kprobes on the syscall functions (`__x64_sys_NAME`). netbpf has both: the tracepoints by
/// default, kprobes when asked (`--kprobe`) or when the kernel has no syscall tracepoints.
public enum SyscallProbes {
    /// What the user asked for.
    public enum Request: String, Sendable {
        /// The tracepoints where the kernel has them, else kprobes.
        case automatic
        /// The syscall tracepoints only.
        case tracepoint
        /// kprobes on the syscall functions only (`--kprobe`).
        case kprobe
    }

    /// What a tool attaches.
    public enum Mode: String, Sendable, Encodable {
        /// SEC("tracepoint/syscalls/sys_enter_NAME") and sys_exit_NAME (Linux 4.7 for BPF on them).
        case tracepoint
        /// SEC("ksyscall/NAME") and SEC("kretsyscall/NAME"): a kprobe and a kretprobe on the
        /// syscall's kernel function; libbpf (1.0+) finds its name (`__x64_sys_NAME` where the
        /// kernel has syscall wrappers, 4.17+) and reads the arguments through them.
        case kprobe
    }

    /// Decides the mode from what the kernel has; pure, so the fallback is tested without a
    /// kernel that lacks tracepoints.
    /// - Parameters:
    ///   - tracepoint: whether syscalls:sys_enter_`syscall` exists in tracefs.
    ///   - kprobes: whether the kernel has kprobes (`Features.kprobes`).
    /// - Returns: the mode and, when it fell back from the default, why (a note for stderr).
    /// - Throws: `BPFError(.unsupported)` when what was asked for (or, automatically, either
    ///   way) is missing, naming the kernel option and the other way.
    public static func choose(_ request: Request, tool: String, syscall: String, tracepoint: Bool, kprobes: Bool) throws -> (mode: Mode, note: String?) {
        switch request {
        case .tracepoint:
            guard tracepoint else { throw noTracepoint(tool, syscall, kprobes: kprobes) }
            return (.tracepoint, nil)
        case .kprobe:
            guard kprobes else {
                throw BPFError(.unsupported, operation: tool, subject: "--kprobe",
                               message: "this kernel has no kprobes (built without CONFIG_KPROBES)",
                               hint: tracepoint ? "leave out --kprobe: the syscall tracepoints work here" : nil)
            }
            return (.kprobe, nil)
        case .automatic:
            if tracepoint { return (.tracepoint, nil) }
            guard kprobes else { throw noTracepoint(tool, syscall, kprobes: false) }
            return (.kprobe, "\(tool): no syscalls:sys_enter_\(syscall) tracepoint (kernel without CONFIG_FTRACE_SYSCALLS): using kprobes on the syscall functions")
        }
    }

    static func noTracepoint(_ tool: String, _ syscall: String, kprobes: Bool) -> BPFError {
        BPFError(.unsupported, operation: tool, subject: "syscalls:sys_enter_\(syscall)",
                 message: "this kernel has no syscall tracepoints (built without CONFIG_FTRACE_SYSCALLS)"
                    + (kprobes ? "" : " and no kprobes (CONFIG_KPROBES)"),
                 hint: kprobes ? "use --kprobe" : nil)
    }

    /// `choose` against the running kernel: tracefs for the tracepoint, `Features` for kprobes.
    public static func resolve(_ request: Request, tool: String, syscall: String) throws -> (mode: Mode, note: String?) {
        try choose(request, tool: tool, syscall: syscall, tracepoint: tracepointExists(syscall),
                   kprobes: Features.shared.kprobes.available)
    }

    /// Whether syscalls:sys_enter_`syscall` is in tracefs (false when tracefs cannot be found).
    static func tracepointExists(_ syscall: String) -> Bool {
        guard let root = try? Tracefs.root() else { return false }
        return access(root + "/events/syscalls/sys_enter_\(syscall)", F_OK) == 0
    }

    /// Turns off loading of the programs of the mode not used, so only one set loads and attaches.
    static func select(_ mode: Mode, in spec: BPFObjectSpec, tracepoint: [String], kprobe: [String]) throws {
        for name in mode == .tracepoint ? kprobe : tracepoint { try spec.setAutoload(false, forProgram: name) }
    }
}
