import ArgumentParser
import Foundation
import Glibc
import NetBPF
import NetBPFAttach
import NetBPFNetlink
import NetBPFSim
import NetBPFTracing

/// `netbpf trace packet FILTER`: the path of each matching packet across the tc hooks of a
/// simulation (or of given namespaces/interfaces), hop by hop, with each hook's verdict and the
/// drop reason (Tools/packetpath).
struct TracePacket: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "packet",
        abstract: "Follow packets matching a pcap filter across every tc hook of a simulation, hop by hop, with each hook's verdict.",
        discussion: """
        A probe is attached in front of every tcx program and after the last on both hooks of every interface \
        of the running simulations (or of --netns / -i): which probes saw a packet says which program decided, \
        skb:kfree_skb says why it was dropped. Packets are followed by a hash of their invariant headers \
        (the inner ones inside VXLAN). A path is printed once its packet has been quiet for --settle seconds.
        """)

    @Option(help: "Watch every interface of this namespace: a /run/netns name or a simulation host. Repeatable.") var netns: [String] = []
    @Option(name: [.customShort("i"), .customLong("interface")], help: "Watch this interface: NAME or NS/NAME. Repeatable.") var interfaces: [String] = []
    @Option(help: "Watch this simulation (default: every running one, when neither --netns nor -i is given).") var simulation: String?
    @Option(name: [.customShort("c"), .long], help: "Stop after this many packets.") var count: Int?
    @Option(help: "Stop after this many seconds.") var seconds: Double?
    @Option(help: "Seconds a packet must be quiet before its path is printed.") var settle: Double = 0.5
    @OptionGroup var output: TraceOutputOptions
    @Argument(parsing: .remaining, help: "A pcap filter expression, e.g. 'icmp' or 'tcp port 80' (matched on a VXLAN frame's inner packet too).")
    var filter: [String] = []

    /// One namespace to watch: its name (nil: netbpf's own), label ("web"), and interfaces (nil: all).
    struct Target { var namespace: String?; var label: String; var interfaces: [String]? }

    /// A namespace's interfaces, read before the probes are loaded (their VXLAN ports go in).
    struct Scanned: Sendable { var inode: UInt32; var devices: [(index: Int32, name: String)]; var vxlanPorts: [UInt16] }

    func run() throws {
        try runTool(verbose: output.verbose) {
            if let c = count, c <= 0 { throw BPFError(.invalidArgument, operation: "trace packet", subject: "--count", message: "must be at least 1") }
            if let s = seconds, !(s > 0) { throw BPFError(.invalidArgument, operation: "trace packet", subject: "--seconds", message: "must be more than 0") }
            guard settle > 0, settle <= 60 else { throw BPFError(.invalidArgument, operation: "trace packet", subject: "--settle", message: "must be more than 0 and at most 60") }
            guard Features.shared.tcx.available else {
                throw BPFError(.unsupported, operation: "trace packet", message: "this kernel has no tcx", hint: "trace packet needs tcx (Linux 6.6) to put probes between the programs of a hook")
            }
            let targets = try Self.targets(netns: netns, interfaces: interfaces, simulation: simulation)
            let expression = filter.isEmpty ? nil : filter.joined(separator: " ")

            var scanned: [Scanned] = []
            for t in targets { scanned.append(try Self.scan(t)) }
            let ports = Array(Set(scanned.flatMap(\.vxlanPorts))).sorted()
            let probes = try PacketPath.load(filter: expression, vxlanPorts: ports)
            defer { closeReportingFailures(probes.session) }

            var links: [BPFLink] = []
            defer { detachReportingFailures(links) }
            var hooks: [PacketPath.Hook: PacketPath.HookInfo] = [:]
            var names: [UInt32: String] = [:]
            for (t, s) in zip(targets, scanned) {
                names[s.inode] = t.label
                let attached = try Self.attach(probes, to: s, target: t)
                links += attached.links
                hooks.merge(attached.hooks) { a, _ in a }
            }
            let watched = Set(hooks.keys.map(\.netns)).count
            DropsReport.preloadSymbols()
            let labels = names
            let assembler = PacketPath.Assembler(hooks: hooks, settleNs: UInt64(settle * 1e9), place: { inode, ifindex in
                let ns = labels[inode] ?? "netns:\(inode)"
                return (ns.isEmpty ? "" : ns + "/") + "if\(ifindex)"
            }, symbolize: { DropsReport.symbolize($0) })

            let ready = "Following packets on \(hooks.count) hooks in \(watched) namespace\(watched == 1 ? "" : "s")"
                + (expression.map { ", filter '\($0)'" } ?? "") + "... Hit Ctrl-C to end."
            StandardStreams.err(ready + "\n")

            let offset = Capture.realtimeOffset()
            var printed = 0
            func emit(_ paths: [PacketPath.Path]) {
                for p in paths {
                    if let c = count, printed >= c { return }
                    if output.json {
                        TraceOutput.jsonLine(PathJSON(p, time: Self.time(p.timestampNs &+ offset)))
                    } else {
                        TraceOutput.line("\(Self.time(p.timestampNs &+ offset)) \(p.packet): \(p.route)")
                    }
                    printed += 1
                }
                TraceOutput.flush()
            }
            let ring = try RingBuffer(map: probes.session.map("events")) { data in
                if let e = PacketPath.Event(data) { assembler.add(e) }
            }
            let start = Clock.monotonic()
            while !StopSignal.requested {
                if let c = count, printed >= c { break }
                if let s = seconds, Clock.monotonic() - start >= s { break }
                _ = try ring.poll(timeoutMilliseconds: 100)
                emit(assembler.finished(nowNs: Clock.bootNanoseconds()))
            }
            try ring.consume()
            emit(assembler.finished(nowNs: Clock.bootNanoseconds(), all: true))
            let lost = probes.session.lostEvents()
            if lost > 0 { StandardStreams.err("Lost \(lost) events (ring buffer full)\n") }
        }
    }

    /// HH:MM:SS.ffffff of a Unix time in nanoseconds.
    static func time(_ unixNs: UInt64) -> String {
        var t = time_t(unixNs / 1_000_000_000)
        var parts = tm()
        localtime_r(&t, &parts)
        return String(format: "%02d:%02d:%02d.%06d", parts.tm_hour, parts.tm_min, parts.tm_sec, Int32((unixNs % 1_000_000_000) / 1000))
    }

    /// What to watch: --netns and -i, else the running simulations' namespaces.
    /// - Throws: `BPFError(.notFound)` for an unknown namespace or simulation, or when nothing is given and no simulation is up.
    static func targets(netns: [String], interfaces: [String], simulation: String?) throws -> [Target] {
        var out: [Target] = []
        func add(_ namespace: String?, _ label: String, _ interface: String?) {
            if let i = out.firstIndex(where: { $0.namespace == namespace }) {
                if let interface, out[i].interfaces != nil { out[i].interfaces?.append(interface) } else if interface == nil { out[i].interfaces = nil }
            } else {
                out.append(Target(namespace: namespace, label: label, interfaces: interface.map { [$0] }))
            }
        }
        func resolve(_ word: String) throws -> (String, String) {
            if NetworkNamespaceName.isPlain(word), NetworkNamespace.exists(word) { return (word, hostLabel(word)) }
            if let ns = try DropsPlaces.simulationNamespace(word) { return (ns, word) }
            throw BPFError(.notFound, operation: "trace packet", subject: word, message: "no network namespace '\(word)' in /run/netns nor a simulation host of that name",
                           hint: "list them with `ip netns list` or `netbpf sim status NAME`")
        }
        for n in netns { let (ns, label) = try resolve(n); add(ns, label, nil) }
        for i in interfaces {
            let parts = i.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
            guard (parts.count == 1 || parts.count == 2), !parts.contains(where: \.isEmpty) else {
                throw BPFError(.invalidArgument, operation: "trace packet", subject: "-i \(i)", message: "not an interface", hint: "NAME or NS/NAME")
            }
            if parts.count == 1 { add(nil, "", parts[0]) } else { let (ns, label) = try resolve(parts[0]); add(ns, label, parts[1]) }
        }
        if !out.isEmpty { return out }
        let sims = simulation.map { [$0] } ?? Simulation.list()
        for sim in sims {
            guard let journal = try Simulation.journal(sim) else {
                throw BPFError(.notFound, operation: "trace packet", subject: sim, message: "no simulation '\(sim)' is up", hint: "netbpf sim status lists them")
            }
            for (host, ns) in journal.hosts.sorted(by: { $0.key < $1.key }) where NetworkNamespace.exists(ns) { add(ns, host, nil) }
        }
        guard !out.isEmpty else {
            throw BPFError(.notFound, operation: "trace packet", message: "no simulation is up and no --netns or -i was given",
                           hint: "bring one up (netbpf sim up topologies/demo.yaml) or name namespaces/interfaces: --netns NS, -i NS/IFACE")
        }
        return out
    }

    /// The simulation host living in namespace `ns`, else `ns` itself.
    static func hostLabel(_ ns: String) -> String {
        for sim in Simulation.list() {
            if let j = try? Simulation.journal(sim), let host = j.hosts.first(where: { $0.value == ns })?.key { return host }
        }
        return ns
    }

    /// The namespace's inode, its interfaces (all, or the named ones) and their VXLAN ports.
    static func scan(_ t: Target) throws -> Scanned {
        let wanted = t.interfaces
        let work: @Sendable () throws -> Scanned = {
            let all = try NetlinkSocket().interfaces()
            var devices: [(index: Int32, name: String)] = []
            if let wanted {
                for w in wanted {
                    guard let d = all.first(where: { $0.name == w }) else {
                        throw BPFError(.notFound, operation: "trace packet", subject: w, message: "no interface '\(w)' in that namespace", hint: "ip link")
                    }
                    devices.append((index: d.index, name: d.name))
                }
            } else {
                devices = all.map { (index: $0.index, name: $0.name) }
            }
            let ports = all.compactMap { $0.vxlan?.port }
            return Scanned(inode: DropsNames.inode("/proc/thread-self/ns/net") ?? 0, devices: devices, vxlanPorts: ports)
        }
        if let ns = t.namespace { return try withNamespace(ns) { try work() } }
        return try work()
    }

    /// Attaches the probes around the programs of both tcx hooks of every scanned interface
    /// (TCXProbePlacement, shared with capture).
    static func attach(_ probes: PacketPath.Probes, to s: Scanned, target t: Target) throws -> (links: [BPFLink], hooks: [PacketPath.Hook: PacketPath.HookInfo]) {
        let ingress = probes.ingress, egress = probes.egress
        // Both hooks of every device locked (devices in name order, so two commands never wait
        // for each other in a circle) while the probes are placed and the order read back.
        let locks = try s.devices.map(\.name).sorted().map { try HookLock(namespace: t.namespace, interface: $0, hooks: ["egress", "ingress"]) }
        defer { locks.forEach { $0.release() } }
        let placed = try TCXProbePlacement.attach(namespace: t.namespace, devices: s.devices.map { TCXProbePlacement.Device(index: $0.index, name: $0.name) },
                                                  label: t.label, ours: Set(probes.ids.values.flatMap { $0 })) { _, direction in
            direction == .ingress ? ingress : egress
        }
        return (placed.links, placed.hooks)
    }
}

/// `--json`: one object per packet.
struct PathJSON: Encodable {
    var time: String
    var packet: String
    var id: String
    var hops: [PacketPath.Hop]
    var end: PacketPath.Ending
    var path: String

    init(_ p: PacketPath.Path, time: String) {
        self.time = time
        packet = p.packet
        id = String(p.id, radix: 16)
        hops = p.hops
        end = p.end
        path = p.route
    }
}

extension TracePacket: TracingCommand {}
