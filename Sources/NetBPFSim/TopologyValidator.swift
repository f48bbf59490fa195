import Foundation
import NetBPFNetlink

/// Cross-checks a parsed topology before anything is created: names (syntax, duplicates,
/// IFNAMSIZ), references (links to undefined hosts, ports and underlays that do not exist),
/// addresses (duplicates in a host, gateways not on a connected network), VLAN ports, BPF files,
/// sysctls, processes and bridge loops. Every problem goes to the log with its location.
struct TopologyValidator {
    let log: IssueLog
    let topology: Topology
    let nameOverridden: Bool

    static let maxInterfaceName = 15

    func validate() {
        checkNames()
        let table = checkLinksAndInterfaces()
        for host in topology.hosts { checkHost(host, interfaces: table[host.name] ?? []) }
        for bridge in topology.bridges { checkBridge(bridge, interfaces: table[topology.node(of: bridge)] ?? []) }
        checkBridgeLoops(table)
        checkRootInterfaces()
    }

    func checkRootInterfaces() {
        let ends = Set(topology.links.flatMap { [$0.a, $0.b] }.compactMap { e -> String? in
            if case .root(let n) = e { return n } else { return nil }
        })
        var seen: Set<IPAddress> = []
        for cfg in topology.rootInterfaces {
            if !ends.contains(cfg.name) {
                log.add(cfg.settings.location, "no link has the end root:\(cfg.name)",
                        hint: "settings under root.interfaces are for link ends written root:NAME")
            }
            for a in cfg.settings.addresses where !seen.insert(a.address).inserted {
                log.add(cfg.settings.location, "address \(a.address) is given twice in the root namespace")
            }
        }
    }

    // MARK: Names

    static func isNodeName(_ s: String) -> Bool {
        guard let first = s.unicodeScalars.first, s.utf8.count <= 32 else { return false }
        let ok = CharacterSet.alphanumerics
        return ok.contains(first) && s.unicodeScalars.allSatisfy { ok.contains($0) || "_.-".unicodeScalars.contains($0) }
            && s.allSatisfy(\.isASCII)
    }

    static func isSimulationName(_ s: String) -> Bool {
        guard let first = s.unicodeScalars.first, s.utf8.count <= 24, s.allSatisfy(\.isASCII) else { return false }
        return CharacterSet.alphanumerics.contains(first)
            && s.unicodeScalars.allSatisfy { CharacterSet.alphanumerics.contains($0) || "_-".unicodeScalars.contains($0) }
    }

    /// Why `name` cannot be an interface name, or nil if it can (the kernel's dev_valid_name).
    static func interfaceNameProblem(_ name: String) -> String? {
        if name.isEmpty { return "an interface name cannot be empty" }
        if name.utf8.count > maxInterfaceName { return "interface name '\(name)' is \(name.utf8.count) bytes, the kernel allows \(maxInterfaceName) (IFNAMSIZ 16 with the NUL)" }
        if name == "." || name == ".." { return "'\(name)' is not a valid interface name" }
        if name.contains(where: { $0 == "/" || $0 == ":" || $0.isWhitespace }) { return "interface name '\(name)' contains '/', ':' or a space" }
        return nil
    }

    func checkNames() {
        if !Self.isSimulationName(topology.name) {
            log.add(SourceLocation(line: nameOverridden ? nil : 1, path: nameOverridden ? "(--name)" : "name"),
                    "'\(topology.name)' is not a usable simulation name",
                    hint: "1 to 24 letters, digits, '-' or '_', starting with a letter or digit (namespaces are named nb-NAME-HOST)")
        }
        if topology.hosts.isEmpty && topology.standaloneBridges.isEmpty {
            log.add(SourceLocation(line: 1, path: "hosts"), "the topology has no hosts", hint: "add at least one host under hosts:")
        }
        var seen: [String: SourceLocation] = [:]
        for h in topology.hosts {
            if !Self.isNodeName(h.name) {
                log.add(h.location, "'\(h.name)' is not a usable host name", hint: "letters, digits, '.', '-' or '_', at most 32, starting with a letter or digit")
            }
            if h.name == "root" { log.add(h.location, "'root' is reserved for the machine's own namespace", hint: "rename the host") }
            seen[h.name] = h.location
        }
        for b in topology.bridges {
            if let other = seen[b.name] {
                log.add(b.location, "duplicate name '\(b.name)': a host (line \(other.line ?? 0)) already has it",
                        hint: "hosts and bridges share one set of names; rename one")
            }
            if b.name == "root" { log.add(b.location, "'root' is reserved for the machine's own namespace", hint: "rename the bridge") }
            if !Self.isNodeName(b.name) {
                log.add(b.location, "'\(b.name)' is not a usable bridge name", hint: "letters, digits, '.', '-' or '_', starting with a letter or digit")
            } else if let p = Self.interfaceNameProblem(b.name) {
                log.add(b.location, p, hint: "a bridge is an interface too: use a shorter name")
            }
            seen[b.name] = b.location
        }
    }

