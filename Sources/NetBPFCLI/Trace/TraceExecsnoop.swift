import ArgumentParser
import NetBPF
import NetBPFTracing

struct TraceExecsnoop: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "execsnoop", abstract: "Trace exec() calls with their arguments.")
    @Flag(name: .customShort("T"), help: "Include a time column (HH:MM:SS).") var time = false
    @Flag(name: .customShort("t"), help: "Include a timestamp column (seconds since start).") var timestamp = false
    @Flag(name: .customShort("x"), help: "Include failed exec()s.") var fails = false
    @Option(name: .customShort("u"), help: "Trace this UID only.") var uid: UInt32?
    @Flag(name: .customShort("U"), help: "Print a UID column.") var printUID = false
    @Flag(name: .customShort("q"), help: "Put quotes around arguments.") var quote = false
    @Option(name: .customShort("n"), help: "Only commands whose name contains this.") var name: String?
    @Option(name: .customShort("l"), help: "Only commands with an argument containing this.") var line: String?
    @Option(name: .long, help: "Arguments parsed and printed at most (1-60).") var maxArgs = 20
    @Option(name: .customShort("d"), help: "Trace for this many seconds, then exit.") var duration: Double?
    @Option(name: [.customShort("c"), .customLong("cgroup")], help: "Trace tasks under this cgroup v2 directory only (e.g. /sys/fs/cgroup/unified/NAME).") var cgroup: String?
    @Flag(name: .customLong("kprobe"), help: "Use kprobes on the syscall functions (BCC's way) instead of the syscall tracepoints (used by default where the kernel has them).")
    var kprobe = false
    @OptionGroup var output: TraceOutputOptions

    func run() throws {
        try runTool(verbose: output.verbose) {
            var o = Execsnoop.Options()
            o.cgroup = cgroup
            o.uid = uid; o.maxArgs = maxArgs; o.includeFailed = fails; o.name = name; o.line = self.line
            o.quote = quote; o.time = time; o.timestamp = timestamp; o.printUID = printUID
            o.probes = try syscallProbes(kprobe: kprobe, tool: "execsnoop", syscall: "execve")
            let session = try Execsnoop.start(o)
            defer { closeReportingFailures(session) }
            if !output.json { TraceOutput.line(Execsnoop.header(o)); TraceOutput.flush() }
            let start = Clock.bootNanoseconds()
            try session.runRing("events", duration: duration) { r in
                let e = Execsnoop.decode(r, maxArgs: o.maxArgs)
                guard Execsnoop.matches(e, o) else { return }
                if output.json { TraceOutput.jsonLine(e) } else { TraceOutput.line(Execsnoop.line(e, o, startNs: start)) }
            }
        }
    }
}
