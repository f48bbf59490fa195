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
    public var absolutePath: String
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
    public var addresses: [IPPrefix] = []
    public var mtu: UInt32?
    public var mac: MACAddress?
    /// Bring it up (default true).
    public var up: Bool = true
    public var bpf: [BPFAttachment] = []
    /// Makes this interface a VLAN access port: frames it receives are tagged and sent out of
    /// the trunk; frames with this VLAN id arriving on the trunk are untagged and sent here.
    public var vlanAccess: VLANAccess?
    public var location: SourceLocation = SourceLocation(path: "")
    public init() {}
}

/// A VLAN access port (`vlan-access: {vlan: 10, trunk: trunk0}`), implemented by netbpf's
/// programs/vlan_access.bpf.c since the kernel has no 8021q.
public struct VLANAccess: Sendable, Equatable {
    public var vlan: UInt16
    public var trunk: String
    public var location: SourceLocation
}

/// Where a BPF program is attached.
public enum AttachHook: String, Sendable, CaseIterable {
    case tcIngress = "tc-ingress"
    case tcEgress = "tc-egress"
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
    public var hook: AttachHook
    /// XDP mode: generic (default) or native.
    public var xdpMode: XDPMode = .generic
    /// tc filter priority; by default 1, 2, ... in file order per interface and hook.
    public var priority: UInt16?
    /// Pin the object's maps under /sys/fs/bpf/netbpf/sim/NAME/HOST/OBJECT/ (default true).
    public var pinMaps: Bool = true
    public var location: SourceLocation
}

/// A configured interface of a host (created by a link or declared only to set `lo`).
public struct InterfaceConfig: Sendable, Equatable {
    public var name: String
    public var settings: InterfaceSettings
}

/// A VXLAN device inside a host.
public struct VXLANConfig: Sendable, Equatable {
    public var name: String
    public var vni: UInt32
    /// Multicast group (needs `underlay`) ...
    public var group: IPAddress?
    /// ... or a unicast remote VTEP.
    public var remote: IPAddress?
    public var port: UInt16 = 4789
    /// The underlay interface in the same host (IFLA_VXLAN_LINK).
    public var underlay: String?
    public var local: IPAddress?
    public var ttl: UInt8?
    public var learning: Bool = true
    public var settings: InterfaceSettings
}

/// A static route.
public struct RouteConfig: Sendable, Equatable {
    /// nil = default route (`to: default`).
    public var destination: IPPrefix?
    /// Family of a default route written as `default6` / given by `via`.
    public var family: IPAddress.Family
    public var via: IPAddress?
    public var dev: String?
    public var metric: UInt32?
    public var source: IPAddress?
    public var location: SourceLocation
}

/// A sysctl below /proc/sys/net written inside the host's namespace.
public struct SysctlSetting: Sendable, Equatable {
    /// As written (`ip_forward`, `net.ipv4.conf.all.rp_filter`).
    public var key: String
    /// The files written, relative to /proc/sys (`net/ipv4/ip_forward`).
    public var paths: [String]
    public var value: String
    public var location: SourceLocation
}

/// A process started inside a host once the network is built, output in the state directory.
public struct ProcessConfig: Sendable, Equatable {
    /// Names the log file: HOST.NAME.log (default: the index).
    public var name: String
    /// argv; a string command is run as ["/bin/sh", "-c", command].
    public var argv: [String]
    public var environment: [String: String] = [:]
    public var directory: String?
    public var location: SourceLocation

    public var commandLine: String {
        argv.count == 3 && argv[0] == "/bin/sh" && argv[1] == "-c" ? argv[2] : argv.joined(separator: " ")
    }
}

/// A host: one network namespace.
public struct Host: Sendable, Equatable {
    public var name: String
    public var interfaces: [InterfaceConfig] = []
    public var vxlans: [VXLANConfig] = []
    public var routes: [RouteConfig] = []
    public var sysctls: [SysctlSetting] = []
    public var processes: [ProcessConfig] = []
    public var location: SourceLocation

    /// The settings written for interface `name` (defaults when it has none).
    public func settings(for name: String) -> InterfaceSettings {
        interfaces.first { $0.name == name }?.settings ?? InterfaceSettings()
    }
}

/// A Linux bridge (no VLAN filtering on this kernel).
public struct Bridge: Sendable, Equatable {
    public var name: String
    /// The host whose namespace holds it; nil = its own namespace nb-SIM-NAME.
    public var host: String?
    /// Interfaces of that host enslaved to it (veth ends, VXLAN devices); links naming the
    /// bridge as an endpoint add their bridge-side end as a port too.
    public var ports: [String]
    public var settings: InterfaceSettings
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
    public var a: Endpoint
    public var b: Endpoint
    public var mtu: UInt32?
    public var location: SourceLocation
}
