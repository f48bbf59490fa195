import ArgumentParser
import NetBPF
import NetBPFTracing

struct TraceSofdsnoop: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sofdsnoop", abstract: "Trace file descriptors passed over Unix sockets (SCM_RIGHTS), with BCC's sofdsnoop columns.",
        discussion: "Tracepoints syscalls:sys_enter/exit_sendmsg and _recvmsg: the first control message of each call is read from the caller's memory. sendmmsg/recvmmsg are not traced (BCC: same).")
    @Flag(name: [.customShort("T"), .customLong("timestamp")], help: "Include a timestamp column (seconds since the first event).") var timestamp = false
    @Option(name: [.customShort("p"), .customLong("pid")], help: "Trace this process only.") var pid: UInt32?
    @Option(name: [.customShort("t"), .customLong("tid")], help: "Trace this thread only.") var tid: UInt32?
    @Option(name: [.customShort("n"), .customLong("name")], help: "Only commands whose name contains this.") var name: String?
    @Option(name: [.customShort("d"), .customLong("duration")], help: "Trace for this many seconds, then exit.") var duration: Double?
    @OptionGroup var output: TraceOutputOptions

    func run() throws {
        try runTool(verbose: output.verbose) {
            var o = Sofdsnoop.Options()
            o.pid = pid; o.tid = tid; o.name = name; o.timestamp = timestamp
            let session = try Sofdsnoop.start(o)
            defer { closeReportingFailures(session) }
            if !output.json { TraceOutput.line(Sofdsnoop.header(o)); TraceOutput.flush() }
            var start: UInt64?
            try session.runRing("events", duration: duration) { r in
                let e = Sofdsnoop.decode(r)
                guard Sofdsnoop.matches(e, o) else { return }
                if start == nil { start = e.timestampNs }
                if output.json { TraceOutput.jsonLine(e) } else { for l in Sofdsnoop.lines(e, o, startNs: start ?? 0) { TraceOutput.line(l) } }
            }
        }
    }
}
