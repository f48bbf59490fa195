import NetBPFNetlink

/// What `netbpf bridge` does: which underlay, which tenant port carries which VNI, and where
/// flooded frames go (a multicast group, or every mesh remote).
public struct BridgeConfig: Sendable, Equatable {
    /// A tenant port: the interface whose frames belong to one VNI (and where that VNI's tunnel frames
    /// are delivered).
    public struct Port: Sendable, Equatable {
        /// The VXLAN network identifier (24 bits).
        public var vni: UInt32
        /// The tenant interface's name, in the bridge's namespace.
        public var interface: String
        /// A port carrying `vni` on `interface`.
        public init(vni: UInt32, interface: String) { self.vni = vni; self.interface = interface }
    }

    /// Where broadcast, multicast and unknown-unicast frames go (the `db_flood` map).
    public enum Flood: Sendable, Equatable {
        /// Flooded frames go to one multicast group (BCC's default mode); the VXLAN device joins it.
        case multicast(IPAddress)
        /// Flooded frames go to each remote VTEP, one copy each (BCC's mesh mode).
        case mesh([IPAddress])
    }

    /// 239.1.1.1, the multicast group BCC's distributed_bridge uses.
    public static let defaultGroup = IPAddress("239.1.1.1")!
    /// "vxlan0", the VXLAN device used or created when none is named.
    public static let defaultVXLAN = "vxlan0"

    /// The interface that carries the tunnel (its IPv4 address is the local VTEP).
    public var underlay: String
    /// The tenant ports, one per VNI.
    public var ports: [Port]
    /// Where flooded frames go.
    public var flood: Flood
    /// The VXLAN device: used if it exists (it must be in external mode), else created (and
    /// deleted again when the bridge stops).
    public var vxlan: String
    /// The network namespace (/run/netns/NAME) everything is in; nil: the caller's.
    public var namespace: String?
    /// UDP port of a VXLAN device netbpf creates.
    public var udpPort: UInt16
    /// Outer TTL of the frames sent.
    public var ttl: UInt8

    /// A config; nothing is checked until `validate()` or `DistributedBridge.start`.
    public init(underlay: String, ports: [Port], flood: Flood = .multicast(BridgeConfig.defaultGroup), vxlan: String = BridgeConfig.defaultVXLAN,
                namespace: String? = nil, udpPort: UInt16 = 4789, ttl: UInt8 = 64) {
        self.underlay = underlay
        self.ports = ports
        self.flood = flood
        self.vxlan = vxlan
        self.namespace = namespace
        self.udpPort = udpPort
        self.ttl = ttl
    }

    /// From `--underlay`, `--vni VNI=TENANT_IFACE`, `--mesh REMOTE`, `--group GROUP`; errors name the bad argument.
    /// - Throws: `ControllerError` naming the bad argument.
    public static func fromArguments(underlay: String?, vnis: [String], mesh: [String], group: String?, vxlan: String?,
                                     namespace: String?) throws -> BridgeConfig {
        guard let underlay else { throw ControllerError("--underlay is required", hint: "netbpf bridge --underlay eth0 --vni 10000=ten0 ...") }
        guard !vnis.isEmpty else { throw ControllerError("give at least one --vni VNI=TENANT_IFACE", hint: "e.g. --vni 10000=ten0") }
        var ports: [Port] = []
        for v in vnis {
            let parts = v.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2 else { throw ControllerError("--vni '\(v)' is not VNI=TENANT_IFACE", hint: "e.g. --vni 10000=ten0") }
            guard let vni = UInt32(parts[0]), vni >= 1, vni < 1 << 24 else {
                throw ControllerError("--vni '\(v)': '\(parts[0])' is not a VNI", hint: "a VXLAN network identifier is 1 to 16777215")
            }
            ports.append(Port(vni: vni, interface: String(parts[1])))
        }
        let flood: Flood
        if !mesh.isEmpty {
            if let group { throw ControllerError("--group \(group) and --mesh: give one or the other", hint: "multicast mode floods to a group, mesh mode to each remote") }
            var remotes: [IPAddress] = []
            for m in mesh {
                guard let a = IPAddress(m), a.family == .v4 else {
                    throw ControllerError("--mesh '\(m)' is not an IPv4 address", hint: "the underlay address of a remote host, e.g. --mesh 172.16.1.101")
                }
                if a.isMulticast { throw ControllerError("--mesh \(m) is a multicast address", hint: "for multicast mode use --group \(m) instead of --mesh") }
                if a.bytes == [0, 0, 0, 0] || a.bytes == [255, 255, 255, 255] { throw ControllerError("--mesh \(m) is not a host address") }
                if remotes.contains(a) { throw ControllerError("--mesh \(m) given twice") }
                remotes.append(a)
            }
            flood = .mesh(remotes)
        } else if let group {
            guard let g = IPAddress(group), g.family == .v4 else { throw ControllerError("--group '\(group)' is not an IPv4 address", hint: "e.g. --group 239.1.1.1") }
            guard g.isMulticast else { throw ControllerError("--group \(group) is not a multicast address", hint: "224.0.0.0/4, e.g. 239.1.1.1; for unicast remotes use --mesh") }
            flood = .multicast(g)
        } else {
            flood = .multicast(defaultGroup)
        }
        let config = BridgeConfig(underlay: underlay, ports: ports, flood: flood, vxlan: vxlan ?? defaultVXLAN, namespace: namespace)
        try config.validate()
        return config
    }