    // MARK: Links and interface names

    func checkLinksAndInterfaces() -> [String: [(name: String, origin: InterfaceOrigin)]] {
        let hostNames = Set(topology.hosts.map(\.name))
        var endpointsSeen: [String: Int] = [:]
        for (i, link) in topology.links.enumerated() {
            let loc = link.location
            for end in [link.a, link.b] {
                if case .host(let h, _) = end, !hostNames.contains(h) {
                    let suggestion = YAMLReader.closest(h, in: Array(hostNames) + topology.bridges.map(\.name))
                    log.add(loc, "link endpoint '\(end)' names host '\(h)', which is not defined",
                            hint: suggestion.map { "did you mean '\($0)'?" } ?? "define it under hosts:")
                }
                if case .bridge(let b, _) = end, let bridge = topology.bridge(named: b), let h = bridge.host, !hostNames.contains(h) {
                    // reported with the bridge
                    _ = h
                }
            }
            let (a, b) = topology.resolve(link)
            if a.node == nil && b.node == nil {
                log.add(loc, "both ends of the link are in the root namespace", hint: "a link needs at least one simulated host or bridge")
            }
            if a.node == b.node && a.interface == b.interface {
                log.add(loc, "both ends of the link are the same interface '\(link.a)'")
            }
            for (end, resolved) in [(link.a, a), (link.b, b)] {
                let key = "\(resolved.node ?? "(root)")/\(resolved.interface)"
                if let first = endpointsSeen[key] {
                    log.add(loc, "interface '\(resolved.interface)' of \(resolved.node.map { "'\($0)'" } ?? "the root namespace") is already created by links[\(first)]",
                            hint: "give each link its own interface name\(resolved.bridge != nil ? " (for a bridge: \(resolved.bridge!):PORTNAME)" : "")")
                } else {
                    endpointsSeen[key] = i
                }
                if let p = Self.interfaceNameProblem(resolved.interface) {
                    var hint = "use a shorter interface name"
                    if case .bridge(let br, nil) = end { hint = "name the bridge-side port yourself: \(br):PORTNAME" }
                    if case .root = end { hint = "root-namespace names get the 7-byte prefix \(topology.rootInterfacePrefix); keep the name to 8 bytes" }
                    log.add(loc, p, hint: hint)
                }
                if resolved.interface == "lo" { log.add(loc, "'lo' is the loopback device and cannot be a link end", hint: "name the interface eth0, eth1, ...") }
            }
        }
        let table = topology.interfaceTable()
        // Same name created twice in one node by different kinds of objects.
        for (node, entries) in table {
            var first: [String: InterfaceOrigin] = [:]
            for e in entries {
                if let f = first[e.name] {
                    if case .veth = f, case .veth = e.origin { continue } // reported above
                    log.add(locationOfNode(node), "interface '\(e.name)' of '\(node)' would be created twice (by \(f.text) and by \(e.origin.text))",
                            hint: "rename one of them")
                } else {
                    first[e.name] = e.origin
                }
            }
        }
        for h in topology.hosts {
            for v in h.vxlans {
                if let p = Self.interfaceNameProblem(v.name) { log.add(v.settings.location, p, hint: "use a shorter name") }
            }
        }
        return table
    }

    func locationOfNode(_ node: String) -> SourceLocation {
        topology.host(named: node)?.location ?? topology.bridge(named: node)?.location ?? SourceLocation(path: node)
    }

