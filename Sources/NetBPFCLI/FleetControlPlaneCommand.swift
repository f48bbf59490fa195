import ArgumentParser
import Dispatch
import Foundation
import Glibc
import NetBPF
import NetBPFFleet

/// `netbpf fleet controlplane`: the control host of a simulated fleet (topologies/fleet.yaml):
/// PKI, etcd and Prometheus, until SIGTERM/SIGINT, then all of it stopped and removed.
struct FleetControlPlaneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "controlplane",
                                                    abstract: "Run a fleet's PKI, etcd and Prometheus (for a simulation) until stopped.")
    @Option(help: "Working directory (PKI, etcd data, Prometheus data and config).") var dir: String
    @Option(help: "Node names, comma-separated; or PREFIX:N for PREFIX1..PREFIXN.") var nodes: String
    @Option(help: "The address etcd and Prometheus listen on.") var listen = "127.0.0.1"
    @Option(help: "etcd's client port (the peer port is the next one).") var etcdPort: UInt16 = 2379
    @Option(help: "Prometheus's port.") var prometheusPort: UInt16 = 9090
    @Option(help: "Prometheus's scrape interval, seconds.") var scrapeInterval = 1
    @Flag(help: "Keep the directory when stopped.") var keep = false

    static func names(_ text: String) throws -> [String] {
        if let colon = text.firstIndex(of: ":"), let n = Int(text[text.index(after: colon)...]), n > 0, n <= 10_000 {
            return (1...n).map { "\(text[..<colon])\($0)" }
        }
        let list = text.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        for n in list { try KeyLayout.checkNodeName(n) }
        guard !list.isEmpty else { throw ValidationError("--nodes lists no node") }
        return list
    }

    func run() throws {
        try reportingErrors {
            let cp = try ControlPlane(directory: dir, listen: listen, nodes: try Self.names(nodes), layout: try KeyLayout(),
                                      etcdPort: etcdPort, prometheusPort: prometheusPort, scrapeInterval: scrapeInterval)
            signal(SIGINT, SIG_IGN); signal(SIGTERM, SIG_IGN)
            do {
                try blocking { try await cp.start() }
            } catch {
                cp.stop(removeDirectory: !keep)
                throw error
            }
            StandardStreams.err("netbpf fleet controlplane: etcd \(cp.etcd.endpoint), prometheus \(cp.prometheusURL), \(cp.nodes.count) nodes, pki \(cp.pki.directory)\n")
            let follower = Task { await cp.followNodes() }
            let sources = [SIGINT, SIGTERM].map { sig -> DispatchSourceSignal in
                let s = DispatchSource.makeSignalSource(signal: sig, queue: .global())
                s.setEventHandler { follower.cancel() }
                s.resume()
                return s
            }
            try blocking { await follower.value }
            sources.forEach { $0.cancel() }
            cp.stop(removeDirectory: !keep)
            StandardStreams.err("netbpf fleet controlplane: stopped\n")
        }
    }
}
