import Foundation
import NetBPFNetlink

/// A running simulation as the kernel shows it now: hosts, interfaces and addresses read live
/// over netlink in each namespace, processes checked in /proc, pins checked in bpffs.
public struct SimulationReport: Sendable, Codable, Equatable {
    public struct InterfaceReport: Sendable, Codable, Equatable {
        public var name: String
        public var kind: String
        public var mac: String?
        public var mtu: UInt32
        public var up: Bool
        /// The bridge it is a port of.
        public var master: String?
        /// Addresses with prefix length, link-local IPv6 left out.
        public var addresses: [String]
        /// Programs attached by the simulation: "tc-ingress vlan_access_ingress".
        public var programs: [String]
    }

    public struct ProcessReport: Sendable, Codable, Equatable {
        public var name: String
        public var command: String
        public var pid: Int32?
        public var running: Bool
        public var log: String
    }

    public struct NodeReport: Sendable, Codable, Equatable {
        public var name: String
        public var kind: NodeKind
        public var namespace: String
        /// false if the namespace is gone.
        public var present: Bool
        public var interfaces: [InterfaceReport]
        public var processes: [ProcessReport]
    }

    public var name: String
    public var state: String
    public var file: String
    public var stateDirectory: String
    public var createdAt: Double
    public var completedAt: Double?
    public var steps: Int
    public var nodes: [NodeReport]
    public var rootInterfaces: [InterfaceReport]
    public var pins: [String]

    /// True when the journal says up and every namespace and process is there.
    public var healthy: Bool {
        state == Journal.State.up.rawValue && nodes.allSatisfy { $0.present && $0.processes.allSatisfy(\.running) }
    }

    static func make(_ journal: Journal, dir: StateDirectory, nodeOrder: [String]? = nil) -> SimulationReport {
        var nodes: [NodeReport] = []
        let order = nodeOrder ?? journal.namespaces.map(\.node)
        for nodeName in order {
            guard let entry = journal.namespaces.first(where: { $0.node == nodeName }) else { continue }
            let present = NetworkNamespace.exists(entry.name)
            var interfaces: [InterfaceReport] = []
            if present, let nl = try? NetlinkSocket(namespace: entry.name) {
                interfaces = describe(nl, attachments: journal.attachments.filter { $0.node == nodeName }, skipLoopback: true)
            }
            let processes = journal.processes.filter { $0.host == nodeName }.map {
                ProcessReport(name: $0.name, command: $0.command, pid: $0.pid,
                              running: $0.pid.map { pid in SimProcesses.isAlive(pid, startTime: nil) } ?? false, log: $0.log)
            }
            nodes.append(NodeReport(name: nodeName, kind: entry.kind, namespace: entry.name, present: present,
                                    interfaces: interfaces, processes: processes))
        }
        var root: [InterfaceReport] = []
        if !journal.rootLinks.isEmpty, let nl = try? NetlinkSocket() {
            let names = Set(journal.rootLinks.map(\.name))
            root = describe(nl, attachments: [], skipLoopback: true).filter { names.contains($0.name) }
        }
        return SimulationReport(name: journal.name, state: journal.state.rawValue, file: journal.file, stateDirectory: dir.path,
                                createdAt: journal.createdAt, completedAt: journal.completedAt, steps: journal.steps,
                                nodes: nodes, rootInterfaces: root,
                                pins: journal.pins.filter { access($0, F_OK) == 0 })
    }

    /// Interfaces of one namespace with their addresses (one link dump, one address dump).
    static func describe(_ nl: NetlinkSocket, attachments: [Journal.AttachmentEntry], skipLoopback: Bool) -> [InterfaceReport] {
        guard let links = try? nl.links() else { return [] }
        let addresses = (try? nl.addresses()) ?? []
        let names = Dictionary(links.map { ($0.index, $0.name) }, uniquingKeysWith: { a, _ in a })
        var out: [InterfaceReport] = []
        for l in links {
            let mine: [IPPrefix] = addresses.filter { $0.interfaceIndex == l.index }.map(\.prefix)
            let addrs: [IPPrefix] = mine.filter { !isLinkLocal($0.address) }
            let texts: [String] = addrs.map(\.description)
            if skipLoopback && l.name == "lo" && texts.allSatisfy({ $0 == "127.0.0.1/8" || $0 == "::1/128" }) { continue }
            let kind: String = l.kind ?? (l.name == "lo" ? "loopback" : "device")
            let master: String? = l.masterIndex.flatMap { names[$0] }
            let programs: [String] = attachments.filter { $0.interface == l.name }.map { "\($0.hook) \($0.program)" }
            out.append(InterfaceReport(name: l.name, kind: kind, mac: l.name == "lo" ? nil : l.macAddress?.description,
                                       mtu: l.mtu, up: l.isUp, master: master, addresses: texts, programs: programs))
        }
        return out
    }

    static func isLinkLocal(_ a: IPAddress) -> Bool {
        a.family == .v6 && a.bytes[0] == 0xfe && a.bytes[1] & 0xc0 == 0x80
    }
}