    static func checkName(_ name: String, place: String) throws {
        guard Interface.isValidName(name) else {
            throw ControllerError("\(place): '\(name)' is not an interface name", hint: Interface.nameRule)
        }
    }

    /// Checks what can be checked without the kernel.
    /// - Throws: `ControllerError` for no VNI, too many VNIs or mesh remotes, a VNI or port given
    ///   twice, or a port (or underlay) that is the VXLAN device or the underlay.
    public func validate() throws {
        try Self.checkName(underlay, place: "--underlay")
        try Self.checkName(vxlan, place: "--vxlan")
        if ports.isEmpty { throw ControllerError("no VNI: map at least one VNI to a tenant port") }
        if ports.count > DBLimits.vnis { throw ControllerError("\(ports.count) VNIs; at most \(DBLimits.vnis)") }
        var vnis: Set<UInt32> = [], names: Set<String> = []
        for p in ports {
            try Self.checkName(p.interface, place: "--vni \(p.vni)=\(p.interface)")
            if !vnis.insert(p.vni).inserted { throw ControllerError("--vni \(p.vni) given twice", hint: "a VNI has one tenant port") }
            if !names.insert(p.interface).inserted { throw ControllerError("tenant port '\(p.interface)' is given for two VNIs", hint: "a port carries one VNI") }
            if p.interface == underlay { throw ControllerError("--vni \(p.vni)=\(p.interface): the tenant port is the underlay") }
            if p.interface == vxlan { throw ControllerError("--vni \(p.vni)=\(p.interface): the tenant port is the VXLAN device") }
        }
        if underlay == vxlan { throw ControllerError("--underlay \(underlay) is the VXLAN device", hint: "the underlay is the interface that carries the UDP packets") }
        if case .mesh(let remotes) = flood, remotes.count > DBLimits.flood {
            throw ControllerError("\(remotes.count) mesh remotes; at most \(DBLimits.flood)", hint: "DB_MAX_FLOOD in programs/include/distributed_bridge.h")
        }
    }

    /// The flood destinations, IPv4 in host byte order (as struct bpf_tunnel_key holds them).
    var floodAddresses: [UInt32] {
        switch flood {
        case .multicast(let g): return [g.hostOrderIPv4]
        case .mesh(let r): return r.map(\.hostOrderIPv4)
        }
    }
}

extension IPAddress {
    var hostOrderIPv4: UInt32 { bytes.count == 4 ? bytes.reduce(0) { $0 << 8 | UInt32($1) } : 0 }
    static func fromHostOrder(_ v: UInt32) -> IPAddress {
        IPAddress(bytes: [UInt8(v >> 24), UInt8(v >> 16 & 0xff), UInt8(v >> 8 & 0xff), UInt8(v & 0xff)])!
    }
}

/// A distributed bridge error in one line, naming the bad value.