    // MARK: Hosts

    func checkHost(_ host: Topology.Host, interfaces: [(name: String, origin: InterfaceOrigin)]) {
        let names = Dictionary(interfaces.map { ($0.name, $0.origin) }, uniquingKeysWith: { a, _ in a })
        var allSettings: [(String, InterfaceSettings)] = []
        for cfg in host.interfaces {
            let loc = cfg.settings.location
            if cfg.name == "lo" {
                if cfg.settings.vlanAccess != nil { log.add(loc, "'lo' cannot be a VLAN access port") }
                if cfg.settings.mac != nil { log.add(loc, "'lo' has no MAC address to set") }
            } else if let origin = names[cfg.name] {
                switch origin {
                case .vxlan:
                    log.add(loc, "'\(cfg.name)' is a VXLAN device", hint: "put its settings under hosts.\(host.name).vxlans.\(cfg.name)")
                case .bridge:
                    log.add(loc, "'\(cfg.name)' is a bridge", hint: "put its settings under bridges.\(cfg.name)")
                default: break
                }
            } else {
                let suggestion = YAMLReader.closest(cfg.name, in: names.keys.sorted())
                log.add(loc, "no link or VXLAN device creates interface '\(cfg.name)' in host '\(host.name)'",
                        hint: suggestion.map { "did you mean '\($0)'?" } ?? "add a link such as [\(host.name):\(cfg.name), OTHER:eth0]")
            }
            allSettings.append((cfg.name, cfg.settings))
        }
        var vxlanKeys: [String: String] = [:]
        for v in host.vxlans {
            checkVXLAN(v, host: host, names: names)
            allSettings.append((v.name, v.settings))
            // The kernel allows one device per VNI and UDP port in a namespace.
            let key = "\(v.vni)/\(v.port)"
            if let other = vxlanKeys[key] {
                log.add(v.settings.location, "VXLAN devices '\(other)' and '\(v.name)' of host '\(host.name)' both use VNI \(v.vni) on port \(v.port)",
                        hint: "the kernel allows one device per VNI and port in a namespace")
            }
            vxlanKeys[key] = v.name
        }
        for b in topology.bridges where b.host == host.name { allSettings.append((b.name, b.settings)) }

        // Addresses and MACs unique within the host; BPF attachments sane.
        var addressSeen: [IPAddress: String] = [:]
        var macSeen: [MACAddress: String] = [:]
        for (ifname, s) in allSettings {
            for a in s.addresses {
                if let other = addressSeen[a.address] {
                    log.add(s.location, "address \(a.address) is on both '\(other)' and '\(ifname)' in host '\(host.name)'", hint: "give each interface its own address")
                }
                addressSeen[a.address] = ifname
            }
            if let mac = s.mac {
                if let other = macSeen[mac] { log.add(s.location, "MAC \(mac) is on both '\(other)' and '\(ifname)'") }
                macSeen[mac] = ifname
            }
            checkBPF(s.bpf, interface: ifname)
        }
        checkVLANPorts(host: host, names: names)

        // Routes: the device exists; the gateway is on a connected network.
        let connected = allSettings.flatMap { $0.1.addresses }
        var routeKeys: Set<String> = []
        for r in host.routes {
            if let dev = r.dev, names[dev] == nil && dev != "lo" {
                log.add(r.location, "route device '\(dev)' is not an interface of host '\(host.name)'",
                        hint: YAMLReader.closest(dev, in: names.keys.sorted()).map { "did you mean '\($0)'?" } ?? "interfaces: \(names.keys.sorted().joined(separator: ", "))")
            }
            if let via = r.via {
                let linkLocal = via.family == .v6 && via.bytes[0] == 0xfe && via.bytes[1] & 0xc0 == 0x80
                if linkLocal && r.dev == nil {
                    log.add(r.location, "gateway \(via) is link-local", hint: "add dev: IFNAME")
                } else if !linkLocal && !connected.contains(where: { Self.contains($0, via) }) {
                    log.add(r.location, "gateway \(via) is not on a network of host '\(host.name)'",
                            hint: "give one of its interfaces an address in the gateway's subnet")
                }
            }
            let key = "\(r.family)/\(r.destination?.network.description ?? "default")/\(r.destination?.prefixLength ?? 0)/\(r.metric ?? 0)"
            if !routeKeys.insert(key).inserted {
                log.add(r.location, "a route to \(r.destination?.description ?? "default") with this metric is given twice")
            }
        }

        // Sysctls exist (checked against this machine's own /proc/sys/net).
        for s in host.sysctls {
            for path in s.paths {
                let parts = path.split(separator: "/").map(String.init)
                var probe = path
                if parts.count >= 5, ["conf", "neigh"].contains(parts[2]), !["all", "default"].contains(parts[3]) {
                    if names[parts[3]] == nil && parts[3] != "lo" {
                        log.add(s.location, "sysctl '\(s.key)' names interface '\(parts[3])', which host '\(host.name)' does not have")
                        continue
                    }
                    probe = (parts[0...2] + [parts[2] == "conf" ? "all" : "default"] + parts[4...]).joined(separator: "/")
                }
                if access("/proc/sys/" + probe, F_OK) != 0 {
                    log.add(s.location, "sysctl '\(s.key)' does not exist (/proc/sys/\(path))",
                            hint: "check the name with: sysctl -a | grep \(parts.last ?? s.key)")
                }
            }
        }

        // Processes: unique names (they name the log files), existing working directory.
        var processNames: Set<String> = []
        for p in host.processes {
            if !processNames.insert(p.name).inserted {
                log.add(p.location, "two processes of host '\(host.name)' are named '\(p.name)'", hint: "give them distinct name: keys (they name the log files)")
            }
            if p.name.contains("/") { log.add(p.location, "process name '\(p.name)' contains '/'") }
            if let d = p.directory {
                var isDir: ObjCBool = false
                if !FileManager.default.fileExists(atPath: d, isDirectory: &isDir) || !isDir.boolValue {
                    log.add(p.location, "working directory '\(d)' does not exist")
                }
            }
        }
    }

