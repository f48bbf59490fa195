import ArgumentParser
import NetBPF
import NetBPFTracing

struct TraceKillsnoop: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "killsnoop", abstract: "Trace signals sent with kill(2), tkill(2) and tgkill(2), or every generated signal (-a).")
    @Option(name: .customShort("p"), help: "Only signals sent by this process.") var pid: UInt32?
    @Option(name: .customShort("s"), help: "Only this signal (number or name).") var signal: String?
    @Flag(name: .customShort("x"), help: "Failed signals only.") var failed = false
    @Flag(name: .customShort("a"), help: "Every generated signal (signal:signal_generate), not only kill, tkill and tgkill.") var all = false
    @Flag(name: .customShort("n"), help: "Print signal names instead of numbers.") var names = false
    @Option(name: .customShort("d"), help: "Trace for this many seconds, then exit.") var duration: Double?
    @OptionGroup var output: TraceOutputOptions

    func run() throws {
        try runTool(verbose: output.verbose) {
            var o = Killsnoop.Options()
            o.pid = pid; o.failedOnly = failed; o.allSignals = all; o.names = names
            if let s = signal {
                guard let n = SignalNames.number(s) else {
                    throw BPFError(.invalidArgument, operation: "killsnoop", subject: s, message: "not a signal number or name")
                }
                o.signal = n
            }
            let session = try Killsnoop.start(o)
            defer { closeReportingFailures(session) }
            if !output.json { TraceOutput.line(Killsnoop.header(o)); TraceOutput.flush() }
            try session.runRing("events", duration: duration) { r in
                let e = Killsnoop.decode(r)
                if output.json { TraceOutput.jsonLine(e) } else { TraceOutput.line(Killsnoop.line(e, o)) }
            }
        }
    }
}
