import ArgumentParser
import NetBPF
import NetBPFTracing

struct TraceSyscount: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "syscount", abstract: "Count system calls (and their time with -L), by syscall or by process.")
    @Option(name: .customShort("p"), help: "Trace this process only.") var pid: UInt32?
    @Option(name: .customShort("i"), help: "Print a summary every this many seconds.") var interval: Int?
    @Option(name: .customShort("d"), help: "Total tracing duration in seconds.") var duration: Int?
    @Option(name: .customShort("T"), help: "Print only the top N (default 10).") var top = 10
    @Flag(name: .customShort("x"), help: "Failed syscalls only.") var failures = false
    @Option(name: .customShort("e"), help: "Only syscalls failing with this errno (number or name, e.g. ENOENT).") var errno: String?
    @Flag(name: .customShort("L"), help: "Collect syscall latency.") var latency = false
    @Flag(name: .customShort("m"), help: "Latency in milliseconds (default microseconds).") var milliseconds = false
    @Flag(name: .customShort("P"), help: "Count by process, not by syscall.") var process = false
    @Flag(name: .customShort("l"), help: "List the syscalls this tool knows and exit.") var list = false
    @Option(name: [.customShort("c"), .customLong("cgroup")], help: "Trace tasks under this cgroup v2 directory only (e.g. /sys/fs/cgroup/unified/NAME).") var cgroup: String?
    @OptionGroup var output: TraceOutputOptions

    func run() throws {
        try runTool(verbose: output.verbose) {
            if list {
                for line in Syscount.listing { TraceOutput.line(line) }
                return
            }
            var o = Syscount.Options()
            o.cgroup = cgroup
            o.pid = pid; o.failedOnly = failures; o.latency = latency; o.milliseconds = milliseconds; o.byProcess = process; o.top = top
            if let e = errno {
                guard let n = Syscount.errnoValue(e) else { throw BPFError(.invalidArgument, operation: "syscount", subject: e, message: "not an errno number or name") }
                o.errno = n
            }
            let session = try Syscount.start(o)
            defer { closeReportingFailures(session) }
            if !output.json { TraceOutput.line("Tracing syscalls, printing top \(top)... Ctrl+C to quit."); TraceOutput.flush() }
            try runIntervals(interval: interval ?? duration, count: interval == nil && duration != nil ? 1 : nil, duration: duration) {
                let rows = try Syscount.collect(session, o)
                if output.json {
                    struct Report: Encodable { var time: String; var rows: [Syscount.Row] }
                    TraceOutput.jsonLine(Report(time: Clock.wallTime(), rows: rows))
                } else {
                    TraceOutput.line("[\(Clock.wallTime())]")
                    TraceOutput.write(Syscount.format(rows, o))
                }
                TraceOutput.flush()
            }
        }
    }

}