    static func contains(_ prefix: IPPrefix, _ address: IPAddress) -> Bool {
        guard prefix.address.family == address.family else { return false }
        return IPPrefix(address, prefixLength: prefix.prefixLength).network == prefix.network
    }

    func checkVXLAN(_ v: VXLANConfig, host: Topology.Host, names: [String: InterfaceOrigin]) {
        let loc = v.settings.location
        switch (v.group, v.remote) {
        case (nil, nil):
            log.add(loc, "VXLAN device '\(v.name)' needs 'group:' (multicast) or 'remote:' (unicast)",
                    hint: "e.g. group: 239.1.1.1 with underlay: eth0")
        case (.some, .some):
            log.add(loc, "give either 'group:' or 'remote:', not both")
        case (.some(let g), nil):
            if !g.isMulticast { log.add(loc, "group \(g) is not a multicast address", hint: "use 224.0.0.0/4 (e.g. 239.1.1.1) or ff00::/8, or write remote: for a unicast peer") }
            if v.underlay == nil { log.add(loc, "a multicast group needs 'underlay:'", hint: "the interface that carries the tunnel, e.g. underlay: eth0") }
        case (nil, .some(let r)):
            if r.isMulticast { log.add(loc, "remote \(r) is a multicast address", hint: "write group: \(r) instead") }
        }
        if let u = v.underlay {
            if u == v.name { log.add(loc, "a VXLAN device cannot be its own underlay") }
            else if names[u] == nil { log.add(loc, "underlay '\(u)' is not an interface of host '\(host.name)'",
                                              hint: YAMLReader.closest(u, in: names.keys.sorted()).map { "did you mean '\($0)'?" }) }
        }
        if let l = v.local, let peer = v.group ?? v.remote, l.family != peer.family {
            log.add(loc, "local \(l) and \(v.group != nil ? "group" : "remote") \(peer) are of different address families")
        }
    }

