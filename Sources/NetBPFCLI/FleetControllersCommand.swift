import ArgumentParser
import Foundation
import NetBPFControllers
import NetBPFFleet

/// `netbpf fleet http` and `netbpf fleet vlan`: HTTP blocks and VLAN client maps of the fleet's
/// desired state (docs/fleet.md), shaped like `netbpf fleet ratelimit`. Values are checked here
/// with the agents' own parser before anything is written.
struct FleetHTTPCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "http", abstract: "HTTP requests every node (or some) blocks.",
                                                    subcommands: [Block.self, Unblock.self])

    struct Entry: ParsableArguments {
        @Argument(help: "A path prefix to block (e.g. /admin).") var path: String?
        @Option(help: "A Host to block instead (exact; case and port ignored).") var host: String?
        func entry() throws -> HTTPBlockEntry {
            switch (path, host) {
            case let (p?, nil): return try HTTPBlockEntry.path(p)
            case let (nil, h?): return try HTTPBlockEntry.host(h)
            default: throw ValidationError("give a PATH or --host NAME (one of them)")
            }
        }
    }

    struct Block: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "block", abstract: "Block requests by path prefix (or --host) on the fleet.")
        @OptionGroup var entry: Entry
        @OptionGroup var target: FleetCommand.RateLimit.Target
        @OptionGroup var etcd: EtcdOptions
        func run() throws {
            try reportingErrors {
                let (e, t) = (try entry.entry(), target)
                print("revision \(try etcd.withOperator { try await $0.block(e, nodes: t.nodes, node: t.node) })")
            }
        }
    }

    struct Unblock: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "unblock", abstract: "Remove a block from the fleet.")
        @OptionGroup var entry: Entry
        @Option(help: "One node's own block (set with --node).") var node: String?
        @OptionGroup var etcd: EtcdOptions
        func run() throws {
            try reportingErrors {
                let (e, n) = (try entry.entry(), node)
                print("revision \(try etcd.withOperator { try await $0.unblock(e, node: n) })")
            }
        }
    }
}

struct FleetVLANCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "vlan", abstract: "VLAN client maps (client MAC -> worker interface) of the fleet.",
                                                    subcommands: [Map.self, Unmap.self])

    struct Map: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "map", abstract: "Send a client's frames to a worker interface on the fleet's nodes.")
        @Argument(help: "The client's MAC address.") var mac: String
        @Argument(help: "The worker interface (one the node's agent attached with --vlan-worker).") var worker: String
        @OptionGroup var target: FleetCommand.RateLimit.Target
        @OptionGroup var etcd: EtcdOptions
        func run() throws {
            try reportingErrors {
                let (m, w, t) = (try EthernetAddress(mac), worker, target)
                print("revision \(try etcd.withOperator { try await $0.mapVLANClient(m, worker: w, nodes: t.nodes, node: t.node) })")
            }
        }
    }

    struct Unmap: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "unmap", abstract: "Remove a client's mapping from the fleet.")
        @Argument(help: "The client's MAC address.") var mac: String
        @Option(help: "One node's own mapping (set with --node).") var node: String?
        @OptionGroup var etcd: EtcdOptions
        func run() throws {
            try reportingErrors {
                let (m, n) = (try EthernetAddress(mac), node)
                print("revision \(try etcd.withOperator { try await $0.unmapVLANClient(m, node: n) })")
            }
        }
    }
}

extension FleetHTTPCommand.Block: RunsUnprivileged {}
extension FleetHTTPCommand.Unblock: RunsUnprivileged {}
extension FleetVLANCommand.Map: RunsUnprivileged {}
extension FleetVLANCommand.Unmap: RunsUnprivileged {}
