import ArgumentParser
import NetBPF
import Foundation
import NetBPFSim

/// `netbpf sim exec HOST -- CMD...`: run a command inside a simulated host.
struct SimExecCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exec",
        abstract: "Run a command inside a host's network namespace; its exit status is passed through.",
        discussion: "Like `ip netns exec NAMESPACE COMMAND`, which works on the same namespaces.")

    @Option(name: .customLong("sim"), help: "The simulation (needed only when several have the host).") var simulation: String?
    @Argument(help: "The host.") var host: String
    @Argument(parsing: .postTerminator, help: "The command and its arguments, after --.") var command: [String] = []

    func run() throws {
        try reportingSimErrors {
            guard !command.isEmpty else {
                throw ValidationError("give the command after --: netbpf sim exec \(host) -- ip addr")
            }
            let (sim, namespace) = try Simulation.namespace(of: host, simulation: simulation)
            do {
                try Simulation.exec(namespace: namespace, command: command,
                                    environment: ["NETBPF_SIM": sim, "NETBPF_SIM_HOST": host])
            } catch let e as SimError where e.operation == "sim exec" && e.subject == command.first {
                StandardStreams.err("netbpf: \(e.description)\n")
                throw ExitCode(127)
            }
        }
    }
}
