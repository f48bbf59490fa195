import ArgumentParser
import Foundation
import NetBPF
import NetBPFControllers
import NetBPFFleet

/// `netbpf fleet`: the operator's side of a fleet in etcd: desired state, node status, the
/// Prometheus scrape configuration, and the PKI of a simulation (docs/fleet.md).
struct FleetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "fleet", abstract: "Set and show a fleet's desired state in etcd; node status; PKI.",
                                                    subcommands: [RateLimit.self, FleetHTTPCommand.self, FleetVLANCommand.self, Show.self, Status.self, PrometheusConfig.self, PKI.self,
                                                                  FleetControlPlaneCommand.self, FleetPlaceCommand.self, FleetUnplaceCommand.self])

    struct RateLimit: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ratelimit", abstract: "Limits every node (or some) enforces.",
                                                        subcommands: [Add.self, Del.self, Default.self])
        struct Target: ParsableArguments {
            @Option(help: "Nodes the limit applies to: a glob over node names ('edge-*').") var nodes = "*"
            @Option(help: "One node only (its own key; overrides a fleet-wide limit of the same prefix).") var node: String?
        }
        struct Add: ParsableCommand {
            static let configuration = CommandConfiguration(commandName: "add", abstract: "Set the limit of an address or prefix on the fleet.")
            @Argument(help: "IPv4/IPv6 address or prefix.") var address: String
            @Argument(help: "Rate in tc units: 10mbit, 500kbit.") var rate: String
            @Option(help: "Burst: 64k, 1m.") var burst: String?
            @OptionGroup var target: Target
            @OptionGroup var etcd: EtcdOptions
            func run() throws {
                try reportingErrors {
                    // Checked before etcd is reached: a typo is reported as such, offline too.
                    _ = try AddressPrefix(address)
                    _ = try RateParsing.bitsPerSecond(rate)
                    _ = try burst.map { try RateParsing.bytes($0) }
                    let (a, r, b, t) = (address, rate, burst, target)
                    print("revision \(try etcd.withOperator { try await $0.setLimit(prefix: a, rate: r, burst: b, nodes: t.nodes, node: t.node) })")
                }
            }
        }
        struct Del: ParsableCommand {
            static let configuration = CommandConfiguration(commandName: "del", abstract: "Remove the limit of an address or prefix from the fleet.")
            @Argument(help: "IPv4/IPv6 address or prefix.") var address: String
            @OptionGroup var target: Target
            @OptionGroup var etcd: EtcdOptions
            func run() throws {
                try reportingErrors {
                    let (a, n) = (address, target.node)
                    print("revision \(try etcd.withOperator { try await $0.removeLimit(prefix: a, node: n) })")
                }
            }
        }
        struct Default: ParsableCommand {
            static let configuration = CommandConfiguration(commandName: "default", abstract: "Set (or with 'none' remove) the limit of addresses without one.")
            @Argument(help: "Rate, or none.") var rate: String
            @Option(help: "Burst: 64k, 1m.") var burst: String?
            @OptionGroup var target: Target
            @OptionGroup var etcd: EtcdOptions
            func run() throws {
                try reportingErrors {
                    let (r, b, t) = (rate == "none" ? nil : rate, burst, target)
                    print("revision \(try etcd.withOperator { try await $0.setDefault(rate: r, burst: b, nodes: t.nodes, node: t.node) })")
                }
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "show", abstract: "Print the desired state.")
        @OptionGroup var etcd: EtcdOptions
        func run() throws {
            try reportingErrors {
                let rows = try etcd.withOperator { try await $0.desired().map { [$0.key, $0.value, String($0.revision)] } }
                print(table(["KEY", "VALUE", "REVISION"], rows))
            }
        }
    }

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "status", abstract: "Each node: alive (lease), applied revision, refused keys.")
        @OptionGroup var etcd: EtcdOptions
        @OptionGroup var output: OutputOptions
        func run() throws {
            try reportingErrors(verbose: output.verbose) {
                let nodes = try etcd.withOperator { try await $0.status() }
                if output.json { try printJSON(nodes); return }
                print(table(["NODE", "ALIVE", "REVISION", "APPLIED", "LIMITS", "BLOCKS", "CLIENTS", "ETCD", "CONTROLLERS", "REFUSED"], nodes.map { n in
                    [n.node, n.alive ? "yes" : "no", n.status.map { String($0.revision) } ?? "-",
                     n.status?.appliedAt.map { ISO8601DateFormatter().string(from: $0) } ?? "-", n.status.map { String($0.limits) } ?? "-",
                     n.status?.blocks.map(String.init) ?? "-", n.status?.vlanClients.map(String.init) ?? "-",
                     n.status.map { $0.etcdConnected ? "up" : "down" } ?? "-",
                     Self.controllers(n.status?.controllers),
                     n.status.map { $0.errors.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: "; ") } ?? ""]
                }))
            }
        }

        /// "ratelimit fla egress ns1 [rl-fla]; http-block eth0 [cli]": each controller, its
        /// placement's name or `cli` for the agent's command line.
        static func controllers(_ list: [AgentHealth.Controller]?) -> String {
            guard let list, !list.isEmpty else { return "-" }
            return list.map { c in
                ([c.place.controller.rawValue, c.place.interface] + (c.place.controller == .ratelimit ? [c.place.direction.rawValue] : [])
                 + (c.place.netns.map { [$0] } ?? []) + ["[\(c.placement ?? "cli")]"]).joined(separator: " ")
            }.joined(separator: "; ")
        }
    }

    struct PrometheusConfig: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "prometheus-config", abstract: "Print a Prometheus config scraping every registered node.")
        @OptionGroup var etcd: EtcdOptions
        @Option(help: "Scrape interval, seconds.") var interval = 5
        func run() throws {
            try reportingErrors {
                let nodes = try etcd.withOperator { try await $0.status() }
                print(FleetOperator.prometheusConfig(nodes: nodes, interval: interval), terminator: "")
            }
        }
    }

    struct PKI: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "pki", abstract: "Make the CA, certificates and passwords; with --bootstrap, etcd's users and roles.")
        @Option(help: "Where the files go.") var dir: String
        @Option(help: "Node names, comma-separated.") var nodes: String
        @Option(help: "Addresses etcd's certificate is valid for, comma-separated.") var server = "127.0.0.1,localhost"
        @Option(help: "Create users and roles in this etcd (started with the certificates, auth not yet on) and enable auth.") var bootstrap: String?
        @Option(help: "The fleet's key prefix in etcd.") var prefix = "/netbpf"
        func run() throws {
            try reportingErrors {
                let names = nodes.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
                let pki = FleetPKI(directory: dir)
                try pki.generate(nodes: names, serverAddresses: server.split(separator: ",").map(String.init))
                print("wrote \(dir): ca.crt, etcd.crt, root, operator and \(names.count) node certificates")
                if let url = bootstrap {
                    let layout = try KeyLayout(prefix: prefix)
                    try blocking { try await pki.bootstrap(endpoint: url, layout: layout, nodes: names) }
                    print("etcd \(url): users and roles made, auth enabled")
                }
            }
        }
    }
}

extension FleetCommand.RateLimit.Add: RunsUnprivileged {}
extension FleetCommand.RateLimit.Del: RunsUnprivileged {}
extension FleetCommand.RateLimit.Default: RunsUnprivileged {}
extension FleetCommand.Show: RunsUnprivileged {}
extension FleetCommand.Status: RunsUnprivileged {}
extension FleetCommand.PrometheusConfig: RunsUnprivileged {}
extension FleetCommand.PKI: RunsUnprivileged {}
