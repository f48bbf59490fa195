import ArgumentParser
import NetBPF
import NetBPFTracing

struct TraceRunqlat: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "runqlat", abstract: "Summarize run queue (scheduler) latency as a histogram.")
    @Flag(name: .customShort("T"), help: "Include a timestamp on output.") var timestamp = false
    @Flag(name: .customShort("m"), help: "Millisecond histogram.") var milliseconds = false
    @Flag(name: .customShort("P"), help: "A histogram per process ID.") var pids = false
    @Flag(name: .customShort("L"), help: "A histogram per thread ID.") var tids = false
    @Flag(name: .customLong("pidnss"), help: "A histogram per PID namespace.") var pidnss = false
    @Option(name: .customShort("p"), help: "Trace this process only.") var pid: UInt32?
    @Argument(help: "Seconds between reports.") var interval: Int?
    @Argument(help: "Number of reports.") var count: Int?
    @Option(name: [.customShort("c"), .customLong("cgroup")], help: "Trace tasks under this cgroup v2 directory only (e.g. /sys/fs/cgroup/unified/NAME).") var cgroup: String?
    @OptionGroup var output: TraceOutputOptions

    func run() throws {
        try runTool(verbose: output.verbose) {
            guard [pids, tids, pidnss].filter({ $0 }).count <= 1 else {
                throw BPFError(.invalidArgument, operation: "runqlat", message: "give one of -P, -L and --pidnss")
            }
            var o = Runqlat.Options()
            o.cgroup = cgroup
            o.pid = pid; o.byProcess = pids; o.byThread = tids; o.byPIDNamespace = pidnss; o.milliseconds = milliseconds; o.timestamp = timestamp
            let session = try Runqlat.start(o)
            defer { closeReportingFailures(session) }
            if !output.json { TraceOutput.line("Tracing run queue latency... Hit Ctrl-C to end."); TraceOutput.flush() }
            try runIntervals(interval: interval, count: count) {
                let entries = try Runqlat.collect(session, o)
                if output.json {
                    struct Report: Encodable { var time: String; var histograms: [Runqlat.Entry] }
                    TraceOutput.jsonLine(Report(time: Clock.wallTime(), histograms: entries))
                } else {
                    if !(pids || tids) { TraceOutput.line("") }
                    if timestamp { TraceOutput.line(Clock.wallTime()) }
                    TraceOutput.write(Runqlat.format(entries, o))
                }
                TraceOutput.flush()
            }
        }
    }
}
