import Foundation
import NetBPFNetlink
import Yams

/// YAML text -> `Topology`, recording every syntax and type problem in the log (the
/// cross-references are checked afterwards by `TopologyValidator`).
struct TopologyParser {
    let log: IssueLog
    let file: String
    var reader: YAMLReader { YAMLReader(log: log) }

    static let topKeys = ["name", "description", "hosts", "bridges", "links", "root"]
    static let rootSettingsKeys = ["addresses", "mtu", "mac", "up"]
    static let hostKeys = ["interfaces", "vxlans", "routes", "sysctls", "processes"]
    static let settingsKeys = ["addresses", "mtu", "mac", "up", "bpf", "vlan-access"]
    static let vxlanKeys = ["vni", "group", "remote", "port", "underlay", "local", "ttl", "learning"] + settingsKeys
    static let bridgeKeys = ["host", "ports"] + settingsKeys
    static let linkKeys = ["a", "b", "mtu"]
    static let routeKeys = ["to", "via", "dev", "metric", "src"]
    static let processKeys = ["name", "command", "env", "cwd"]
    static let bpfKeys = ["file", "program", "section", "hook", "xdp-mode", "priority", "pin-maps"]
    static let vlanKeys = ["vlan", "trunk"]

    /// Shortcut sysctl names -> files below /proc/sys.
    static let sysctlShortcuts: [String: [String]] = [
        "ip_forward": ["net/ipv4/ip_forward"],
        "ipv6_forwarding": ["net/ipv6/conf/all/forwarding", "net/ipv6/conf/default/forwarding"],
        "disable_ipv6": ["net/ipv6/conf/all/disable_ipv6", "net/ipv6/conf/default/disable_ipv6"],
        "rp_filter": ["net/ipv4/conf/all/rp_filter", "net/ipv4/conf/default/rp_filter"],
    ]

    var directory: String {
        let abs = file.hasPrefix("/") ? file : FileManager.default.currentDirectoryPath + "/" + file
        return (abs as NSString).deletingLastPathComponent
    }

    func parse(_ text: String) -> Topology? {
        guard let root = YAMLReader.compose(text, log: log) else {
            if log.isEmpty {
                log.add(SourceLocation(path: ""), "the file is empty", hint: "a topology needs at least 'hosts:'")
            }
            return nil
        }
        guard let top = reader.mapping(root, "", allowed: Self.topKeys, what: "the topology") else { return nil }
        let absolute = file.hasPrefix("/") ? file : FileManager.default.currentDirectoryPath + "/" + file
        var name = ((file as NSString).lastPathComponent as NSString).deletingPathExtension
        if let n = top.value("name") { name = reader.string(n, "name") ?? name }
        let description = top.value("description").flatMap { reader.string($0, "description") }

        var hosts: [Topology.Host] = []
        if let h = top.value("hosts") {
            if let m = reader.mapping(h, "hosts", what: "hosts") {
                for e in m.entries { hosts.append(parseHost(e.key, e.value, keyNode: e.keyNode)) }
            }
        } // no hosts at all is reported by the validator
        var bridges: [Topology.Bridge] = []
        if let b = top.value("bridges"), let m = reader.mapping(b, "bridges", what: "bridges") {
            for e in m.entries { bridges.append(parseBridge(e.key, e.value, keyNode: e.keyNode)) }
        }
        var rootInterfaces: [InterfaceConfig] = []
        if let r = top.value("root"), let rm = reader.mapping(r, "root", allowed: ["interfaces"], what: "the root namespace") {
            if let n = rm.value("interfaces"), let im = reader.mapping(n, rm.childPath("interfaces"), what: "interfaces") {
                for e in im.entries {
                    let p = YAMLReader.path(im.path, e.key)
                    if let sm = reader.mapping(e.value, p, allowed: Self.rootSettingsKeys, what: "interface settings") {
                        var s = parseSettings(sm)
                        s.location = SourceLocation(e.keyNode, p)
                        rootInterfaces.append(InterfaceConfig(name: e.key, settings: s))
                    }
                }
            }
        }
        let bridgeNames = Set(bridges.map(\.name))
        var links: [Topology.Link] = []
        if let l = top.value("links"), let seq = reader.sequence(l, "links", what: "links") {
            for (node, path) in seq {
                if let link = parseLink(node, path, bridges: bridgeNames) { links.append(link) }
            }
        }
        return Topology(name: name, file: file, absolutePath: absolute, description: description, hosts: hosts,
                        bridges: bridges, links: links, rootInterfaces: rootInterfaces,
                        contentHash: String(format: "%016llx", Topology.fnv1a(Array(text.utf8))))
    }

