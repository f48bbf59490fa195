import ArgumentParser
import NetBPF
import NetBPFControllers
import NetBPFFleet

/// `netbpf fleet place` and `netbpf fleet unplace`: which interface of which nodes carries the
/// rate limiter, HTTP blocking or VLAN learning (docs/fleet.md, `placement/NAME` keys). The nodes' agents
/// attach (or adopt) the controller and detach it when it is unplaced.
struct FleetPlaceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "place", abstract: "Run a controller on an interface of every node (or some).",
                                                    subcommands: [RateLimit.self, HTTPBlock.self, VLANLearning.self])

    struct Common: ParsableArguments {
        @Argument(help: "The interface, on each node.") var interface: String
        @Option(help: "Its network namespace (/run/netns/NAME) on each node.") var netns: String?
        @Option(help: "The placement's name (default CONTROLLER-[NETNS-]IFACE).") var name: String?
        @OptionGroup var target: FleetCommand.RateLimit.Target
    }

    struct RateLimit: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ratelimit", abstract: "Place the rate limiter (egress unless --ingress).")
        @OptionGroup var common: Common
        @Flag(help: "Limit on ingress (default egress).") var ingress = false
        @Option(help: "Key on the source or destination address.") var keyOn: RateLimiter.KeyOn = .destination
        @OptionGroup var etcd: EtcdOptions
        func run() throws {
            try reportingErrors {
                let p = Placement(controller: .ratelimit, interface: common.interface, netns: common.netns,
                                  direction: ingress ? .ingress : .egress, keyOn: keyOn)
                try place(p, common, etcd)
            }
        }
    }

    struct HTTPBlock: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "http-block", abstract: "Place HTTP blocking (the interface's ingress).")
        @OptionGroup var common: Common
        @OptionGroup var etcd: EtcdOptions
        func run() throws {
            try reportingErrors { try place(Placement(controller: .httpBlock, interface: common.interface, netns: common.netns), common, etcd) }
        }
    }

    struct VLANLearning: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "vlan-learning", abstract: "Place VLAN learning: the interface is the trunk (for the agent's lifetime, not pinned).")
        @OptionGroup var common: Common
        @Option(help: "A worker interface clients can be sent to (repeat).") var worker: [String] = []
        @OptionGroup var etcd: EtcdOptions
        func run() throws {
            try reportingErrors {
                guard !worker.isEmpty else { throw ValidationError("give at least one --worker IFACE") }
                try place(Placement(controller: .vlanLearning, interface: common.interface, netns: common.netns, workers: worker), common, etcd)
            }
        }
    }
}

/// Writes the placement and prints its name and revision.
private func place(_ p: Placement, _ common: FleetPlaceCommand.Common, _ etcd: EtcdOptions) throws {
    // Checked before etcd is reached: a typo is reported as such, offline too.
    let (n, t) = (try FleetOperator.check(p, name: common.name), common.target)
    let rev = try etcd.withOperator { try await $0.place(p, name: n, nodes: t.nodes, node: t.node) }
    print("placement \(n): \(p.place), revision \(rev)")
}

struct FleetUnplaceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "unplace", abstract: "Remove a placement: the nodes detach the controller.")
    @Argument(help: "The placement's name (netbpf fleet show).") var name: String
    @Option(help: "One node's own placement (set with --node).") var node: String?
    @OptionGroup var etcd: EtcdOptions
    func run() throws {
        try reportingErrors {
            try FleetOperator.checkName(name)
            let (n, o) = (name, node)
            print("revision \(try etcd.withOperator { try await $0.unplace(name: n, node: o) })")
        }
    }
}

extension FleetPlaceCommand.RateLimit: RunsUnprivileged {}
extension FleetPlaceCommand.HTTPBlock: RunsUnprivileged {}
extension FleetPlaceCommand.VLANLearning: RunsUnprivileged {}
extension FleetUnplaceCommand: RunsUnprivileged {}
