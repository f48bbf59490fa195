import ArgumentParser
import NetBPF
import NetBPFTracing

struct TraceBps: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "bps", abstract: "List the BPF programs on the system (like BCC's bps).")
    @OptionGroup var output: TraceOutputOptions

    func run() throws {
        try runTool(verbose: output.verbose) {
            let rows = try Bps.rows()
            if output.json { for r in rows { TraceOutput.jsonLine(r) } } else { TraceOutput.write(Bps.format(rows)) }
        }
    }
}
