import ArgumentParser
import Foundation
import Glibc
import NetBPF
import NetBPFKit
import NetBPFAttach
import NetBPFNetlink
import Synchronization

/// `netbpf attach tc|xdp|socket`: compile (for .c), load, attach, pin, and return; tc and XDP
/// attachments stay in place after the command exits, like `tc filter add`.
struct AttachCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "attach", abstract: "Attach a BPF program to an interface.",
                                                    subcommands: [TC.self, XDP.self, Socket.self, TCAction.self])

    struct Target: ParsableArguments {
        @Argument(help: "The interface.") var interface: String
        @Argument(help: "The program: BPF C (.c, compiled in-process) or an object (.o).") var program: String?
        @Option(help: "Choose the program by ELF section.") var section: String?
        @Option(name: .customLong("program-name"), help: "Choose the program by function name.") var programName: String?
        @Option(help: "The network namespace (/run/netns/NAME) the interface is in.") var netns: String?
    }

    struct TC: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "tc", abstract: "Attach a classifier to an interface's tc ingress or egress hook.",
            discussion: "tcx (Linux 6.6) is used where the kernel has it, clsact + cls_bpf direct-action otherwise (or with --clsact, --priority, --classid). The program and its maps are pinned under /sys/fs/bpf/netbpf/NETNS/IFACE/HOOK/PROGRAM/.")
        @OptionGroup var target: Target
        @Flag(help: "Attach on ingress (default).") var ingress = false
        @Flag(help: "Attach on egress.") var egress = false
        @Flag(help: "Use a tcx link.") var tcx = false
        @Flag(help: "Use a clsact qdisc and a cls_bpf filter.") var clsact = false
        @Option(help: "clsact: filter priority (default 1).") var priority: UInt16?
        @Option(help: "clsact: filter handle (default 1).") var handle: UInt32?
        @Option(help: "clsact, classic mode: class id such as 1:10.") var classid: String?
        @Option(help: "tcx: run before the program with this id (0: first).") var before: UInt32?
        @Option(help: "tcx: run after the program with this id.") var after: UInt32?
        @OptionGroup var compile: CompileArguments
        @OptionGroup var module: SharedModuleOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            try reportingErrors(verbose: output.verbose) {
                guard let path = target.program else { throw ValidationError("give the program to attach") }
                guard !(ingress && egress) else { throw ValidationError("choose one of --ingress and --egress") }
                guard !(tcx && clsact) else { throw ValidationError("choose one of --tcx and --clsact") }
                var options = TCAttachOptions()
                options.direction = egress ? .egress : .ingress
                options.mechanism = tcx ? .tcx : clsact ? .clsact : .auto
                options.priority = priority
                options.handle = handle
                if let classid { options.classID = try parseClassID(classid) }
                if let before { options.position = before == 0 ? .first : .before(programID: before) }
                if let after { options.position = .after(programID: after) }
                // Compiled, loaded and chosen before the hook is touched: bad input changes nothing.
                let object = try module.load(ProgramInput.open(path, compile: compile, hook: "tc"))
                let program = try ProgramSelection.select(from: object, name: target.programName ?? compile.functionName, section: target.section,
                                                          hook: "tc", accepts: [.schedCls])
                let record = try Attacher().attachTC(program, of: object, to: target.interface, namespace: target.netns, options: options)
                try report(record, json: output.json)
            }
        }

        func parseClassID(_ text: String) throws -> UInt32 {
            let parts = text.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 2, let major = UInt32(parts[0], radix: 16), let minor = UInt32(parts[1].isEmpty ? "0" : String(parts[1]), radix: 16),
                  major <= 0xffff, minor <= 0xffff else {
                throw AttachError(.invalidArgument, "'\(text)' is not a class id", hint: "MAJOR:MINOR in hex, e.g. 1:10")
            }
            return major << 16 | minor
        }
    }

    struct XDP: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "xdp", abstract: "Attach an XDP program to an interface.")
        @OptionGroup var target: Target
        @Option(help: "generic (skb) or driver (native).") var mode: String = "generic"
        @Flag(help: "Attach over netlink (IFLA_XDP) instead of with a BPF link.") var netlink = false
        @OptionGroup var compile: CompileArguments
        @OptionGroup var module: SharedModuleOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            try reportingErrors(verbose: output.verbose) {
                guard let path = target.program else { throw ValidationError("give the program to attach") }
                let xdpMode: XDPMode
                switch mode {
                case "generic", "skb": xdpMode = .generic
                case "driver", "native", "drv": xdpMode = .native
                default: throw AttachError(.invalidArgument, "unknown XDP mode '\(mode)'", hint: "generic or driver")
                }
                let object = try module.load(ProgramInput.open(path, compile: compile, hook: "xdp"))
                let program = try ProgramSelection.select(from: object, name: target.programName ?? compile.functionName, section: target.section, hook: "xdp", accepts: [.xdp])
                let record = try Attacher().attachXDP(program, of: object, to: target.interface, namespace: target.netns, mode: xdpMode, netlink: netlink)
                try report(record, json: output.json)
            }
        }
    }

    struct Socket: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "socket", abstract: "Run a socket filter on an interface and print what passes.",
            discussion: "The AF_PACKET socket is opened with protocol 0, the filter attached, then bound, so no unfiltered frame is seen. Give a socket_filter program, or --pcap 'EXPR' for a classic filter compiled by libpcap (as tcpdump).")
        @OptionGroup var target: Target
        @Option(help: "A pcap filter expression instead of a program (e.g. 'tcp port 80').") var pcap: String?
        @Flag(help: "Print frames as hex, not summaries.") var hex = false
        @Option(help: "Stop after this many frames.") var count: Int?
        @Option(help: "Stop after this many seconds.") var seconds: Double?
        @OptionGroup var compile: CompileArguments
        @OptionGroup var module: SharedModuleOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            try reportingErrors(verbose: output.verbose) {
                guard (target.program == nil) != (pcap == nil) else { throw ValidationError("give a socket filter program or --pcap EXPR (one of them)") }
                var object: BPFObject?
                var program: BPFProgram?
                if let path = target.program {
                    object = try module.load(ProgramInput.open(path, compile: compile, hook: "socket"))
                    program = try ProgramSelection.select(from: object!, name: target.programName ?? compile.functionName, section: target.section, hook: "socket", accepts: [.socketFilter])
                }
                let classic = try pcap.map { try ClassicFilter.compile(pcap: $0) }
                let stop = StopFlag.installed()
                let chosen = program
                try inNamespaceCLI(target.netns) {
                    let ifindex = try NetlinkSocket().interfaceIndex(.name(target.interface))
                    let socket = try chosen.map { try PacketSocket(program: $0, ifindex: ifindex) } ?? PacketSocket(classic: classic!, ifindex: ifindex)
                    if !output.json { StandardStreams.err("listening on \(target.interface)\(target.netns.map { " (netns \($0))" } ?? ""); Ctrl-C to stop\n") }
                    let deadline = seconds.map { Date().addingTimeInterval($0) }
                    var seen = 0
                    let encoder = JSONEncoder()
                    encoder.outputFormatting = [.sortedKeys]
                    while !stop.isSet, count.map({ seen < $0 }) ?? true, deadline.map({ Date() < $0 }) ?? true {
                        guard let frame = try socket.receive(timeoutMilliseconds: 100) else { continue }
                        seen += 1
                        let direction = frame.isOutgoing ? "out" : "in "
                        if output.json {
                            struct Out: Encodable { let direction: String; let length: Int; let summary: String; let hex: String? }
                            let line = try encoder.encode(Out(direction: direction.trimmingCharacters(in: .whitespaces), length: frame.length,
                                                                    summary: PacketSummary.describe(frame.data), hex: hex ? hexString(frame.data) : nil))
                            StandardStreams.out(bytes: Array(line) + [0x0a])
                        } else if hex {
                            print("\(direction) \(frame.length) bytes: \(hexString(frame.data))")
                        } else {
                            print("\(direction) \(PacketSummary.describe(frame.data))")
                        }
                        fflush(StandardStreams.cOut)
                    }
                }
                withExtendedLifetime(object) {}
            }
        }
    }
}

