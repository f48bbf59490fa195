import ArgumentParser
import Foundation
import Glibc
import NetBPF
import NetBPFNetlink
import NetBPFSim

/// `netbpf sim`: network simulations from topology files (docs/simulation.md).
struct SimCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sim",
        abstract: "Build, inspect and remove simulated networks (namespaces, veths, bridges, VXLAN) from topology files.",
        subcommands: [SimUpCommand.self, SimStatusCommand.self, SimExecCommand.self, SimDownCommand.self])
}

/// Runs a sim command body: SimError/NetlinkError become lines on stderr ("netbpf: ...", one per
/// topology problem) and exit status 1; an interrupted `up` exits 128+signal after its teardown.
func reportingSimErrors(verbose: Bool = false, _ body: () throws -> Void) throws {
    do {
        try reportingErrors(verbose: verbose, body)
    } catch let error as SimError {
        let lines = error.description.split(separator: "\n").map { "netbpf: \($0)\n" }.joined()
        StandardStreams.err(lines)
        if error.code == .interrupted, let s = SimSignals.received { throw ExitCode(128 + s) }
        throw ExitCode(1)
    } catch let error as NetlinkError {
        StandardStreams.err("netbpf: \(error.description)\n")
        throw ExitCode(1)
    }
}

/// The hosts/interfaces/addresses table `up` and `status` print.
func simTable(_ r: SimulationReport) -> String {
    var rows: [[String]] = []
    for node in r.nodes {
        let nodeName = node.kind == .switch ? "\(node.name) (switch)" : node.name
        if !node.present {
            rows.append([nodeName, node.namespace, "-", "-", "-", "-", "-", "namespace missing"])
            continue
        }
        if node.interfaces.isEmpty { rows.append([nodeName, node.namespace, "-", "-", "-", "-", "-", ""]) }
        for (i, ifc) in node.interfaces.enumerated() {
            var notes: [String] = []
            if !ifc.up { notes.append("DOWN") }
            if let m = ifc.master { notes.append("port of \(m)") }
            notes += ifc.programs
            rows.append([i == 0 ? nodeName : "", i == 0 ? node.namespace : "", ifc.name, ifc.kind, ifc.mac ?? "-", "\(ifc.mtu)",
                         ifc.addresses.isEmpty ? "-" : ifc.addresses.joined(separator: " "), notes.joined(separator: ", ")])
        }
    }
    for (i, ifc) in r.rootInterfaces.enumerated() {
        rows.append([i == 0 ? "(root)" : "", "", ifc.name, ifc.kind, ifc.mac ?? "-", "\(ifc.mtu)",
                     ifc.addresses.isEmpty ? "-" : ifc.addresses.joined(separator: " "), ifc.up ? "" : "DOWN"])
    }
    var text = trimmed(table(["HOST", "NAMESPACE", "INTERFACE", "KIND", "MAC", "MTU", "ADDRESSES", "NOTES"], rows))
    let processes = r.nodes.flatMap { n in n.processes.map { (n.name, $0) } }
    if !processes.isEmpty {
        text += "\n\n" + table(["HOST", "PROCESS", "PID", "STATE", "COMMAND", "LOG"], processes.map { host, p in
            [host, p.name, p.pid.map(String.init) ?? "-", p.running ? "running" : "exited", p.command, p.log]
        })
    }
    return text
}

/// Table lines without trailing blanks (the last column is often empty).
func trimmed(_ text: String) -> String {
    text.split(separator: "\n", omittingEmptySubsequences: false)
        .map { line in String(line.reversed().drop(while: { $0 == " " }).reversed()) }
        .joined(separator: "\n")
}

/// One line saying what a report holds.
func simSummary(_ r: SimulationReport) -> String {
    let hosts = r.nodes.filter { $0.kind == .host }.count
    let switches = r.nodes.count - hosts
    let processes = r.nodes.reduce(0) { $0 + $1.processes.count }
    func plural(_ n: Int, _ w: String) -> String { "\(n) \(w)\(n == 1 ? "" : (w.hasSuffix("s") || w.hasSuffix("ch") ? "es" : "s"))" }
    return "\(plural(hosts, "host")), \(plural(switches, "switch")), \(plural(processes, "process"))"
}
