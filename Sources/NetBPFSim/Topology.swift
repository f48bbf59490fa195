import Foundation
import NetBPFNetlink
import Yams

/// A parsed and validated topology file (schema: docs/topologies.md). Build it with
/// `Topology.load(file:)` or `Topology.parse(_:file:)`; every value here has passed validation,
/// so building it can only fail in the kernel.
public struct Topology: Sendable {
    /// The simulation name: the file's `name:` or its file name without extension.
    public var name: String
    /// The file as given, and its absolute path.
    public var file: String
    /// The file's absolute path, which the journal records.
    public var absolutePath: String
    /// The file's `description:`, if any.
    public var description: String?
    /// Hosts in file order; each becomes a network namespace.
    public var hosts: [Host]
    /// Bridges; one without `host` gets a namespace of its own (a "switch").
    public var bridges: [Bridge]
    /// veth pairs.
    public var links: [Link]
    /// Settings of link ends in the machine's own namespace (`root:NAME` endpoints), by the
    /// name written in the file (without the simulation's root prefix).
    public var rootInterfaces: [InterfaceConfig] = []
    /// FNV-1a 64 of the file's bytes (hex): `up` compares it to tell whether a running
    /// simulation came from this version of the file.
    public var contentHash: String

    /// Reads, parses and validates a topology file.
    /// - Throws: `SimError` `.invalidTopology` listing every problem (file:line:col: key path:
    ///   message; hint), or `.notFound` if the file cannot be read.
    public static func load(file: String) throws -> Topology {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw SimError(.notFound, operation: "read topology", subject: file, message: "no such file or not readable",
                           hint: "shipped topologies are in topologies/ (e.g. topologies/pair.yaml)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw SimError.invalid([TopologyIssue(file: file, line: nil, column: nil, path: "", message: "the file is not UTF-8 text")], file: file)
        }
        return try parse(text, file: file)
    }

    /// Parses and validates topology text; `file` names it in errors and anchors relative paths.
    /// - Parameter nameOverride: run it under this name instead of the file's (`--name`).
    /// - Throws: `SimError(.invalidTopology)` listing every problem found.
    public static func parse(_ text: String, file: String, nameOverride: String? = nil) throws -> Topology {
        let log = IssueLog(file: file)
        let parsed = TopologyParser(log: log, file: file).parse(text)
        guard var topology = parsed else { throw SimError.invalid(log.issues, file: file) }
        if let nameOverride { topology.name = nameOverride }
        // Cross-checks run even after type errors, on what did parse, so one run shows every problem.
        TopologyValidator(log: log, topology: topology, nameOverridden: nameOverride != nil).validate()
        guard log.isEmpty else { throw SimError.invalid(log.sortedIssues, file: file) }
        return topology
    }

    /// The simulation name a file would run under without --name: its top-level `name:`, else its
    /// file name without extension. Works on files that do not validate (for `sim down FILE`).
    public static func simulationName(ofFile file: String) -> String {
        let fallback = ((file as NSString).lastPathComponent as NSString).deletingPathExtension
        guard let data = FileManager.default.contents(atPath: file),
              let root = try? Yams.compose(yaml: String(decoding: data, as: UTF8.self)),
              case .mapping(let m) = root else { return fallback }
        for (k, v) in m {
            if case .scalar(let ks) = k, ks.string == "name", case .scalar(let vs) = v, !vs.string.isEmpty { return vs.string }
        }
        return fallback
    }

    /// The namespace (or, for a standalone bridge, switch namespace) of a host or bridge.
    public func namespace(of node: String) -> String { Self.namespaceName(simulation: name, node: node) }

    /// The namespace name of `node` in `simulation`: nb-SIMULATION-NODE.
    public static func namespaceName(simulation: String, node: String) -> String { "nb-\(simulation)-\(node)" }

    /// The per-simulation tag put in front of root-namespace interface names: "nb" + 4 hex
    /// digits of the simulation name's hash + "-" (7 bytes, so names fit IFNAMSIZ).
    public static func rootInterfacePrefix(simulation: String) -> String {
        "nb" + String(format: "%04x", UInt32(truncatingIfNeeded: fnv1a(Array(simulation.utf8))) & 0xFFFF) + "-"
    }