    func checkBPF(_ list: [BPFAttachment], interface: String) {
        var xdpSeen = false
        var priorities: [AttachHook: Set<UInt16>] = [:]
        for a in list {
            var isDir: ObjCBool = false
            if !FileManager.default.fileExists(atPath: a.file, isDirectory: &isDir) || isDir.boolValue {
                log.add(a.location, "BPF program file '\(a.fileAsWritten)' not found (\(a.file))",
                        hint: "paths are relative to the topology file's directory")
            } else if !(a.file.hasSuffix(".c") || a.file.hasSuffix(".o")) {
                log.add(a.location, "'\(a.fileAsWritten)' is neither BPF C (.c) nor an object (.o)")
            }
            if a.program != nil && a.section != nil {
                log.add(a.location, "give 'program:' or 'section:', not both")
            }
            if a.hook == .xdp {
                if xdpSeen { log.add(a.location, "interface '\(interface)' has two XDP programs", hint: "an interface runs one XDP program") }
                xdpSeen = true
            } else if let p = a.priority, !priorities[a.hook, default: []].insert(p).inserted {
                log.add(a.location, "two \(a.hook.rawValue) programs on '\(interface)' have priority \(p)")
            }
        }
    }

    func checkVLANPorts(host: Topology.Host, names: [String: InterfaceOrigin]) {
        var trunkVLANs: [String: [UInt16: String]] = [:]
        let bridgePorts = bridgePortsOf(node: host.name)
        let accessPorts = Set(host.interfaces.filter { $0.settings.vlanAccess != nil }.map(\.name))
        for cfg in host.interfaces {
            guard let v = cfg.settings.vlanAccess else { continue }
            if case .veth? = names[cfg.name] {} else { continue } // reported elsewhere
            if !cfg.settings.addresses.isEmpty {
                log.add(v.location, "VLAN access port '\(cfg.name)' has addresses, but its frames are switched by BPF and never reach this host's stack",
                        hint: "put the addresses on the interface at the other end of the link")
            }
            if bridgePorts.contains(cfg.name) { log.add(v.location, "'\(cfg.name)' is both a bridge port and a VLAN access port") }
            if v.trunk == cfg.name {
                log.add(v.location, "'\(cfg.name)' cannot be its own trunk")
                continue
            }
            guard case .veth? = names[v.trunk] else {
                log.add(v.location, "trunk '\(v.trunk)' is not a veth interface of host '\(host.name)'",
                        hint: YAMLReader.closest(v.trunk, in: names.keys.sorted()).map { "did you mean '\($0)'?" } ?? "add a link for the trunk, e.g. [\(host.name):\(v.trunk), OTHER:\(v.trunk)]")
                continue
            }
            if accessPorts.contains(v.trunk) { log.add(v.location, "trunk '\(v.trunk)' is itself a VLAN access port") }
            if bridgePorts.contains(v.trunk) { log.add(v.location, "trunk '\(v.trunk)' is a bridge port; a trunk is switched by BPF") }
            if !host.settings(for: v.trunk).addresses.isEmpty {
                log.add(v.location, "trunk '\(v.trunk)' has addresses, but its frames are switched by BPF")
            }
            if let other = trunkVLANs[v.trunk]?[v.vlan] {
                log.add(v.location, "VLAN \(v.vlan) on trunk '\(v.trunk)' already has access port '\(other)'",
                        hint: "one access port per VLAN per trunk (the BPF switch does no MAC learning)")
            }
            trunkVLANs[v.trunk, default: [:]][v.vlan] = cfg.name
        }
    }

    func bridgePortsOf(node: String) -> Set<String> {
        var ports: Set<String> = []
        for b in topology.bridges where topology.node(of: b) == node { ports.formUnion(b.ports) }
        for link in topology.links {
            let (a, b) = topology.resolve(link)
            for e in [a, b] where e.node == node && e.bridge != nil { ports.insert(e.interface) }
        }
        return ports
    }

    // MARK: Bridges

