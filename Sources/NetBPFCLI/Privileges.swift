import ArgumentParser
import Foundation
import NetBPF

/// The capabilities a command needs, checked once after parsing and before it runs, so an
/// unprivileged user gets one line naming what is missing instead of an EPERM from somewhere
/// deep (or, worse, an empty listing: BPF_PROG_QUERY and the 0700 record directory answer
/// "nothing" to a user who may not look).
///
/// Default: CAP_BPF, CAP_NET_ADMIN and CAP_SYS_ADMIN (programs, tc/XDP, namespaces and pins).
/// Tracing tools need CAP_BPF and CAP_PERFMON (plus reading tracefs); a few commands none.
/// On kernels before 5.8, which have no CAP_BPF or CAP_PERFMON, CAP_SYS_ADMIN stands for both.
enum Privileges {
    enum Capability: Int, CustomStringConvertible {
        case netAdmin = 12, sysAdmin = 21, perfmon = 38, bpf = 39
        var description: String {
            switch self {
            case .netAdmin: "CAP_NET_ADMIN"
            case .sysAdmin: "CAP_SYS_ADMIN"
            case .perfmon: "CAP_PERFMON"
            case .bpf: "CAP_BPF"
            }
        }
    }

    static func required(for command: ParsableCommand) -> [Capability] {
        switch command {
        case is RunsUnprivileged: []
        case is TracingCommand: [.bpf, .perfmon, .sysAdmin]
        default: [.bpf, .netAdmin, .sysAdmin]
        }
    }

    /// The ones of `needed` this process lacks (effective set, /proc/self/status CapEff).
    static func missing(_ needed: [Capability]) -> [Capability] {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("CapEff:") }),
              let effective = UInt64(line.dropFirst("CapEff:".count).trimmingCharacters(in: .whitespaces), radix: 16) else { return [] }
        let lastCap = (try? String(contentsOfFile: "/proc/sys/kernel/cap_last_cap", encoding: .utf8))
            .flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) } ?? 40
        func has(_ c: Capability) -> Bool {
            if c.rawValue > lastCap { return effective & (1 << Capability.sysAdmin.rawValue) != 0 }
            return effective & (1 << UInt64(c.rawValue)) != 0
        }
        return needed.filter { !has($0) }
    }

    /// "netbpf attach tc": the subcommands `arguments` name, in order.
    static func commandPath(_ arguments: [String]) -> String {
        var path = ["netbpf"]
        var level = NetBPFCommand.configuration.subcommands
        for argument in arguments {
            guard let sub = level.first(where: { $0._commandName == argument }) else { break }
            path.append(argument)
            level = sub.configuration.subcommands
        }
        return path.joined(separator: " ")
    }

    /// Prints one line and exits 1 when `command` needs what this process lacks.
    static func check(_ command: ParsableCommand, name: String) throws {
        let lacking = missing(required(for: command))
        guard !lacking.isEmpty else { return }
        let list = lacking.map(\.description).joined(separator: ", ")
        StandardStreams.err("netbpf: \(name) needs \(list), which this process does not have; hint: run it as root (sudo netbpf ...)\n")
        throw ExitCode(1)
    }
}

/// Commands that need no privileges: they read files or describe the kernel.
protocol RunsUnprivileged {}
/// Tracing tools: CAP_BPF and CAP_PERFMON, and CAP_SYS_ADMIN for tracefs.
protocol TracingCommand {}

extension CompileCommand: RunsUnprivileged {}
extension FeaturesCommand: RunsUnprivileged {}
extension ObjectCommand.Inspect: RunsUnprivileged {}
extension TunnelMonitorCommand.Report: RunsUnprivileged {}

extension TraceExecsnoop: TracingCommand {}
extension TraceOpensnoop: TracingCommand {}
extension TraceExitsnoop: TracingCommand {}
extension TraceKillsnoop: TracingCommand {}
extension TraceSyscount: TracingCommand {}
extension TraceRunqlat: TracingCommand {}
extension TraceTcpstates: TracingCommand {}
extension TraceTcplife: TracingCommand {}
extension TraceBiolatency: TracingCommand {}
extension TraceBitesize: TracingCommand {}
extension TraceFunccount: TracingCommand {}
extension TraceTplist: TracingCommand {}
extension TraceBps: TracingCommand {}
extension TraceTrace: TracingCommand {}
extension SyscallsDemoCommand: TracingCommand {}
