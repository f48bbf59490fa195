import Foundation
import Glibc
import NetBPF
import NetBPFNetlink

/// Builds a validated topology in the kernel, journaling before each object that outlives the
/// process unless removed (namespaces, root-namespace links, pins, processes). Each kernel change
/// is one numbered step; `failAfter` (NETBPF_SIM_FAIL_AFTER) makes the process SIGKILL itself
/// before step N+1, to prove `down` cleans up after an abrupt death.
final class Builder {
    let topology: Topology
    let dir: StateDirectory
    let options: UpOptions
    let prepared: BPFPreparation
    var journal: Journal
    private(set) var steps = 0
    let failAfter: Int?
    /// NETBPF_SIM_STEP_DELAY_MS: a pause before each step, so tests can signal `up` mid-build.
    let stepDelay: UInt32

    private var namespaces: [String: NetworkNamespace] = [:]
    private var sockets: [String: NetlinkSocket] = [:]
    private var rootSocketStorage: NetlinkSocket?

    static let pinRoot = "/sys/fs/bpf/netbpf/sim"

    init(topology: Topology, dir: StateDirectory, options: UpOptions, prepared: BPFPreparation) {
        self.topology = topology
        self.dir = dir
        self.options = options
        self.prepared = prepared
        journal = Journal(name: topology.name, file: topology.absolutePath, topologyHash: topology.contentHash)
        let env = ProcessInfo.processInfo.environment
        failAfter = env["NETBPF_SIM_FAIL_AFTER"].flatMap { Int($0) }
        stepDelay = env["NETBPF_SIM_STEP_DELAY_MS"].flatMap { UInt32($0) }.map { min($0, 10_000) * 1000 } ?? 0
    }

    /// Drops every namespace handle and socket, so deleted namespaces really go away.
    func release() {
        sockets.removeAll()
        namespaces.removeAll()
        rootSocketStorage = nil
    }

    // MARK: Steps and journal

    func save() throws {
        journal.steps = steps
        try dir.write(journal)
    }

    /// Called before every kernel change: honours SIGINT/SIGTERM and the failure point.
    func step(_ what: @autoclosure () -> String) throws {
        if stepDelay > 0 { usleep(stepDelay) }
        if let signal = options.cancelled() {
            throw SimError(.interrupted, operation: "sim up", subject: topology.name,
                           message: "interrupted by signal \(signal) (\(signal == SIGINT ? "SIGINT" : signal == SIGTERM ? "SIGTERM" : "signal")) after \(steps) steps")
        }
        if let failAfter, steps >= failAfter {
            // An abrupt death, as from `kill -9`: no teardown, no journal update.
            kill(getpid(), SIGKILL)
            pause()
        }
        steps += 1
        options.progress?("step \(steps): \(what())")
    }

    func socket(_ node: String) -> NetlinkSocket { sockets[node]! }

    func rootSocket() throws -> NetlinkSocket {
        if let s = rootSocketStorage { return s }
        let s = try NetlinkSocket()
        rootSocketStorage = s
        return s
    }

    func namespace(_ node: String) -> NetworkNamespace { namespaces[node]! }

    // MARK: Build

    /// Everything a node's interfaces should get: (interface, settings, kind).
    enum Kind { case veth, vxlan, bridge, loopback }

    func interfaces(of node: String) -> [(name: String, settings: InterfaceSettings, kind: Kind)] {
        var out: [(String, InterfaceSettings, Kind)] = []
        let host = topology.host(named: node)
        for b in topology.bridges where topology.node(of: b) == node { out.append((b.name, b.settings, .bridge)) }
        for link in topology.links {
            let (a, b) = topology.resolve(link)
            for e in [a, b] where e.node == node {
                out.append((e.interface, host?.settings(for: e.interface) ?? InterfaceSettings(), .veth))
            }
        }
        if let host {
            for v in host.vxlans { out.append((v.name, v.settings, .vxlan)) }
            if let lo = host.interfaces.first(where: { $0.name == "lo" }) { out.append(("lo", lo.settings, .loopback)) }
        }
        return out
    }

    func run() throws {
        journal.state = .building
        journal.hosts = Dictionary(uniqueKeysWithValues: topology.nodes.map { ($0.name, topology.namespace(of: $0.name)) })
        try dir.create()
        try save()

        try createNamespaces()
        try createBridges()
        try createLinks()
        try createVXLANs()
        try configureInterfaces()
        try addAddressesAndRoutes()
        try writeInterfaceSysctls()
        try buildVLANSwitches()
        try attachPrograms()
        try startProcesses()

        journal.state = .up
        journal.completedAt = Date().timeIntervalSince1970
        try save()
    }