    static func fnv1a(_ bytes: [UInt8]) -> UInt64 {
        var h: UInt64 = 0xcbf29ce484222325
        for b in bytes { h = (h ^ UInt64(b)) &* 0x100000001b3 }
        return h
    }
}

/// Settings every interface may have (`hosts.H.interfaces.IF`, bridges, VXLAN devices).
public struct InterfaceSettings: Sendable, Equatable {
    /// Addresses with prefix length (RTM_NEWADDR).
    public var addresses: [IPPrefix] = []
    /// The MTU; nil keeps the kernel's.
    public var mtu: UInt32?
    /// The MAC address; nil keeps the random one.
    public var mac: MACAddress?
    /// Bring it up (default true).
    public var up: Bool = true
    /// BPF programs to attach, in file order.
    public var bpf: [BPFAttachment] = []
    /// Makes this interface a VLAN access port: frames it receives are tagged and sent out of
    /// the trunk; frames with this VLAN id arriving on the trunk are untagged and sent here.
    public var vlanAccess: VLANAccess?
    /// Where the settings are in the file.
    public var location: SourceLocation = SourceLocation(path: "")
    /// No addresses, programs or changes; up.
    public init() {}
}

/// A VLAN access port (`vlan-access: {vlan: 10, trunk: trunk0}`), implemented by netbpf's
/// programs/vlan_access.bpf.c since the kernel has no 8021q.
public struct VLANAccess: Sendable, Equatable {
    /// The VLAN id, 1 to 4094.
    public var vlan: UInt16
    /// The trunk interface of the same host.
    public var trunk: String
    /// Where it is in the file.
    public var location: SourceLocation
}

/// Where a BPF program is attached.
public enum AttachHook: String, Sendable, CaseIterable {
    /// A cls_bpf filter on clsact ingress (`tc-ingress`).
    case tcIngress = "tc-ingress"
    /// A cls_bpf filter on clsact egress (`tc-egress`).
    case tcEgress = "tc-egress"
    /// XDP over netlink (`xdp`).
    case xdp
}

/// A BPF program attached to an interface by the simulation.
public struct BPFAttachment: Sendable, Equatable {
    /// The program file (.bpf.c compiled in-process, or a .o), absolute.
    public var file: String
    /// As written in the topology (for messages).
    public var fileAsWritten: String
    /// The program's name (its C function), or nil to select by `section` or take the only one.
    public var program: String?
    /// ELF section to select the program by.
    public var section: String?
    /// The hook it goes on.
    public var hook: AttachHook
    /// XDP mode: generic (default) or native.
    public var xdpMode: XDPMode = .generic
    /// tc filter priority; by default 1, 2, ... in file order per interface and hook.
    public var priority: UInt16?
    /// Pin the object's maps under /sys/fs/bpf/netbpf/sim/NAME/HOST/OBJECT/ (default true).
    public var pinMaps: Bool = true
    /// Where it is in the file.
    public var location: SourceLocation
}

/// A configured interface of a host (created by a link or declared only to set `lo`).
public struct InterfaceConfig: Sendable, Equatable {
    /// The interface's name in the host.
    public var name: String
    /// What to set on it.
    public var settings: InterfaceSettings
}

/// A VXLAN device inside a host.
public struct VXLANConfig: Sendable, Equatable {
    /// The device's name.
    public var name: String
    /// The VXLAN network identifier (24 bits).
    public var vni: UInt32
    /// Multicast group (needs `underlay`) ...
    public var group: IPAddress?
    /// ... or a unicast remote VTEP.
    public var remote: IPAddress?
    /// The UDP destination port (default 4789).
    public var port: UInt16 = 4789
    /// The underlay interface in the same host (IFLA_VXLAN_LINK).
    public var underlay: String?
    /// The source address; nil lets routing choose.
    public var local: IPAddress?
    /// The outer TTL; nil inherits.
    public var ttl: UInt8?
    /// Learn remote MACs from received frames (default true).
    public var learning: Bool = true
    /// Addresses, MTU (default: the underlay's minus 50), MAC, up, programs.
    public var settings: InterfaceSettings
}