    func checkBridge(_ bridge: Topology.Bridge, interfaces: [(name: String, origin: InterfaceOrigin)]) {
        let node = topology.node(of: bridge)
        if let h = bridge.host, topology.host(named: h) == nil {
            log.add(bridge.location, "bridge '\(bridge.name)' is in host '\(h)', which is not defined",
                    hint: YAMLReader.closest(h, in: topology.hosts.map(\.name)).map { "did you mean '\($0)'?" } ?? "define the host, or leave host: out to give the bridge its own namespace")
            return
        }
        if bridge.host == nil && !bridge.ports.isEmpty {
            log.add(bridge.location, "bridge '\(bridge.name)' has its own namespace, so 'ports:' names nothing",
                    hint: "connect hosts with links such as [h1:eth0, \(bridge.name)], or set host: to put the bridge in a host")
        }
        if bridge.settings.vlanAccess != nil { log.add(bridge.location, "a bridge cannot be a VLAN access port") }
        let names = Dictionary(interfaces.map { ($0.name, $0.origin) }, uniquingKeysWith: { a, _ in a })
        var seen: Set<String> = []
        for port in bridge.ports where bridge.host != nil {
            if !seen.insert(port).inserted { log.add(bridge.location, "port '\(port)' is listed twice") ; continue }
            switch names[port] {
            case nil:
                log.add(bridge.location, "port '\(port)' is not an interface of host '\(node)'",
                        hint: YAMLReader.closest(port, in: names.keys.sorted()).map { "did you mean '\($0)'?" } ?? "create it with a link or a VXLAN device")
            case .bridge?:
                log.add(bridge.location, "port '\(port)' is a bridge; Linux does not put a bridge inside a bridge")
            case .veth(_, let owner?)? where owner != bridge.name:
                log.add(bridge.location, "port '\(port)' already belongs to bridge '\(owner)'")
            default:
                break
            }
            for other in topology.bridges where other.name != bridge.name && other.host == bridge.host && other.ports.contains(port) && other.name < bridge.name {
                log.add(bridge.location, "port '\(port)' is also a port of bridge '\(other.name)'")
            }
        }
        var local = bridge.settings
        local.location = bridge.location
        checkBPF(local.bpf, interface: bridge.name)
        if bridge.host == nil {
            var seenAddress: Set<IPAddress> = []
            for a in local.addresses where !seenAddress.insert(a.address).inserted {
                log.add(bridge.location, "address \(a.address) is given twice")
            }
        }
    }

    // MARK: Loops

    /// Bridges joined by veths (or by VXLAN devices with the same VNI and group) must form a
    /// forest: there is no STP, so a loop would circulate broadcasts forever.
    func checkBridgeLoops(_ table: [String: [(name: String, origin: InterfaceOrigin)]]) {
        var parent: [String: String] = [:]
        func find(_ x: String) -> String {
            var r = x
            while let p = parent[r], p != r { r = p }
            parent[x] = r
            return r
        }
        func union(_ a: String, _ b: String) -> Bool {
            let ra = find(a), rb = find(b)
            if ra == rb { return false }
            parent[ra] = rb
            return true
        }
        // Which bridge (if any) an interface of a node belongs to.
        func bridgeOf(node: String?, interface: String, end: ResolvedEnd) -> String? {
            if let b = end.bridge { return "bridge:" + b }
            guard let node else { return nil }
            return topology.bridges.first { topology.node(of: $0) == node && $0.ports.contains(interface) }.map { "bridge:" + $0.name }
        }
        for link in topology.links {
            let (a, b) = topology.resolve(link)
            guard let ba = bridgeOf(node: a.node, interface: a.interface, end: a),
                  let bb = bridgeOf(node: b.node, interface: b.interface, end: b) else { continue }
            if !union(ba, bb) {
                log.add(link.location, "this link closes a loop between bridges (\(ba.dropFirst(7)) and \(bb.dropFirst(7)) are already connected)",
                        hint: "there is no STP here: remove the link or split a bridge")
            }
        }
        for h in topology.hosts {
            for v in h.vxlans {
                guard let b = topology.bridges.first(where: { topology.node(of: $0) == h.name && $0.ports.contains(v.name) }) else { continue }
                let segment = "vxlan:\(v.vni)/\(v.group?.description ?? "unicast")/\(v.port)"
                if !union("bridge:" + b.name, segment) {
                    log.add(v.settings.location, "VXLAN device '\(v.name)' closes a loop: bridge '\(b.name)' already reaches VNI \(v.vni)",
                            hint: "there is no STP here: bridge each VNI once per host")
                }
            }
        }
    }
}