    private func createNamespaces() throws {
        for (node, kind) in topology.nodes {
            let name = topology.namespace(of: node)
            journal.namespaces.append(Journal.NamespaceEntry(name: name, node: node, kind: kind))
            try save()
            try step("create namespace \(name)")
            let ns: NetworkNamespace
            do {
                ns = try NetworkNamespace.create(name)
            } catch let e as NetlinkError where e.code == .exists {
                // Not ours: take it out of the journal so teardown leaves it alone.
                journal.namespaces.removeLast()
                try save()
                throw SimError(.conflict, operation: "create namespace", subject: name,
                               message: "network namespace '\(name)' exists and was not made by this simulation",
                               hint: "remove it (ip netns delete \(name)) or run this topology under another name (--name)")
            }
            namespaces[node] = ns
            sockets[node] = try NetlinkSocket(namespace: ns)
            try step("\(node): lo up")
            try socket(node).setLinkUp("lo")
            // Namespace-wide sysctls first: disable_ipv6 must precede the interfaces it applies to.
            let global = topology.host(named: node)?.sysctls.filter { !Self.isPerInterface($0) } ?? []
            if !global.isEmpty {
                try step("\(node): sysctls \(global.map(\.key).joined(separator: ", "))")
                try writeSysctls(global, in: ns, node: node)
            }
        }
    }

    static func isPerInterface(_ s: SysctlSetting) -> Bool {
        s.paths.contains { p in
            let parts = p.split(separator: "/")
            return parts.count >= 5 && (parts[2] == "conf" || parts[2] == "neigh") && parts[3] != "all" && parts[3] != "default"
        }
    }

    private func writeSysctls(_ list: [SysctlSetting], in ns: NetworkNamespace, node: String) throws {
        let failure: SimError? = try ns.run {
            for s in list {
                for path in s.paths {
                    let full = "/proc/sys/" + path
                    let fd = open(full, O_WRONLY | O_CLOEXEC)
                    guard fd >= 0 else { return SimError.system("sysctl \(s.key)", subject: "\(node): \(full)", errno: errno) }
                    let text = s.value + "\n"
                    let n = text.withCString { write(fd, $0, strlen($0)) }
                    let e = errno
                    close(fd)
                    if n < 0 { return SimError.system("sysctl \(s.key)=\(s.value)", subject: "\(node): \(full)", errno: e) }
                }
            }
            return nil
        }
        if let failure { throw failure }
    }

    private func createBridges() throws {
        for b in topology.bridges {
            let node = topology.node(of: b)
            try step("\(node): bridge \(b.name)")
            try socket(node).createBridge(b.name)
        }
    }

    private func createLinks() throws {
        for link in topology.links {
            let (a, b) = topology.resolve(link)
            if a.node == nil || b.node == nil {
                let (rootEnd, nsEnd) = a.node == nil ? (a, b) : (b, a)
                guard let peerNode = nsEnd.node else { continue } // root-root links are refused by validation
                journal.rootLinks.append(Journal.RootLinkEntry(name: rootEnd.interface, peerNamespace: topology.namespace(of: peerNode)))
                try save()
                try step("root: veth \(rootEnd.interface) <-> \(peerNode):\(nsEnd.interface)")
                do {
                    try rootSocket().createVeth(rootEnd.interface, peer: nsEnd.interface, peerNamespace: namespace(peerNode), mtu: link.mtu)
                } catch let e as NetlinkError where e.code == .exists {
                    journal.rootLinks.removeLast()
                    try save()
                    throw SimError(.conflict, operation: "create root link", subject: rootEnd.interface,
                                   message: "interface '\(rootEnd.interface)' exists in the root namespace and was not made by this simulation",
                                   hint: "delete it (ip link del \(rootEnd.interface)) or rename the link end")
                }
            } else {
                let an = a.node!, bn = b.node!
                try step("veth \(an):\(a.interface) <-> \(bn):\(b.interface)")
                try socket(an).createVeth(a.interface, peer: b.interface, peerNamespace: an == bn ? nil : namespace(bn), mtu: link.mtu)
            }
        }
    }

    private func createVXLANs() throws {
        for host in topology.hosts {
            for v in host.vxlans {
                try step("\(host.name): vxlan \(v.name) vni \(v.vni)")
                let options = VXLANOptions(vni: v.vni, remote: v.remote, group: v.group, local: v.local, port: v.port,
                                           underlay: v.underlay.map { .name($0) }, learning: v.learning, ttl: v.ttl)
                try socket(host.name).createVXLAN(v.name, options, mtu: v.settings.mtu)
            }
        }
    }