    // MARK: Hosts

    func parseHost(_ name: String, _ node: Node, keyNode: Node) -> Topology.Host {
        let path = YAMLReader.path("hosts", name)
        var host = Topology.Host(name: name, location: SourceLocation(keyNode, path))
        guard let m = reader.mapping(node, path, allowed: Self.hostKeys, what: "a host") else { return host }
        if let n = m.value("interfaces"), let im = reader.mapping(n, m.childPath("interfaces"), what: "interfaces") {
            for e in im.entries {
                let p = YAMLReader.path(im.path, e.key)
                if let sm = reader.mapping(e.value, p, allowed: Self.settingsKeys, what: "interface settings") {
                    var s = parseSettings(sm)
                    s.location = SourceLocation(e.keyNode, p)
                    host.interfaces.append(InterfaceConfig(name: e.key, settings: s))
                }
            }
        }
        if let n = m.value("vxlans"), let vm = reader.mapping(n, m.childPath("vxlans"), what: "VXLAN devices") {
            for e in vm.entries { if let v = parseVXLAN(e.key, e.value, YAMLReader.path(vm.path, e.key), keyNode: e.keyNode) { host.vxlans.append(v) } }
        }
        if let n = m.value("routes"), let seq = reader.sequence(n, m.childPath("routes"), what: "routes") {
            for (rn, rp) in seq { if let r = parseRoute(rn, rp) { host.routes.append(r) } }
        }
        if let n = m.value("sysctls"), let sm = reader.mapping(n, m.childPath("sysctls"), what: "sysctls") {
            for e in sm.entries {
                let p = YAMLReader.path(sm.path, e.key)
                guard let raw = reader.string(e.value, p, what: "a value") else { continue }
                let value: String
                switch raw.lowercased() {
                case "true", "yes", "on": value = "1"
                case "false", "no", "off": value = "0"
                default: value = raw
                }
                let paths: [String]
                if let shortcut = Self.sysctlShortcuts[e.key] {
                    paths = shortcut
                } else if e.key.hasPrefix("net.") && !e.key.contains("/") && !e.key.contains("..") {
                    paths = [e.key.replacingOccurrences(of: ".", with: "/")]
                } else {
                    log.add(e.keyNode, p, "unknown sysctl '\(e.key)'",
                            hint: "use \(Self.sysctlShortcuts.keys.sorted().joined(separator: ", ")) or a full net.* name such as net.ipv4.conf.all.rp_filter")
                    continue
                }
                host.sysctls.append(SysctlSetting(key: e.key, paths: paths, value: value, location: SourceLocation(e.keyNode, p)))
            }
        }
        if let n = m.value("processes"), let seq = reader.sequence(n, m.childPath("processes"), single: true, what: "processes") {
            for (i, (pn, pp)) in seq.enumerated() { if let p = parseProcess(pn, pp, index: i) { host.processes.append(p) } }
        }
        return host
    }

