import ArgumentParser
import Foundation
import NetBPF
import NetBPFAttach
import NetBPFNetlink
import NetBPFTracing

/// `netbpf attach tc-action IFACE PROGRAM`: runs a sched_act program as an act_bpf action
/// (kernel 4.1, CONFIG_NET_ACT_BPF) on a classic cls_bpf filter that matches every packet, the
/// way `tc filter add dev IFACE ingress matchall action bpf obj PROG` does. Unlike `attach tc` it
/// stays in the foreground: at -d SECONDS or Ctrl-C it prints the action's maps, deletes its
/// filter (guarded by program id) and the clsact qdisc if it created it.
extension AttachCommand {
    struct TCAction: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "tc-action", abstract: "Run a program as a tc action (act_bpf) on a match-all filter until stopped.",
            discussion: "The program is SEC(\"action\") (BPF_PROG_TYPE_SCHED_ACT); its return is the action's verdict (TC_ACT_UNSPEC: --verdict). Kernels built without CONFIG_NET_ACT_BPF refuse the filter, and the error says so.")
        @OptionGroup var target: Target
        @Flag(help: "Attach on egress (default ingress).") var egress = false
        @Option(help: "clsact filter priority.") var priority: UInt16 = 1
        @Option(help: "The verdict when the program returns TC_ACT_UNSPEC: pipe, ok, shot.") var verdict: String = "pipe"
        @Option(name: .customShort("d"), help: "Stop after this many seconds (default: Ctrl-C).") var duration: Double?
        @OptionGroup var compile: CompileArguments
        @OptionGroup var output: OutputOptions

        func run() throws {
            try reportingErrors(verbose: output.verbose) {
                guard let path = target.program else { throw ValidationError("give the action program") }
                let v: TCVerdict
                switch verdict {
                case "pipe": v = .pipe
                case "ok": v = .ok
                case "shot": v = .shot
                default: throw AttachError(.invalidArgument, "unknown verdict '\(verdict)'", hint: "pipe, ok or shot")
                }
                let object = try ProgramInput.open(path, compile: compile).load()
                let action = try ProgramSelection.select(from: object, name: target.programName, section: target.section,
                                                         hook: "tc action", accepts: [.schedAct])
                let matcher = try BPFProgram.tcxPassThrough(name: "netbpf_match")
                let hook: TCHook = egress ? .egress : .ingress
                let iface = target.interface, prio = priority
                let attached = try inNamespaceCLI(target.netns) { () throws -> (TCFilter, Bool) in
                    let nl = try NetlinkSocket()
                    let created = try nl.ensureClsact(on: .name(iface))
                    do {
                        // Classic mode: the matcher returns -1 (the filter's class: a match), then the action runs.
                        let options = BPFFilterOptions(priority: prio, handle: 1, directAction: false,
                                                       actions: [.bpf(action, name: action.name, verdict: v)], name: "netbpf_match")
                        return (try nl.attachBPFFilter(matcher, to: .name(iface), hook: hook, options), created)
                    } catch {
                        if created { _ = try? nl.deleteClsactIfUnused(on: .name(iface)) }
                        throw error
                    }
                }
                let (filter, created) = attached
                let matcherID = filter.bpf?.programID ?? 0
                StandardStreams.err("act_bpf \(action.name) on \(iface) \(hook.rawValue) (clsact prio \(prio), match-all filter id \(matcherID)); Ctrl-C to end\n")
                StopSignal.install()
                _ = StopSignal.sleep(duration ?? 1e12)
                let maps = try object.maps.filter { !$0.name.contains(".") }.map { ($0.name, try TraceRun.numbers(of: $0)) }
                try inNamespaceCLI(target.netns) {
                    let nl = try NetlinkSocket()
                    try nl.deleteBPFFilter(on: .name(iface), hook: hook, priority: prio, handle: 1, expectedProgramID: matcherID)
                    if created { _ = try nl.deleteClsactIfUnused(on: .name(iface)) }
                }
                if output.json {
                    struct Report: Encodable { var action: String; var actionKinds: [String]; var maps: [String: [String: UInt64]] }
                    try printJSON(Report(action: action.name, actionKinds: filter.actions.map(\.kind),
                                         maps: Dictionary(maps, uniquingKeysWith: { a, _ in a })))
                } else {
                    for (name, entries) in maps {
                        print("\(name):")
                        for (k, n) in entries.sorted(by: { $0.key < $1.key }) { print("  \(k): \(n)") }
                    }
                }
                withExtendedLifetime((object, matcher)) {}
            }
        }
    }
}