/// A static route.
public struct RouteConfig: Sendable, Equatable {
    /// nil = default route (`to: default`).
    public var destination: IPPrefix?
    /// Family of a default route written as `default6` / given by `via`.
    public var family: IPAddress.Family
    /// The gateway.
    public var via: IPAddress?
    /// The output interface (enough on its own for an on-link route).
    public var dev: String?
    /// The route's priority.
    public var metric: UInt32?
    /// The preferred source address (`src:`).
    public var source: IPAddress?
    /// Where it is in the file.
    public var location: SourceLocation
}

/// A sysctl below /proc/sys/net written inside the host's namespace.
public struct SysctlSetting: Sendable, Equatable {
    /// As written (`ip_forward`, `net.ipv4.conf.all.rp_filter`).
    public var key: String
    /// The files written, relative to /proc/sys (`net/ipv4/ip_forward`).
    public var paths: [String]
    /// The value written.
    public var value: String
    /// Where it is in the file.
    public var location: SourceLocation
}

/// A process started inside a host once the network is built, output in the state directory.
public struct ProcessConfig: Sendable, Equatable {
    /// Names the log file: HOST.NAME.log (default: the index).
    public var name: String
    /// argv; a string command is run as ["/bin/sh", "-c", command].
    public var argv: [String]
    /// Variables added to the environment (`env:`).
    public var environment: [String: String] = [:]
    /// The working directory (`cwd:`); nil keeps netbpf's.
    public var directory: String?
    /// Where it is in the file.
    public var location: SourceLocation

    /// The command as written: the shell command, or the argv joined by spaces.
    public var commandLine: String {
        argv.count == 3 && argv[0] == "/bin/sh" && argv[1] == "-c" ? argv[2] : argv.joined(separator: " ")
    }
}

// The parts of a topology, nested so that `Host`, `Link`, `Bridge` and `Endpoint` do not clash
// with Foundation's `Host` or a consumer's own names.
extension Topology {
    /// A host: one network namespace.
    public struct Host: Sendable, Equatable {
        /// The host's name (its namespace is nb-SIMULATION-NAME).
        public var name: String
        /// Interfaces with settings, in file order.
        public var interfaces: [InterfaceConfig] = []
        /// VXLAN devices to create.
        public var vxlans: [VXLANConfig] = []
        /// Static routes to add.
        public var routes: [RouteConfig] = []
        /// Sysctls to write in its namespace.
        public var sysctls: [SysctlSetting] = []
        /// Processes to start once the network is built.
        public var processes: [ProcessConfig] = []
        /// Where it is in the file.
        public var location: SourceLocation

        /// The settings written for interface `name` (defaults when it has none).
        public func settings(for name: String) -> InterfaceSettings {
            interfaces.first { $0.name == name }?.settings ?? InterfaceSettings()
        }
    }

    /// A Linux bridge (no VLAN filtering on this kernel).
    public struct Bridge: Sendable, Equatable {
        /// The bridge device's name.
        public var name: String
        /// The host whose namespace holds it; nil = its own namespace nb-SIM-NAME.
        public var host: String?
        /// Interfaces of that host enslaved to it (veth ends, VXLAN devices); links naming the
        /// bridge as an endpoint add their bridge-side end as a port too.
        public var ports: [String]
        /// Settings of the bridge device itself.
        public var settings: InterfaceSettings
        /// Where it is in the file.
        public var location: SourceLocation
    }

    /// One end of a veth link.
    public enum Endpoint: Sendable, Equatable, CustomStringConvertible {
        /// HOST:IFNAME
        case host(String, String)
        /// BRIDGE or BRIDGE:PORTNAME (the bridge-side end, enslaved to the bridge).
        case bridge(String, port: String?)
        /// root:NAME, an interface in the machine's own namespace (named with the simulation's
        /// root prefix, see `Topology.rootInterfacePrefix`).
        case root(String)

        /// As written in the file: "HOST:IF", "BRIDGE[:PORT]", "root:NAME".
        public var description: String {
            switch self {
            case .host(let h, let i): return "\(h):\(i)"
            case .bridge(let b, let p): return p.map { "\(b):\($0)" } ?? b
            case .root(let n): return "root:\(n)"
            }
        }
    }

    /// A veth pair between two endpoints.
    public struct Link: Sendable, Equatable {
        /// The first end.
        public var a: Endpoint
        /// The second end.
        public var b: Endpoint
        /// The MTU of both ends; nil keeps the kernel's.
        public var mtu: UInt32?
        /// Where it is in the file.
        public var location: SourceLocation
    }
}