    func parseSettings(_ m: YAMLReader.Mapping) -> InterfaceSettings {
        var s = InterfaceSettings()
        s.location = m.location
        if let n = m.value("addresses"), let seq = reader.sequence(n, m.childPath("addresses"), single: true, what: "addresses") {
            for (an, ap) in seq {
                guard let text = reader.string(an, ap, what: "an address") else { continue }
                if let prefix = parsePrefix(text, an, ap, requirePrefix: true) { s.addresses.append(prefix) }
            }
        }
        if let n = m.value("mtu"), let v = reader.int(n, m.childPath("mtu"), range: 68...65535, what: "an MTU") { s.mtu = UInt32(v) }
        if let n = m.value("mac"), let text = reader.string(n, m.childPath("mac"), what: "a MAC address") {
            if let mac = MACAddress(text), text.split(separator: ":").count == 6 {
                if mac.bytes[0] & 1 != 0 {
                    log.add(n, m.childPath("mac"), "\(text) is a multicast MAC address", hint: "the first byte must be even, e.g. 02:00:00:00:00:01")
                } else if mac.bytes.allSatisfy({ $0 == 0 }) {
                    log.add(n, m.childPath("mac"), "00:00:00:00:00:00 is not a usable MAC address", hint: "use a locally administered one such as 02:00:00:00:00:01")
                } else {
                    s.mac = mac
                }
            } else {
                log.add(n, m.childPath("mac"), "'\(text)' is not a MAC address", hint: "six hex bytes separated by ':', e.g. 02:00:00:00:00:01")
            }
        }
        if let n = m.value("up"), let v = reader.bool(n, m.childPath("up")) { s.up = v }
        if let n = m.value("bpf"), let seq = reader.sequence(n, m.childPath("bpf"), what: "BPF attachments") {
            for (bn, bp) in seq { if let a = parseBPF(bn, bp) { s.bpf.append(a) } }
        }
        if let n = m.value("vlan-access"), let vm = reader.mapping(n, m.childPath("vlan-access"), allowed: Self.vlanKeys, what: "a VLAN access port") {
            let vid = vm.value("vlan").flatMap { reader.int($0, vm.childPath("vlan"), range: 1...4094, what: "a VLAN id") }
            let trunk = vm.value("trunk").flatMap { reader.string($0, vm.childPath("trunk"), what: "an interface name") }
            if vm.value("vlan") == nil { log.add(vm.location, "missing 'vlan:'", hint: "the VLAN id, 1 to 4094") }
            if vm.value("trunk") == nil { log.add(vm.location, "missing 'trunk:'", hint: "the interface of this host that carries the tagged frames") }
            if let vid, let trunk { s.vlanAccess = VLANAccess(vlan: UInt16(vid), trunk: trunk, location: vm.location) }
        }
        return s
    }

    func parseBPF(_ node: Node, _ path: String) -> BPFAttachment? {
        guard let m = reader.mapping(node, path, allowed: Self.bpfKeys, what: "a BPF attachment") else { return nil }
        guard let fileNode = m.value("file") else {
            log.add(m.location, "missing 'file:'", hint: "the program's .bpf.c or .o file, relative to the topology file")
            return nil
        }
        guard let fileText = reader.string(fileNode, m.childPath("file"), what: "a file name") else { return nil }
        guard let hookNode = m.value("hook") else {
            log.add(m.location, "missing 'hook:'", hint: "one of \(AttachHook.allCases.map(\.rawValue).joined(separator: ", "))")
            return nil
        }
        guard let hookText = reader.string(hookNode, m.childPath("hook")) else { return nil }
        guard let hook = AttachHook(rawValue: hookText) else {
            log.add(hookNode, m.childPath("hook"), "unknown hook '\(hookText)'", hint: "one of \(AttachHook.allCases.map(\.rawValue).joined(separator: ", "))")
            return nil
        }
        let resolved = fileText.hasPrefix("/") ? fileText : directory + "/" + fileText
        var a = BPFAttachment(file: (resolved as NSString).standardizingPath, fileAsWritten: fileText, program: nil, section: nil,
                              hook: hook, location: SourceLocation(node, path))
        if let n = m.value("program") { a.program = reader.string(n, m.childPath("program"), what: "a program name") }
        if let n = m.value("section") { a.section = reader.string(n, m.childPath("section"), what: "a section name") }
        if let n = m.value("xdp-mode"), let t = reader.string(n, m.childPath("xdp-mode")) {
            if hook != .xdp {
                log.add(n, m.childPath("xdp-mode"), "xdp-mode applies only to hook: xdp")
            } else if t == "generic" || t == "skb" {
                a.xdpMode = .generic
            } else if t == "native" || t == "drv" {
                a.xdpMode = .native
            } else {
                log.add(n, m.childPath("xdp-mode"), "unknown XDP mode '\(t)'", hint: "generic or native")
            }
        }
        if let n = m.value("priority") {
            if hook == .xdp { log.add(n, m.childPath("priority"), "priority applies only to tc hooks") }
            else if let v = reader.int(n, m.childPath("priority"), range: 1...65535, what: "a tc priority") { a.priority = UInt16(v) }
        }
        if let n = m.value("pin-maps"), let v = reader.bool(n, m.childPath("pin-maps")) { a.pinMaps = v }
        return a
    }

