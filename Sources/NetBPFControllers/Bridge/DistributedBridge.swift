import Foundation
import Glibc
import NetBPF
import NetBPFAttach
import NetBPFCompiler
import NetBPFNetlink
import Synchronization
internal import CNetBPFProgramTypes

/// The distributed bridge (BCC's distributed_bridge): programs/distributed_bridge.bpf.c on the tc
/// ingress of a VXLAN device in external (collect-metadata) mode and of each tenant port. Frames
/// from the tunnel teach (MAC, VNI) -> remote VTEP and go to the VNI's tenant port; frames from a
/// tenant port go to the remote their destination MAC was learned behind, or to every flood
/// destination (the multicast group, or each mesh remote).
///
/// `start` checks everything first (namespace, interfaces, an existing VXLAN device's mode),
/// compiles and loads the object, fills the maps, attaches the tunnel program and then the port
/// programs; a failure part-way undoes what was done. The tunnel program's attach makes what is
/// missing (the VXLAN device, the 224.0.0.0/4 route of multicast mode) and its record names
/// them, so they are undone with it: by `stop()` (idempotent), and after a SIGKILL by
/// `netbpf doctor --fix` or the next start.
///
/// Kernel: 4.3 (external VXLAN, bpf_skb_get/set_tunnel_key, bpf_clone_redirect 4.2); tcx links on
/// 6.6+, clsact cls_bpf direct-action filters before (`Attacher.attachTC`). See docs/bridge.md.
///
/// Sendable: the records and the device index sit behind a `Mutex`; the rest is `let`.
public final class DistributedBridge: Sendable {
    /// What `resolve` found in the namespace.
    public struct Interfaces: Sendable, Equatable {
        /// The underlay's interface index.
        public var underlay: Int32
        /// The underlay's IPv4 address: the local VTEP.
        public var local: IPAddress
        /// VNI -> its tenant port's interface index.
        public var ports: [UInt32: Int32]
        /// The VXLAN device's index if it existed when checked (nil: the attach creates it).
        public var vxlan: Int32?
        /// Every interface of the namespace by index (names for the report).
        public var names: [Int32: String]
    }

    /// What the bridge was started with.
    public let config: BridgeConfig
    /// What `resolve` found when the bridge started.
    public let interfaces: Interfaces
    /// What is attached now (the tunnel program first, then the ports); empty after `stop()`.
    public var records: [AttachmentRecord] { state.withLock { $0.records } }
    /// The VXLAN device's interface index once the tunnel program is attached (0 before).
    public var vxlanIndex: Int32 { state.withLock { $0.vxlanIndex } }
    private struct State {
        var records: [AttachmentRecord] = []
        var vxlanIndex: Int32 = 0
    }
    private let state = Mutex(State())
    private let object: BPFObject
    private let maps: BridgeMaps
    private let store: AttachmentStore

    private init(config: BridgeConfig, interfaces: Interfaces, object: BPFObject, maps: BridgeMaps, store: AttachmentStore) {
        self.config = config
        self.interfaces = interfaces
        self.object = object
        self.maps = maps
        self.store = store
    }

    static let multicastPrefix = IPPrefix("224.0.0.0/4")!

    private static func socket(_ config: BridgeConfig) throws -> NetlinkSocket {
        try config.namespace.map { try NetlinkSocket(namespace: $0) } ?? NetlinkSocket()
    }

