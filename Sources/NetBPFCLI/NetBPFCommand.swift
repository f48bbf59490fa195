import ArgumentParser
import NetBPF

/// `netbpf`: the command-line front of the toolkit. `package`: only the `netbpf` executable
/// (and the CLI tests) use it; NetBPFCLI is not a product.
package struct NetBPFCommand: ParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "netbpf",
        abstract: "BPF networking on Linux: load, attach and inspect BPF programs and maps.",
        version: NetBPFVersion.text,
        subcommands: [CompileCommand.self, AttachCommand.self, DetachCommand.self, ListCommand.self, RateLimitCommand.self, TunnelMonitorCommand.self, DoctorCommand.self, FeaturesCommand.self, ProgCommand.self, MapCommand.self, ObjectCommand.self, DemoCommand.self, SimCommand.self, HTTPFilterCommand.self, VLANLearnCommand.self, BridgeCommand.self, XDPDropCountCommand.self, XDPMacSwapCommand.self, XDPRedirectCommand.self, TCEventsCommand.self, TraceCommand.self,
                      DropsCommand.self, CaptureCommand.self, AgentCommand.self, FleetCommand.self])

    package init() {}

    /// Parses `arguments` (without the program name), checks the chosen command's privileges
    /// (`Privileges`), runs it and exits, as ArgumentParser's `main` does.
    package static func run(arguments: [String]) -> Never {
        do {
            var command = try parseAsRoot(normalizedArguments(arguments))
            let asksForHelp = arguments.first == "help" || arguments.contains { $0 == "--help" || $0 == "-h" || $0 == "--version" }
            if !(command is NetBPFCommand) && !asksForHelp { try Privileges.check(command, name: Privileges.commandPath(arguments)) }
            try command.run()
            exit()
        } catch {
            exit(withError: error)
        }
    }

    /// The arguments (without the program name) as netbpf parses them: `-DNAME=VALUE` and
    /// `-IDIR` split in two for the commands that take compile options, since ArgumentParser
    /// reads `-DNAME=VALUE` as an unknown option `-DNAME` (CompileArguments.splitJoined).
    package static func normalizedArguments(_ arguments: [String]) -> [String] {
        Array(CompileArguments.splitJoined(["netbpf"] + arguments).dropFirst())
    }
}
