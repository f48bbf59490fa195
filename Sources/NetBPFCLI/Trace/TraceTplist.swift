import ArgumentParser
import NetBPF
import NetBPFTracing

struct TraceTplist: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "tplist", abstract: "List tracepoints (and with -v their arguments).")
    @Argument(help: "A glob on CATEGORY:EVENT (e.g. 'sched:*'), or a substring.") var pattern: String?
    @Flag(name: .customShort("v"), help: "Print each tracepoint's arguments.") var verboseFields = false
    @OptionGroup var output: TraceOutputOptions

    func run() throws {
        try runTool(verbose: output.verbose) {
            let entries = try Tplist.list(pattern: pattern, verbose: verboseFields)
            if let p = pattern, entries.isEmpty {
                throw BPFError(.notFound, operation: "tplist", subject: p, message: "no tracepoint matches")
            }
            if output.json { for e in entries { TraceOutput.jsonLine(e) } } else { TraceOutput.write(Tplist.format(entries)) }
        }
    }
}