    /// Looks the config's interfaces up in its namespace (nothing is changed).
    /// - Throws: `ControllerError` naming the namespace or interface that does not exist, an
    ///   underlay without an IPv4 address, or an existing `vxlan` device that is not a VXLAN
    ///   device in external mode.
    public static func resolve(_ config: BridgeConfig) throws -> Interfaces {
        try config.validate()
        if let ns = config.namespace, !NetworkNamespace.exists(ns) {
            throw ControllerError("network namespace '\(ns)' does not exist", hint: "ip netns list")
        }
        let place = config.namespace.map { " in network namespace '\($0)'" } ?? ""
        let sock: NetlinkSocket
        let links: [InterfaceInfo]
        do {
            sock = try socket(config)
            links = try sock.interfaces()
        } catch {
            throw ControllerError("cannot list the interfaces\(place): \(error)")
        }
        let byName = Dictionary(links.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        func find(_ name: String, _ role: String) throws -> InterfaceInfo {
            guard let i = byName[name] else {
                throw ControllerError("\(role) '\(name)' does not exist\(place)",
                                  hint: "interfaces there: " + links.map(\.name).filter { $0 != "lo" }.joined(separator: ", "))
            }
            return i
        }
        let underlay = try find(config.underlay, "underlay interface")
        let v4 = try sock.addresses(on: .index(underlay.index), family: .v4).first { $0.scope == 0 }
        guard let local = v4?.prefix.address else {
            throw ControllerError("underlay interface '\(config.underlay)' has no IPv4 address\(place)",
                              hint: "the underlay's address is the local end of the tunnel: ip addr add 172.16.1.100/24 dev \(config.underlay)")
        }
        var ports: [UInt32: Int32] = [:]
        for p in config.ports { ports[p.vni] = try find(p.interface, "tenant port of VNI \(p.vni)").index }
        var vxlan: Int32?
        if let dev = byName[config.vxlan] {
            guard dev.kind == "vxlan", let info = dev.vxlan else {
                throw ControllerError("'\(config.vxlan)' exists\(place) and is a\(dev.kind.map { " \($0)" } ?? "n unknown kind of") device, not a VXLAN device",
                                  hint: "name another device with --vxlan, or delete it and netbpf creates an external VXLAN device")
            }
            guard info.external else {
                throw ControllerError("VXLAN device '\(config.vxlan)'\(place) is not in external (collect-metadata) mode\(info.vni.map { ": it has the fixed VNI \($0)" } ?? "")",
                                  hint: "the bridge sets VNI and remote per packet (bpf_skb_set_tunnel_key): ip link add \(config.vxlan) type vxlan external dstport 4789 dev \(config.underlay), or give --vxlan a name that does not exist and netbpf creates one")
            }
            vxlan = dev.index
        }
        return Interfaces(underlay: underlay.index, local: local, ports: ports, vxlan: vxlan,
                          names: Dictionary(links.map { ($0.index, $0.name) }, uniquingKeysWith: { a, _ in a }))
    }

    /// Compiles and loads programs/distributed_bridge.bpf.c, fills its maps, attaches
    /// db_tunnel_ingress to the VXLAN device (tc ingress; the attach creates the device and the
    /// multicast route when missing), then db_port_ingress to every tenant port.
    /// - Throws: `ControllerError` (nothing created), netlink, compiler, loader and attach errors
    ///   (everything done so far is undone).
    public static func start(_ config: BridgeConfig, store: AttachmentStore = AttachmentStore()) throws -> DistributedBridge {
        let interfaces = try resolve(config)
        let compiled = try BPFCompiler().compile(file: try BundledPrograms.path(DistributedBridgeProgram.file))
        // Loading attaches nothing, so a failure here has nothing to undo.
        let object = try compiled.open().load()
        let maps = try BridgeMaps(object)
        let bridge = DistributedBridge(config: config, interfaces: interfaces, object: object, maps: maps, store: store)
        do {
            // The tunnel program reads the local address (loop check); the ports need the
            // device's index, known once the tunnel program's attach has made the device.
            var dbConfig = db_config(vxlan_ifindex: 0, local_ipv4: interfaces.local.hostOrderIPv4, ttl: UInt32(config.ttl), pad: 0)
            try maps.config.set(0, dbConfig)
            let flood = db_flood(config.floodAddresses)
            for p in config.ports {
                let port = interfaces.ports[p.vni]!
                try maps.vniPort.update(p.vni, db_port(ifindex: UInt32(bitPattern: port), pad: 0))
                try maps.portVNI.update(UInt32(bitPattern: port), p.vni)
                try maps.flood.update(p.vni, flood)
                try maps.vniStats.update(p.vni, db_vni_stats())
            }
            let attacher = Attacher(store: store)
            var options = TCAttachOptions()
            options.direction = .ingress
            // The tunnel first: its attach makes the device the ports send to.
            options.creations = bridge.networkCreations()
            let tunnel = try attacher.attachTC(try object.program(named: DistributedBridgeProgram.tunnelProgram), of: object,
                                               to: config.vxlan, namespace: config.namespace, options: options, lifetime: .process)
            bridge.state.withLock {
                $0.records.append(tunnel)
                $0.vxlanIndex = tunnel.ifindex
            }
            dbConfig.vxlan_ifindex = UInt32(bitPattern: tunnel.ifindex)
            try maps.config.set(0, dbConfig)
            options.creations = []
            let portProgram = try object.program(named: DistributedBridgeProgram.portProgram)
            for p in config.ports {
                let record = try attacher.attachTC(portProgram, of: object, to: p.interface, namespace: config.namespace, options: options,
                                                   lifetime: .process)
                bridge.state.withLock { $0.records.append(record) }
            }
        } catch {
            bridge.stop()
            throw error
        }
        return bridge
    }

    /// What the tunnel program's attach makes when missing: the VXLAN device (external,
    /// learning off, joined to the group in multicast mode) and, in multicast mode, the
    /// 224.0.0.0/4 route over the underlay. An existing device was checked by `resolve`.
    private func networkCreations() -> [Creation] {
        var vxlan = VXLANOptions(port: config.udpPort, underlay: .index(interfaces.underlay), learning: false, external: true)
        if case .multicast(let g) = config.flood { vxlan.group = g }
        let (name, options) = (config.vxlan, vxlan)
        var creations = [Creation(.link(name: name)) { netlink in try netlink.setLinkUp(.index(try netlink.createVXLAN(name, options))) }]
        if case .multicast = config.flood {
            let route = RouteSpec(destination: Self.multicastPrefix, interface: .index(interfaces.underlay))
            creations.append(Creation(.route(destination: Self.multicastPrefix.description, device: config.underlay)) { netlink in try netlink.addRoute(route) })
        }
        return creations
    }

    /// Detaches every program (ports first); the tunnel program's record takes the route and
    /// the VXLAN device it created with it.
    public func stop() {
        let records = state.withLock { state in
            defer { state.records = [] }
            return state.records
        }
        for r in records.reversed() { try? Attacher(store: store).undo(r) }
    }

    deinit { stop() }

    /// What the programs learned and counted so far.
    /// - Throws: `BPFError` from the map dumps (BPF_MAP_LOOKUP_BATCH, or key by key before 5.6).
    public func report(at time: Date = Date()) throws -> BridgeReport {
        BridgeReport.make(config: config, interfaces: interfaces, snapshot: try maps.snapshot(),
                                 monotonicNow: VLANLearner.monotonicNanoseconds(), time: time)
    }
}
