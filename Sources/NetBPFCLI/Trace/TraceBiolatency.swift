import ArgumentParser
import NetBPF
import NetBPFTracing

struct TraceBiolatency: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "biolatency", abstract: "Summarize block device I/O latency as a histogram.")
    @Flag(name: .customShort("T"), help: "Include a timestamp on output.") var timestamp = false
    @Flag(name: .customShort("m"), help: "Millisecond histogram.") var milliseconds = false
    @Flag(name: .customShort("Q"), help: "Include OS queued time (from block_rq_insert).") var queued = false
    @Flag(name: .customShort("D"), help: "A histogram per disk device.") var disks = false
    @Flag(name: .customShort("F"), help: "A histogram per set of I/O flags.") var flags = false
    @Option(name: .customShort("d"), help: "Trace this disk only (e.g. vda).") var disk: String?
    @Option(name: [.customShort("c"), .customLong("cgroup")], help: "Trace tasks under this cgroup v2 directory only (e.g. /sys/fs/cgroup/unified/NAME).") var cgroup: String?
    @Argument(help: "Seconds between reports.") var interval: Int?
    @Argument(help: "Number of reports.") var count: Int?
    @OptionGroup var output: TraceOutputOptions

    func run() throws {
        try runTool(verbose: output.verbose) {
            var o = Biolatency.Options()
            o.cgroup = cgroup
            o.perDisk = disks; o.perFlag = flags; o.milliseconds = milliseconds; o.queued = queued; o.timestamp = timestamp; o.disk = disk
            try runBlockTool(o, title: "Tracing block device I/O... Hit Ctrl-C to end.", interval: interval, count: count, output: output)
        }
    }
}

struct TraceBitesize: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bitesize", abstract: "Summarize block device I/O size as a histogram per process.")
    @Flag(name: .customShort("T"), help: "Include a timestamp on output.") var timestamp = false
    @Option(name: [.customShort("c"), .customLong("comm")], help: "Trace this command name only (the kernel's comm, 15 bytes at most).") var comm: String?
    @Option(name: .customShort("d"), help: "Trace this disk only (e.g. vda).") var disk: String?
    @Argument(help: "Seconds between reports.") var interval: Int?
    @Argument(help: "Number of reports.") var count: Int?
    @OptionGroup var output: TraceOutputOptions

    func run() throws {
        try runTool(verbose: output.verbose) {
            var o = Biolatency.Options()
            o.sizes = true; o.timestamp = timestamp; o.disk = disk; o.comm = comm
            try runBlockTool(o, title: "Tracing block device I/O... Hit Ctrl-C to end.", interval: interval, count: count, output: output)
        }
    }
}

func runBlockTool(_ o: Biolatency.Options, title: String, interval: Int?, count: Int?, output: TraceOutputOptions) throws {
    let session = try Biolatency.start(o)
    defer { closeReportingFailures(session) }
    if !output.json { TraceOutput.line(title); TraceOutput.flush() }
    try runIntervals(interval: interval, count: count) {
        let entries = try Biolatency.collect(session, o)
        if output.json {
            struct Report: Encodable { var time: String; var histograms: [Biolatency.Entry] }
            TraceOutput.jsonLine(Report(time: Clock.wallTime(), histograms: entries))
        } else {
            if !o.perDisk { TraceOutput.line("") }
            if o.timestamp { TraceOutput.line(Clock.wallTime()) }
            TraceOutput.write(Biolatency.format(entries, o))
        }
        TraceOutput.flush()
    }
}