    func parseVXLAN(_ name: String, _ node: Node, _ path: String, keyNode: Node) -> VXLANConfig? {
        guard let m = reader.mapping(node, path, allowed: Self.vxlanKeys, what: "a VXLAN device") else { return nil }
        var settings = parseSettings(m)
        settings.location = SourceLocation(keyNode, path)
        guard let vniNode = m.value("vni") else {
            log.add(SourceLocation(keyNode, path), "missing 'vni:'", hint: "the VXLAN network identifier, 0 to 16777215")
            return nil
        }
        guard let vni = reader.int(vniNode, m.childPath("vni"), range: 0...0xFF_FFFF, what: "a VNI (24 bits)") else { return nil }
        var v = VXLANConfig(name: name, vni: UInt32(vni), settings: settings)
        func address(_ key: String) -> IPAddress? {
            guard let n = m.value(key), let t = reader.string(n, m.childPath(key), what: "an address") else { return nil }
            guard let a = IPAddress(t) else {
                log.add(n, m.childPath(key), "'\(t)' is not an IPv4 or IPv6 address", hint: "write it like 239.1.1.1 or 172.16.1.100, without a prefix length")
                return nil
            }
            return a
        }
        v.group = address("group")
        v.remote = address("remote")
        v.local = address("local")
        if let n = m.value("port"), let p = reader.int(n, m.childPath("port"), range: 1...65535, what: "a UDP port") { v.port = UInt16(p) }
        if let n = m.value("underlay") { v.underlay = reader.string(n, m.childPath("underlay"), what: "an interface name") }
        if let n = m.value("ttl"), let t = reader.int(n, m.childPath("ttl"), range: 1...255, what: "a TTL") { v.ttl = UInt8(t) }
        if let n = m.value("learning"), let b = reader.bool(n, m.childPath("learning")) { v.learning = b }
        return v
    }

    func parseRoute(_ node: Node, _ path: String) -> RouteConfig? {
        guard let m = reader.mapping(node, path, allowed: Self.routeKeys, what: "a route") else { return nil }
        guard let toNode = m.value("to"), let to = reader.string(toNode, m.childPath("to"), what: "a destination") else {
            if m.value("to") == nil { log.add(m.location, "missing 'to:'", hint: "a prefix such as 10.2.0.0/16, or default / default6") }
            return nil
        }
        var via: IPAddress?
        if let n = m.value("via"), let t = reader.string(n, m.childPath("via"), what: "a gateway address") {
            via = IPAddress(t)
            if via == nil { log.add(n, m.childPath("via"), "'\(t)' is not an IPv4 or IPv6 address", hint: "the gateway's address without a prefix length, e.g. 10.0.0.1") ; return nil }
        }
        var destination: IPPrefix?
        var family: IPAddress.Family
        switch to {
        case "default": family = via?.family ?? .v4
        case "default6": family = .v6
        default:
            guard let p = parsePrefix(to, toNode, m.childPath("to"), requirePrefix: false) else { return nil }
            destination = p
            family = p.address.family
        }
        if let via, via.family != family {
            log.add(m.value("via"), m.childPath("via"), "gateway \(via) is not of the destination's address family")
            return nil
        }
        var r = RouteConfig(destination: destination, family: family, via: via, dev: nil, metric: nil, source: nil, location: m.location)
        if let n = m.value("dev") { r.dev = reader.string(n, m.childPath("dev"), what: "an interface name") }
        if let n = m.value("metric"), let v = reader.int(n, m.childPath("metric"), range: 0...Int(UInt32.max), what: "a metric") { r.metric = UInt32(v) }
        if let n = m.value("src"), let t = reader.string(n, m.childPath("src"), what: "a source address") {
            if let a = IPAddress(t), a.family == family { r.source = a } else {
                log.add(n, m.childPath("src"), "'\(t)' is not an address of the route's family")
            }
        }
        if r.via == nil && r.dev == nil {
            log.add(m.location, "a route needs 'via:' (a gateway) or 'dev:' (an interface)")
            return nil
        }
        return r
    }

