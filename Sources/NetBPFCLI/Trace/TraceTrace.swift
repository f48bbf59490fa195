import ArgumentParser
import NetBPF
import NetBPFTracing

struct TraceTrace: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trace", abstract: "Print each hit of one tracepoint with its arguments, optionally filtered.",
        discussion: "Example: netbpf trace trace syscalls:sys_enter_kill --filter 'sig == 9 || sig == SIGTERM'")
    @Argument(help: "The tracepoint: CATEGORY:EVENT or t:CATEGORY:EVENT; or a kernel function: p:FUNCTION (kprobe), r:FUNCTION (kretprobe).") var tracepoint: String
    @Option(name: .shortAndLong, help: "FIELD OP VALUE terms joined by && and ||; OP is == != < <= > >= ~ (contains).") var filter: String?
    @Option(name: .customShort("p"), help: "Trace this process only.") var pid: UInt32?
    @Flag(name: .customShort("T"), help: "Include a time column.") var time = false
    @Option(name: .customShort("M"), help: "Exit after this many events.") var maxEvents: Int?
    @Flag(name: .customShort("K"), help: "Print the kernel stack of each event.") var kernelStack = false
    @Flag(name: .customShort("U"), help: "Print the user stack of each event.") var userStack = false
    @Option(name: .customShort("d"), help: "Trace for this many seconds, then exit.") var duration: Double?
    @OptionGroup var output: TraceOutputOptions

    func run() throws {
        try runTool(verbose: output.verbose) {
            var o = Trace.Options()
            o.tracepoint = tracepoint; o.filter = filter; o.pid = pid; o.time = time; o.maxEvents = maxEvents
            o.kernelStacks = kernelStack; o.userStacks = userStack
            let tracing = try Trace.start(o)
            defer { closeReportingFailures(tracing.session) }
            if !output.json { TraceOutput.line(Trace.header(o)); TraceOutput.flush() }
            var printed = 0
            try tracing.session.runRing("events", duration: duration, shouldStop: { maxEvents.map { printed >= $0 } ?? false }) { r in
                if let m = maxEvents, printed >= m { return }
                let e = tracing.decode(r)
                if let f = tracing.filter, !f.matches(e) { return }
                printed += 1
                if output.json { TraceOutput.jsonLine(e) } else { TraceOutput.line(Trace.line(e, o)) }
            }
        }
    }
}