/// Prints what an attach did.
func report(_ record: AttachmentRecord, json: Bool) throws {
    if json { try printJSON(record); return }
    print("attached \(record.programName) (id \(record.programID), tag \(record.programTag)) to \(record.place)")
    print("pinned under \(record.pinDirectory) (maps in maps/); detach with: netbpf detach \(record.kind == .xdpLink || record.kind == .xdpNetlink ? "xdp" : "tc") \(record.interface) --name \(record.programName)\(record.namespace.map { " --netns \($0)" } ?? "")")
}

/// Runs `body` inside a namespace for CLI code (errors as AttachError).
func inNamespaceCLI<T>(_ name: String?, _ body: @Sendable () throws -> sending T) throws -> sending T {
    guard let name else { return try body() }
    guard NetworkNamespace.exists(name) else { throw AttachError(.notFound, "network namespace '\(name)' does not exist", hint: "ip netns list") }
    return try withNamespace(name, body)
}

/// Set by SIGINT, SIGTERM or SIGHUP (a closed terminal), so streaming commands stop cleanly and
/// release what they hold (detach their programs) instead of dying with them attached. A SIGHUP
/// that was ignored when we started (`nohup`) stays ignored: whoever ran us asked to survive it.
/// The handlers store into a lock-free atomic, which is async-signal-safe.
final class StopFlag: Sendable {
    private static let received = Atomic<Bool>(false)
    var isSet: Bool { Self.received.load(ordering: .relaxed) }
    static func installed() -> StopFlag {
        _ = received.load(ordering: .relaxed) // initialised before a handler can run
        signal(SIGINT) { _ in StopFlag.received.store(true, ordering: .relaxed) }
        signal(SIGTERM) { _ in StopFlag.received.store(true, ordering: .relaxed) }
        var previous = sigaction()
        sigaction(SIGHUP, nil, &previous)
        if unsafeBitCast(previous.__sigaction_handler.sa_handler, to: Int.self) != unsafeBitCast(SIG_IGN, to: Int.self) {
            signal(SIGHUP) { _ in StopFlag.received.store(true, ordering: .relaxed) }
        }
        // A parent may have started us with these blocked (Foundation's Process on Linux
        // passes its thread's mask on): unblock them, or SIGTERM would never arrive.
        var set = sigset_t()
        sigemptyset(&set)
        for s in [SIGINT, SIGTERM, SIGHUP] { sigaddset(&set, s) }
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
        return StopFlag()
    }
}