    func parseProcess(_ node: Node, _ path: String, index: Int) -> ProcessConfig? {
        var p = ProcessConfig(name: "", argv: [], location: SourceLocation(node, path))
        func command(_ n: Node, _ cp: String) -> [String]? {
            if case .sequence = n {
                guard let seq = reader.sequence(n, cp) else { return nil }
                let argv = seq.compactMap { reader.string($0.node, $0.path, what: "an argument") }
                return argv.count == seq.count ? argv : nil
            }
            guard let text = reader.string(n, cp, what: "a command") else { return nil }
            return ["/bin/sh", "-c", text]
        }
        if case .mapping = node {
            guard let m = reader.mapping(node, path, allowed: Self.processKeys, what: "a process") else { return nil }
            guard let cn = m.value("command") else {
                log.add(m.location, "missing 'command:'", hint: "a shell command line, or a list of arguments")
                return nil
            }
            guard let argv = command(cn, m.childPath("command")) else { return nil }
            p.argv = argv
            if let n = m.value("name"), let t = reader.string(n, m.childPath("name")) { p.name = t }
            if let n = m.value("cwd") { p.directory = reader.string(n, m.childPath("cwd"), what: "a directory") }
            if let n = m.value("env"), let em = reader.mapping(n, m.childPath("env"), what: "environment variables") {
                for e in em.entries {
                    if let v = reader.string(e.value, YAMLReader.path(em.path, e.key)) { p.environment[e.key] = v }
                }
            }
        } else {
            guard let argv = command(node, path) else { return nil }
            p.argv = argv
        }
        if p.argv.isEmpty || p.argv.last?.trimmingCharacters(in: .whitespaces).isEmpty == true {
            log.add(node, path, "empty command")
            return nil
        }
        if p.name.isEmpty {
            // The first word of the command, without its directory: "python3".
            let words = p.commandLine.split(separator: " ")
            let first = words.first.map { String($0.split(separator: "/").last ?? $0) } ?? "process"
            p.name = first.filter { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." }
            if p.name.isEmpty { p.name = "process\(index)" }
        }
        return p
    }

    // MARK: Bridges and links

    func parseBridge(_ name: String, _ node: Node, keyNode: Node) -> Topology.Bridge {
        let path = YAMLReader.path("bridges", name)
        var b = Topology.Bridge(name: name, host: nil, ports: [], settings: InterfaceSettings(), location: SourceLocation(keyNode, path))
        guard let m = reader.mapping(node, path, allowed: Self.bridgeKeys, what: "a bridge") else { return b }
        b.settings = parseSettings(m)
        b.settings.location = SourceLocation(keyNode, path)
        if let n = m.value("host") { b.host = reader.string(n, m.childPath("host"), what: "a host name") }
        if let n = m.value("ports"), let seq = reader.sequence(n, m.childPath("ports"), single: true, what: "interface names") {
            b.ports = seq.compactMap { reader.string($0.node, $0.path, what: "an interface name") }
        }
        return b
    }

    func parseLink(_ node: Node, _ path: String, bridges: Set<String>) -> Topology.Link? {
        var ends: [(Node, String)] = []
        var mtu: UInt32?
        switch node {
        case .sequence:
            guard let seq = reader.sequence(node, path) else { return nil }
            ends = seq.map { ($0.node, $0.path) }
        case .mapping:
            guard let m = reader.mapping(node, path, allowed: Self.linkKeys, what: "a link") else { return nil }
            for key in ["a", "b"] {
                if let n = m.value(key) { ends.append((n, m.childPath(key))) } else { log.add(m.location, "missing '\(key):'", hint: "a link joins two endpoints, a: and b:") }
            }
            if let n = m.value("mtu"), let v = reader.int(n, m.childPath("mtu"), range: 68...65535, what: "an MTU") { mtu = UInt32(v) }
        default:
            log.add(node, path, "a link is a pair of endpoints, found \(reader.kind(node))",
                    hint: "write [h1:eth0, h2:eth0] or [h1:eth0, br0]")
            return nil
        }
        guard ends.count == 2 else {
            if case .sequence = node {
                log.add(node, path, "a link joins exactly two endpoints, found \(ends.count)", hint: "write [h1:eth0, h2:eth0]")
            }
            return nil
        }
        var parsed: [Topology.Endpoint] = []
        for (n, p) in ends {
            guard let text = reader.string(n, p, what: "an endpoint (HOST:IFNAME or BRIDGE)") else { continue }
            let parts = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            if parts[0] == "root" {
                guard parts.count == 2, !parts[1].isEmpty else {
                    log.add(n, p, "'root' needs an interface name", hint: "write root:NAME; it is created as \(Topology.rootInterfacePrefix(simulation: "SIM"))NAME in the machine's own namespace")
                    continue
                }
                parsed.append(.root(parts[1]))
            } else if bridges.contains(parts[0]) {
                if parts.count == 2 && parts[1].isEmpty {
                    log.add(n, p, "empty port name after '\(parts[0]):'", hint: "write \(parts[0]) or \(parts[0]):PORTNAME")
                    continue
                }
                parsed.append(.bridge(parts[0], port: parts.count == 2 ? parts[1] : nil))
            } else if parts.count == 2 {
                guard !parts[0].isEmpty, !parts[1].isEmpty else {
                    log.add(n, p, "'\(text)' is not HOST:IFNAME", hint: "for example h1:eth0")
                    continue
                }
                parsed.append(.host(parts[0], parts[1]))
            } else {
                log.add(n, p, "'\(text)' is neither a bridge nor HOST:IFNAME",
                        hint: "name the host's interface, e.g. \(text):eth0, or define a bridge '\(text)' under bridges:")
            }
        }
        guard parsed.count == 2 else { return nil }
        return Topology.Link(a: parsed[0], b: parsed[1], mtu: mtu, location: SourceLocation(node, path))
    }

    // MARK: Addresses

    func parsePrefix(_ text: String, _ node: Node, _ path: String, requirePrefix: Bool) -> IPPrefix? {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        guard let address = IPAddress(parts[0]) else {
            log.add(node, path, "'\(text)' is not an IPv4 or IPv6 address", hint: "write it like 10.0.0.1/24 or fd00::1/64")
            return nil
        }
        let max = address.family == .v4 ? 32 : 128
        if parts.count == 1 {
            if requirePrefix {
                log.add(node, path, "'\(text)' has no prefix length", hint: "write \(text)/\(address.family == .v4 ? 24 : 64) (or /\(max) for a single address)")
                return nil
            }
            return IPPrefix(address, prefixLength: UInt8(max))
        }
        guard let len = Int(parts[1]), (0...max).contains(len), parts[1].allSatisfy(\.isNumber) else {
            log.add(node, path, "'\(parts[1])' is not a prefix length for \(address.family == .v4 ? "IPv4" : "IPv6") (0 to \(max))",
                    hint: "write it like \(parts[0])/\(address.family == .v4 ? 24 : 64)")
            return nil
        }
        return IPPrefix(address, prefixLength: UInt8(len))
    }
}