    private func configureInterfaces() throws {
        for (node, _) in topology.nodes {
            let nl = socket(node)
            let list = interfaces(of: node)
            for i in list {
                if let mtu = i.settings.mtu, i.kind != .vxlan {
                    try step("\(node): \(i.name) mtu \(mtu)")
                    try nl.setMTU(.name(i.name), mtu)
                }
                if let mac = i.settings.mac {
                    try step("\(node): \(i.name) mac \(mac)")
                    try nl.setMACAddress(.name(i.name), mac)
                }
            }
            // Bridge ports: link ends facing a bridge, and the ports lists.
            for link in topology.links {
                let (a, b) = topology.resolve(link)
                for e in [a, b] where e.node == node {
                    if let bridge = e.bridge {
                        try step("\(node): \(e.interface) master \(bridge)")
                        try nl.setMaster(.name(e.interface), .name(bridge))
                    }
                }
            }
            for b in topology.bridges where topology.node(of: b) == node {
                for port in b.ports {
                    try step("\(node): \(port) master \(b.name)")
                    try nl.setMaster(.name(port), .name(b.name))
                }
            }
            // Up: everything but VXLAN devices first, so their underlay is up when they join groups.
            for i in list where i.kind != .vxlan && i.kind != .loopback && i.settings.up {
                try step("\(node): \(i.name) up")
                try nl.setLinkUp(.name(i.name))
            }
            for i in list where i.kind == .vxlan && i.settings.up {
                try step("\(node): \(i.name) up")
                try nl.setLinkUp(.name(i.name))
            }
        }
        for link in topology.links {
            let (a, b) = topology.resolve(link)
            for (end, e) in [(link.a, a), (link.b, b)] where e.node == nil {
                guard case .root(let written) = end else { continue }
                let s = topology.rootInterfaces.first { $0.name == written }?.settings ?? InterfaceSettings()
                let nl = try rootSocket()
                if let mtu = s.mtu {
                    try step("root: \(e.interface) mtu \(mtu)")
                    try nl.setMTU(.name(e.interface), mtu)
                }
                if let mac = s.mac {
                    try step("root: \(e.interface) mac \(mac)")
                    try nl.setMACAddress(.name(e.interface), mac)
                }
                for address in s.addresses {
                    try step("root: address \(address) on \(e.interface)")
                    try nl.addAddress(address, to: .name(e.interface))
                }
                if s.up {
                    try step("root: \(e.interface) up")
                    try nl.setLinkUp(.name(e.interface))
                }
            }
        }
    }

    private func addAddressesAndRoutes() throws {
        for (node, _) in topology.nodes {
            let nl = socket(node)
            for i in interfaces(of: node) {
                for a in i.settings.addresses {
                    try step("\(node): address \(a) on \(i.name)")
                    try nl.addAddress(a, to: .name(i.name))
                }
            }
            for r in topology.host(named: node)?.routes ?? [] {
                let destination = r.destination ?? IPPrefix(IPAddress(r.family == .v4 ? "0.0.0.0" : "::")!, prefixLength: 0)
                let spec = RouteSpec(destination: destination, gateway: r.via, interface: r.dev.map { .name($0) },
                                     metric: r.metric, source: r.source)
                try step("\(node): route \(r.destination?.description ?? "default")\(r.via.map { " via \($0)" } ?? "")")
                try nl.addRoute(spec)
            }
        }
    }

    private func writeInterfaceSysctls() throws {
        for host in topology.hosts {
            let list = host.sysctls.filter(Self.isPerInterface)
            guard !list.isEmpty else { continue }
            try step("\(host.name): sysctls \(list.map(\.key).joined(separator: ", "))")
            try writeSysctls(list, in: namespace(host.name), node: host.name)
        }
    }

    // MARK: BPF

    private var pinDirectory: String { Self.pinRoot + "/" + topology.name }

    /// Pins `map` at `path`, journaled first.
    private func pin(_ map: BPFMap, at path: String) throws {
        if journal.pinDirectory == nil {
            try Syscalls.ensureBPFFS()
            journal.pinDirectory = pinDirectory
        }
        journal.pins.append(path)
        try save()
        try step("pin \(path)")
        try Pinning.prepareParent(of: path)
        try map.pin(at: path)
    }

