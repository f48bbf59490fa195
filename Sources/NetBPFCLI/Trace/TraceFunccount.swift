import ArgumentParser
import NetBPF
import NetBPFTracing

struct TraceFunccount: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "funccount", abstract: "Count calls of functions or tracepoints matching a pattern.",
        discussion: "Patterns: t:CATEGORY:EVENT (tracepoints), u:LIBRARY:FUNCTION (uprobes), k:FUNCTION or FUNCTION (kprobes). Globs (*) allowed.")
    @Argument(help: "The probe pattern.") var pattern: String
    @Option(name: .customShort("p"), help: "Trace this process only.") var pid: UInt32?
    @Option(name: .customShort("i"), help: "Print a summary every this many seconds.") var interval: Int?
    @Option(name: .customShort("d"), help: "Total duration in seconds.") var duration: Int?
    @Flag(name: .customShort("T"), help: "Include a timestamp with each summary.") var timestamp = false
    @OptionGroup var output: TraceOutputOptions

    func run() throws {
        try runTool(verbose: output.verbose) {
            var o = Funccount.Options()
            o.pattern = pattern; o.pid = pid
            let counting = try Funccount.start(o)
            defer { closeReportingFailures(counting.session) }
            if !output.json {
                TraceOutput.line("Tracing \(counting.probes.count) functions for \"\(pattern)\"... Hit Ctrl-C to end.")
                TraceOutput.flush()
            }
            try runIntervals(interval: interval ?? duration, count: interval == nil && duration != nil ? 1 : nil, duration: duration) {
                let counts = try counting.counts(clear: true)
                if output.json {
                    struct Report: Encodable { var time: String; var counts: [Funccount.Count] }
                    TraceOutput.jsonLine(Report(time: Clock.wallTime(), counts: counts))
                } else {
                    TraceOutput.line("")
                    if timestamp { TraceOutput.line(Clock.wallTime()) }
                    TraceOutput.write(Funccount.format(counts))
                }
                TraceOutput.flush()
            }
            if !output.json { TraceOutput.line("Detaching...") }
        }
    }
}
