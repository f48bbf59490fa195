import Foundation
import Glibc

/// EPERM for fentry/fexit/fmod_ret/lsm/freplace: the kernel refused a BPF trampoline. That is
/// not the verifier (it never ran) and, for a process holding CAP_BPF and CAP_PERFMON, not a
/// missing privilege either: kernel lockdown or a kernel without ftrace direct calls refuses
/// them. libbpf's own guess ("try raising 'ulimit -l'") is wrong since 5.11 (memcg accounting).
package enum TrampolineRefusal {
    /// Section prefixes of the programs that run on a BPF trampoline.
    static let sections = ["fentry", "fexit", "fmod_ret", "freplace", "lsm"]

    package static func applies(section: String) -> Bool {
        sections.contains { section == $0 || section.hasPrefix($0 + "/") || section.hasPrefix($0 + ".") }
    }

    /// The error for EPERM on loading or attaching the trampoline program `subject`.
    package static func error(operation: String, subject: String, verifierLog: String? = nil,
                              capabilities: Capabilities = .current(), lockdown: String? = Lockdown.current()) -> BPFError {
        guard capabilities.canTrace else {
            return BPFError(.permission, operation: operation, subject: subject, errno: EPERM,
                            message: "permission denied (EPERM): fentry/fexit needs CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN)",
                            hint: "run as root, or grant CAP_BPF and CAP_PERFMON", verifierLog: verifierLog)
        }
        let why = switch lockdown {
        case nil: "kernel lockdown or a kernel without ftrace direct calls"
        case "none"?: "the kernel does not allow ftrace direct calls (lockdown is off)"
        case let mode?: "kernel lockdown (\(mode)) or a kernel without ftrace direct calls"
        }
        return BPFError(.unsupported, operation: operation, subject: subject, errno: EPERM,
                        message: "the kernel refused the fentry/fexit trampoline (EPERM) although this process has CAP_BPF and CAP_PERFMON: \(why)",
                        hint: "use a tracepoint or raw tracepoint instead (`netbpf trace tplist`); `netbpf features` shows the fentry probe",
                        verifierLog: verifierLog)
    }
}

/// The effective capabilities of this process, from /proc/self/status (CapEff).
package struct Capabilities: Sendable, Equatable {
    package var effective: UInt64
    package init(effective: UInt64) { self.effective = effective }

    static let sysAdmin = 21, perfmon = 38, bpf = 39

    package func has(_ bit: Int) -> Bool { effective & (1 << UInt64(bit)) != 0 }
    /// What loading and attaching a tracing program takes (5.8+ split; CAP_SYS_ADMIN before).
    package var canTrace: Bool { has(Self.sysAdmin) || (has(Self.bpf) && has(Self.perfmon)) }

    package static func current() -> Capabilities {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("CapEff:") }
        let hex = line.map { $0.dropFirst("CapEff:".count).trimmingCharacters(in: .whitespaces) } ?? ""
        return Capabilities(effective: UInt64(hex, radix: 16) ?? 0)
    }
}

/// The kernel lockdown mode, from securityfs ("none [integrity] confidentiality"); nil when
/// securityfs is not mounted or the kernel has no lockdown LSM.
package enum Lockdown {
    package static func current() -> String? {
        guard let text = try? String(contentsOfFile: "/sys/kernel/security/lockdown", encoding: .utf8) else { return nil }
        return parse(text)
    }

    package static func parse(_ text: String) -> String? {
        guard let open = text.firstIndex(of: "["), let close = text[open...].firstIndex(of: "]") else { return nil }
        return String(text[text.index(after: open)..<close])
    }
}