    private func buildVLANSwitches() throws {
        for host in topology.hosts {
            guard let object = prepared.vlanSwitches[host.name] else { continue }
            let nl = socket(host.name)
            let ports = try object.map(named: VLANSwitch.portsMap)
            let trunks = try object.map(named: VLANSwitch.trunksMap)
            var trunkNames: [String] = []
            var accessNames: [String] = []
            for cfg in host.interfaces {
                guard let v = cfg.settings.vlanAccess else { continue }
                let port = try nl.interfaceIndex(.name(cfg.name))
                let trunk = try nl.interfaceIndex(.name(v.trunk))
                try ports.update(key: VLANSwitch.bytes(UInt32(bitPattern: port)), value: VLANSwitch.portValue(trunkIndex: trunk, vlan: v.vlan))
                try trunks.update(key: VLANSwitch.trunkKey(trunkIndex: trunk, vlan: v.vlan), value: VLANSwitch.bytes(UInt32(bitPattern: port)))
                accessNames.append(cfg.name)
                if !trunkNames.contains(v.trunk) { trunkNames.append(v.trunk) }
            }
            for map in [VLANSwitch.portsMap, VLANSwitch.trunksMap, VLANSwitch.statsMap] {
                try pin(try object.map(named: map), at: "\(pinDirectory)/\(host.name)/vlan/\(map)")
            }
            let access = try object.program(named: VLANSwitch.accessProgram)
            let trunk = try object.program(named: VLANSwitch.trunkProgram)
            for (names, program) in [(accessNames, access), (trunkNames, trunk)] {
                for ifname in names {
                    try step("\(host.name): \(program.name) on \(ifname) tc-ingress")
                    _ = try nl.ensureClsact(on: .name(ifname))
                    try nl.attachBPFFilter(ProgramDescriptor(borrowing: program.fd, name: program.name), to: .name(ifname), hook: .ingress,
                                           BPFFilterOptions(priority: VLANSwitch.filterPriority, handle: 1))
                    journal.attachments.append(Journal.AttachmentEntry(node: host.name, interface: ifname, hook: AttachHook.tcIngress.rawValue,
                                                                        program: program.name, object: "vlan"))
                }
            }
        }
    }

    private func attachPrograms() throws {
        for object in prepared.objects where object.pinMaps {
            for map in try object.object.maps where !map.name.contains(".") {
                try pin(map, at: "\(pinDirectory)/\(object.node)/\(object.name)/\(map.name)")
            }
        }
        for a in prepared.attachments {
            let nl = socket(a.node)
            let program = ProgramDescriptor(borrowing: a.program.fd, name: a.program.name)
            try step("\(a.node): \(a.program.name) on \(a.interface) \(a.hook.rawValue)")
            switch a.hook {
            case .tcIngress, .tcEgress:
                _ = try nl.ensureClsact(on: .name(a.interface))
                try nl.attachBPFFilter(program, to: .name(a.interface), hook: a.hook == .tcIngress ? .ingress : .egress,
                                       BPFFilterOptions(priority: a.priority, handle: 1))
            case .xdp:
                try nl.attachXDP(program, to: .name(a.interface), mode: a.xdpMode)
            }
            journal.attachments.append(Journal.AttachmentEntry(node: a.node, interface: a.interface, hook: a.hook.rawValue,
                                                                program: a.program.name, object: a.object.name))
        }
    }

    // MARK: Processes

    private func startProcesses() throws {
        for host in topology.hosts {
            for p in host.processes {
                try start(p, host: host.name)
            }
        }
    }

    /// Starts one process, journaled before the spawn and again with its pid.
    func start(_ p: ProcessConfig, host: String, namespace ns: NetworkNamespace? = nil) throws {
        let log = dir.logDirectory + "/\(host).\(p.name).log"
        let entry = Journal.ProcessEntry(host: host, name: p.name, command: p.commandLine, pid: nil, startTime: nil, log: log)
        if let i = journal.processes.firstIndex(where: { $0.host == host && $0.name == p.name }) {
            journal.processes[i] = entry
        } else {
            journal.processes.append(entry)
        }
        try save()
        try step("\(host): start \(p.commandLine)")
        var env = p.environment
        env["NETBPF_SIM"] = topology.name
        env["NETBPF_SIM_HOST"] = host
        let header = "# netbpf sim \(topology.name): host \(host) (namespace \(topology.namespace(of: host))): \(p.commandLine), started \(Date())\n"
        let started = try SimProcesses.spawn(p.argv, environment: env, directory: p.directory,
                                             in: ns ?? namespace(host), log: log, header: header)
        let i = journal.processes.firstIndex { $0.host == host && $0.name == p.name }!
        journal.processes[i].pid = started.pid
        journal.processes[i].startTime = started.startTime
        try save()
    }
}
