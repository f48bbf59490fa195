import Foundation
import NetBPFNetlink

/// A running simulation as the kernel shows it now: hosts, interfaces and addresses read live
/// over netlink in each namespace, processes checked in /proc, pins checked in bpffs.
public struct SimulationReport: Sendable, Codable, Equatable {
    /// One interface as RTM_GETLINK and RTM_GETADDR report it.
    public struct InterfaceReport: Sendable, Codable, Equatable {
        /// The interface's name in its namespace.
        public var name: String
        /// IFLA_INFO_KIND ("veth", "bridge", "vxlan"), "loopback", or "device".
        public var kind: String
        /// Its MAC address (nil for lo).
        public var mac: String?
        /// Its MTU.
        public var mtu: UInt32
        /// Whether it is administratively up.
        public var up: Bool
        /// The bridge it is a port of.
        public var master: String?
        /// Addresses with prefix length, link-local IPv6 left out.
        public var addresses: [String]
        /// Programs attached by the simulation: "tc-ingress vlan_access_ingress".
        public var programs: [String]
    }

    /// One process the simulation started.
    public struct ProcessReport: Sendable, Codable, Equatable {
        /// Its name in the topology (names its log).
        public var name: String
        /// Its command line.
        public var command: String
        /// Its pid; nil when it was never started.
        public var pid: Int32?
        /// Whether that pid is alive (not a zombie).
        public var running: Bool
        /// Its log file (stdout and stderr).
        public var log: String
    }

    /// One host or switch.
    public struct NodeReport: Sendable, Codable, Equatable {
        /// The host's or bridge's name.
        public var name: String
        /// Host or switch.
        public var kind: NodeKind
        /// Its network namespace (/run/netns/NAME).
        public var namespace: String
        /// false if the namespace is gone.
        public var present: Bool
        /// Its interfaces (lo only when it has more than the usual addresses).
        public var interfaces: [InterfaceReport]
        /// The processes started in it.
        public var processes: [ProcessReport]
    }

    /// The simulation's name.
    public var name: String
    /// The journal's state: "building", "up" or "tearing-down".
    public var state: String
    /// The topology file's absolute path.
    public var file: String
    /// Where the journal and logs are (/run/netbpf/sim/NAME).
    public var stateDirectory: String
    /// When `up` started (seconds since the epoch).
    public var createdAt: Double
    /// When `up` finished; nil while building.
    public var completedAt: Double?
    /// Build steps done.
    public var steps: Int
    /// Hosts, then standalone bridges, in topology order.
    public var nodes: [NodeReport]
    /// The simulation's interfaces in the machine's own namespace.
    public var rootInterfaces: [InterfaceReport]
    /// Pinned objects that still exist.
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
        guard let links = try? nl.interfaces() else { return [] }
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
