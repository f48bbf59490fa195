import ArgumentParser
import NetBPF
import NetBPFTracing

struct TraceExitsnoop: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "exitsnoop", abstract: "Trace process exits with age and exit status.")
    @Option(name: .customShort("p"), help: "Trace this process only.") var pid: UInt32?
    @Flag(name: .customShort("t"), help: "Include a time column.") var timestamp = false
    @Flag(name: .customShort("x"), help: "Failed exits only (non-zero status or a signal).") var failed = false
    @Flag(name: .customShort("T"), help: "Trace every thread's exit, not only processes'.") var threaded = false
    @Option(name: .customShort("d"), help: "Trace for this many seconds, then exit.") var duration: Double?
    @Option(name: [.customShort("c"), .customLong("cgroup")], help: "Trace tasks under this cgroup v2 directory only (e.g. /sys/fs/cgroup/unified/NAME).") var cgroup: String?
    @OptionGroup var output: TraceOutputOptions

    func run() throws {
        try runTool(verbose: output.verbose) {
            var o = Exitsnoop.Options()
            o.cgroup = cgroup
            o.pid = pid; o.timestamp = timestamp; o.failedOnly = failed; o.threads = threaded
            let session = try Exitsnoop.start(o)
            defer { closeReportingFailures(session) }
            if !output.json { TraceOutput.line(Exitsnoop.header(o)); TraceOutput.flush() }
            try session.runRing("events", duration: duration) { r in
                let e = Exitsnoop.decode(r)
                if output.json { TraceOutput.jsonLine(e) } else { TraceOutput.line(Exitsnoop.line(e, o)) }
            }
        }
    }
}
