import ArgumentParser
import NetBPF
import NetBPFTracing

struct TraceOpensnoop: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "opensnoop", abstract: "Trace open(), openat() and openat2() calls.")
    @Option(name: .customShort("p"), help: "Trace this process only.") var pid: UInt32?
    @Option(name: .customShort("t"), help: "Trace this thread only.") var tid: UInt32?
    @Option(name: .customShort("u"), help: "Trace this UID only.") var uid: UInt32?
    @Flag(name: .customShort("x"), help: "Failed opens only.") var failed = false
    @Option(name: .customShort("n"), help: "Only process names containing this.") var name: String?
    @Flag(name: .customShort("T"), help: "Include a time column (HH:MM:SS).") var timestamp = false
    @Flag(name: .customShort("U"), help: "Print a UID column.") var printUID = false
    @Flag(name: .customShort("e"), help: "Print the open flags.") var extended = false
    @Option(name: .customShort("d"), help: "Trace for this many seconds, then exit.") var duration: Double?
    @Flag(name: .customLong("kprobe"), help: "Use kprobes on the syscall functions (BCC's way) instead of the syscall tracepoints (used by default where the kernel has them).")
    var kprobe = false
    @OptionGroup var output: TraceOutputOptions

    func run() throws {
        try runTool(verbose: output.verbose) {
            var o = Opensnoop.Options()
            o.pid = pid; o.tid = tid; o.uid = uid; o.failedOnly = failed; o.name = name
            o.timestamp = timestamp; o.printUID = printUID; o.extended = extended
            o.probes = try syscallProbes(kprobe: kprobe, tool: "opensnoop", syscall: "openat")
            let session = try Opensnoop.start(o)
            defer { closeReportingFailures(session) }
            if !output.json { TraceOutput.line(Opensnoop.header(o)); TraceOutput.flush() }
            let start = Clock.bootNanoseconds()
            try session.runRing("events", duration: duration) { r in
                let e = Opensnoop.decode(r)
                guard Opensnoop.matches(e, o) else { return }
                if output.json { TraceOutput.jsonLine(e) } else { TraceOutput.line(Opensnoop.line(e, o, startNs: start)) }
            }
        }
    }
}
