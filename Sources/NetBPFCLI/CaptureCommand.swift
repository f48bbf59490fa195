import ArgumentParser
import Foundation
import Glibc
import NetBPF
import NetBPFAttach
import NetBPFNetlink
import NetBPFSim
import NetBPFTracing

/// `netbpf capture IFACE... -w FILE [FILTER]`: packets at the tc hooks of interfaces in any
/// namespaces, filtered in the kernel, written as pcap-ng with one interface block per
/// (namespace, interface, hook) and the packet's metadata and the verdict of each program at
/// the hook as a comment.
struct CaptureCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "capture",
        abstract: "Capture packets at tc (or XDP) hooks of interfaces in any namespaces to pcap-ng, filtered in the kernel.",
        discussion: """
        Each IFACE is NAME (this namespace) or NS/NAME (NS: a /run/netns name or a simulation host). \
        The words after the interfaces are a pcap filter (as tcpdump's), compiled by libpcap and run in the kernel \
        at each hook, so unmatched packets never reach user space. A copy of the capture program goes in front of every \
        tcx program of each hook and one after the last (as trace packet's probes): the first records the packet, the \
        copies that saw it say which program decided, skb:kfree_skb whether it dropped it. Each packet's comment reads \
        `verdict: NAME (id N) SHOT|ok|next|not run; ...` (ok: passed or redirected; next: handed on) and the drop reason. \
        With 8 programs or more on a hook only the first and last copies are placed. Needs tcx (Linux 6.6). \
        Everything detaches when netbpf exits. --hook xdp captures frames as the driver hands them over, before tc \
        (no verdicts); it needs the interface's XDP hook free (one XDP program per interface).
        """)

    @Option(name: .customShort("w"), help: ArgumentHelp("The pcap-ng file to write, - for stdout.", valueName: "file")) var file: String
    @Option(name: [.customShort("c"), .long], help: "Stop after this many packets.") var count: Int?
    @Option(name: [.customShort("s"), .long], help: "Bytes of each packet to keep.") var snaplen: UInt32 = 262_144
    @Option(help: "Hooks, comma-separated: ingress, egress, both (ingress,egress) or xdp.") var hook: String = "both"
    @Option(help: "Stop after this many seconds.") var seconds: Double?
    @Flag(name: .long, help: "Print libbpf's messages and whole verifier logs.") var verbose = false
    @Argument(help: "Interfaces (NAME or NS/NAME), then an optional pcap filter.") var words: [String] = []

    /// One interface to capture on.
    struct Target { var namespace: String?; var label: String; var name: String; var ifindex: Int32 }

    func run() throws {
        try runTool(verbose: verbose) {
            let points = try Self.points(hook)
            if let c = count, c <= 0 { throw BPFError(.invalidArgument, operation: "capture", subject: "--count", message: "must be at least 1") }
            guard snaplen >= 64 else { throw BPFError(.invalidArgument, operation: "capture", subject: "--snaplen", message: "must be at least 64") }
            var targets: [Target] = []
            var rest = words[...]
            while let w = rest.first, let t = try Self.target(w) { targets.append(t); rest = rest.dropFirst() }
            guard !targets.isEmpty else {
                throw BPFError(.invalidArgument, operation: "capture", subject: words.first ?? "",
                               message: words.isEmpty ? "no interface given" : "'\(words[0])' is not an interface here",
                               hint: "give NAME or NS/NAME first (ip link; ip netns list), then the filter")
            }
            let filter = rest.isEmpty ? nil : rest.joined(separator: " ")
            guard !points.contains(where: { $0 != .xdp }) || Features.shared.tcx.available else {
                throw BPFError(.unsupported, operation: "capture", message: "this kernel has no tcx",
                               hint: "capture needs tcx (Linux 6.6) to put its program around the programs of a hook")
            }

            let out: UnsafeMutablePointer<FILE>
            if file == "-" { out = StandardStreams.cOut } else {
                guard let f = fopen(file, "w") else { throw BPFError.system("open", subject: file, errno: errno) }
                out = f
            }
            defer { if file != "-" { fclose(out) } }

            var writer = PcapNGWriter(application: "netbpf capture")
            var hooks: [Capture.Hook] = []
            var links: [BPFLink] = []
            var descriptions: [String] = []
            var infos: [UInt32: PacketPath.HookInfo] = [:]   // by idb: a tc hook's programs and where the copies sit
            defer { detachReportingFailures(links) }
            for t in targets {
                var loaded: [TCDirection: Capture.Hook] = [:]
                for point in points {
                    let idb = UInt32(hooks.count)
                    let hook = try Capture.load(idb: idb, snaplen: snaplen, filter: filter, xdp: point == .xdp)
                    switch point {
                    case .tc(let d): loaded[d] = hook
                    case .xdp:
                        let program = hook.programs[0], ifindex = t.ifindex
                        // Generic mode (XDP_FLAGS_SKB_MODE): still before tc, and unlike native mode it
                        // does not make a driver rebuild its rings or turn off a veth peer's GSO.
                        let attach: @Sendable () throws -> BPFLink = { try program.attachXDPLink(ifindex: ifindex, flags: 2) }
                        // Under the hook's lock, as `netbpf attach` changes it.
                        links.append(try HookLock.with(namespace: t.namespace, interface: t.name, hooks: ["xdp"]) {
                            try t.namespace.map { try withNamespace($0) { try attach() } } ?? attach()
                        })
                    }
                    hooks.append(hook)
                    let name = "\(t.label):\(point.name)"
                    descriptions.append(name)
                    writer.interface(name: name, description: "netns \(t.namespace ?? "(netbpf's own)"), interface \(t.name) (ifindex \(t.ifindex)), \(point.description)",
                                     snaplen: snaplen)
                }
                guard !loaded.isEmpty else { continue }
                // The tc copies: one in front of each tcx program, one after the last.
                let copies = loaded.mapValues(\.programs)
                // Under the hooks' locks: a `netbpf attach` on the same hook waits until the copies
                // are placed and the order is read back.
                let placed = try HookLock.with(namespace: t.namespace, interface: t.name, hooks: loaded.keys.map(\.rawValue)) {
                    try TCXProbePlacement.attach(namespace: t.namespace, devices: [TCXProbePlacement.Device(index: t.ifindex, name: t.name)],
                                                 directions: Array(loaded.keys),
                                                 ours: Set(hooks.flatMap(\.ids))) { _, d in copies[d] ?? [] }
                }
                links += placed.links
                for (d, hook) in loaded {
                    infos[hook.idb] = placed.hooks[PacketPath.Hook(netns: placed.netns, ifindex: t.ifindex, direction: d)]
                }
            }
            let offset = Capture.realtimeOffset()
            // Packets of one poll round from every hook, written in time order.
            // Packets wait up to `hold` seconds for a drop note (skb:kfree_skb of a captured skb).
            // Slot notes (which copies saw a packet) arrive right after their packet, on the same CPU.
            struct Pending { var time: UInt64; var idb: UInt32; var seq: UInt64; var arrived: Double; var bytes: [UInt8]; var length: UInt32; var comment: String }
            struct Drop { var reason: UInt32; var here: Bool }
            final class State { var pending: [Pending] = []; var reasons: [UInt64: Drop] = [:]; var slots: [UInt64: Int] = [:]; var packets = 0 }
            let hold = 0.2
            let state = State()
            let types = ["host", "broadcast", "multicast", "otherhost", "outgoing", "loopback"]
            let labels = descriptions, hookInfos = infos
            var buffers: [PerfBuffer] = []
            // The loop below reads every ring each round (at most 100 ms apart), so the kernel
            // need not wake it per sample: a wake-up is an irq_work and a context switch, the
            // largest part of a captured packet's cost. It wakes after 64 samples instead.
            for h in hooks {
                buffers.append(try PerfBuffer(map: h.session.map("events"), pagesPerCPU: 256, wakeupEvents: 64) { _, data in
                    guard let p = Capture.Packet(data) else { return }
                    let key = UInt64(p.idb) << 40 | p.sequence  // seq is per hook object
                    if p.isDropNote { state.reasons[key] = Drop(reason: p.reason, here: p.droppedHere); return }
                    if let slot = p.slot { state.slots[key] = max(state.slots[key] ?? 0, slot); return }
                    let type = Int(p.packetType) < types.count ? types[Int(p.packetType)] : "\(p.packetType)"
                    let label = labels[Int(p.idb) < labels.count ? Int(p.idb) : 0]
                    // XDP sees the frame before an skb exists: no mark, priority or packet type yet.
                    let comment = label.hasSuffix(":xdp") ? "\(label) ifindex=\(p.ifindex)"
                        : "\(label) mark=0x\(String(p.mark, radix: 16)) priority=\(p.priority) pkt_type=\(type) ifindex=\(p.ifindex)"
                    state.pending.append(Pending(time: p.timestampNs &+ offset, idb: p.idb, seq: p.sequence, arrived: Clock.monotonic(), bytes: Array(p.data), length: p.length,
                                                 comment: comment))
                })
            }
            func drain(all: Bool = false) {
                state.pending.sort { $0.time < $1.time }
                let now = Clock.monotonic()
                // Written: everything older than the oldest packet still waiting for a drop note.
                // (A loop, not filter/map: those copy every pending packet, retaining its bytes and comment.)
                var waiting: UInt64?
                for i in state.pending.indices where now - state.pending[i].arrived < hold {
                    waiting = min(waiting ?? .max, state.pending[i].time)
                }
                let ready = all || waiting == nil ? state.pending.count : (state.pending.firstIndex { $0.time >= waiting! } ?? state.pending.count)
                for p in state.pending[..<ready] {
                    if let c = count, state.packets >= c { break }
                    let key = UInt64(p.idb) << 40 | p.seq
                    let drop = state.reasons.removeValue(forKey: key)
                    let reason = drop.map { DropReasons.name($0.reason) }
                    let ingress = labels[Int(p.idb)].hasSuffix(":ingress")
                    // Dropped by tc at this hook: TC_INGRESS/TC_EGRESS (this direction's) at this device.
                    let shot = drop?.here == true && reason == (ingress ? "TC_INGRESS" : "TC_EGRESS")
                    let slot = state.slots.removeValue(forKey: key) ?? 0
                    var comment = p.comment
                    if !labels[Int(p.idb)].hasSuffix(":xdp") { comment += " " + Capture.verdictText(hookInfos[p.idb], maxSlot: slot, shot: shot) }
                    if let reason { comment += " dropped: " + reason }
                    p.bytes.withUnsafeBytes {
                        writer.packet(interface: p.idb, timestampNs: p.time, data: $0, originalLength: p.length,
                                      inbound: !labels[Int(p.idb)].hasSuffix(":egress"), comment: comment)
                    }
                    state.packets += 1
                }
                state.pending.removeFirst(ready)
                if state.pending.isEmpty && state.reasons.count > 100_000 { state.reasons.removeAll() }
                if state.pending.isEmpty && state.slots.count > 100_000 { state.slots.removeAll() }
            }
            func flush(all: Bool = false) throws {
                drain(all: all)
                let bytes = writer.take()
                guard !bytes.isEmpty else { return }
                let n = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, out) }
                guard n == bytes.count, fflush(out) == 0 else { throw BPFError.system("write", subject: file, errno: errno) }
            }
            try flush()
            StandardStreams.err("Capturing on \(descriptions.joined(separator: ", "))\(filter.map { ", filter '\($0)'" } ?? "")... Hit Ctrl-C to end.\n")
            var pfds = buffers.map { pollfd(fd: $0.epollFD, events: Int16(POLLIN), revents: 0) }
            let start = Clock.monotonic()
            var lastDrain = start
            while !StopSignal.requested {
                if let c = count, state.packets >= c { break }
                if let s = seconds, Clock.monotonic() - start >= s { break }
                _ = Glibc.poll(&pfds, nfds_t(pfds.count), 100)
                // Every buffer each round (not only those poll() flagged): a hook read late would
                // write its packets out of time order and miss drop notes.
                // consume, not poll: it reads every CPU's ring whether or not its wake-up (an irq_work
                // from the tc hook) has arrived yet.
                for b in buffers { try b.consume() }
                // Written at most every 20 ms: a drain sorts and scans everything pending (up to
                // `hold` seconds of packets), which after every 64-sample wake-up would cost more
                // than the packets themselves.
                let now = Clock.monotonic()
                if now - lastDrain >= 0.02 { try flush(); lastDrain = now }
            }
            for b in buffers { try b.consume() }
            try flush(all: true)
            var lost: UInt64 = 0
            let now = Capture.realtimeOffset() &+ Clock.bootNanoseconds()
            for (i, h) in hooks.enumerated() {
                let c = h.counters()
                let dropped = buffers[i].lostCount + c.refused
                lost += dropped
                writer.statistics(interface: h.idb, timestampNs: now, received: c.matched, dropped: dropped)
            }
            try flush()
            StandardStreams.err("\(state.packets) packets captured, \(lost) lost\n")
        }
    }

    /// A place packets are captured: a tc hook, or the XDP hook.
    enum Point: Equatable {
        case tc(TCDirection)
        case xdp
        /// "ingress", "egress", "xdp": the suffix of the pcap-ng interface name.
        var name: String { if case .tc(let d) = self { d.rawValue } else { "xdp" } }
        /// For the interface description.
        var description: String { if case .tc(let d) = self { "tcx \(d.rawValue)" } else { "xdp" } }
    }

    /// The points of `--hook`: a comma-separated list of ingress, egress, both and xdp.
    /// - Throws: `BPFError(.invalidArgument)` for another word.
    static func points(_ words: String) throws -> [Point] {
        var out: [Point] = []
        for word in words.split(separator: ",", omittingEmptySubsequences: false) {
            let add: [Point]
            switch word {
            case "both": add = [.tc(.ingress), .tc(.egress)]
            case "ingress": add = [.tc(.ingress)]
            case "egress": add = [.tc(.egress)]
            case "xdp": add = [.xdp]
            default: throw BPFError(.invalidArgument, operation: "capture", subject: "--hook \(words)", message: "'\(word)' is not a hook", hint: "ingress, egress, both or xdp, comma-separated")
            }
            for p in add where !out.contains(p) { out.append(p) }
        }
        return out
    }

    /// NAME (this namespace, if it has it) or NS/NAME (a /run/netns name or a simulation host);
    /// nil when `word` is neither, which is where the filter starts.
    static func target(_ word: String) throws -> Target? {
        let parts = word.split(separator: "/", omittingEmptySubsequences: false)
        if parts.count == 1 {
            let i = if_nametoindex(word)
            return i == 0 ? nil : Target(namespace: nil, label: word, name: word, ifindex: Int32(i))
        }
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { return nil }
        let nsWord = String(parts[0]), name = String(parts[1])
        var namespace: String?
        if NetworkNamespace.exists(nsWord) { namespace = nsWord } else { namespace = try DropsPlaces.simulationNamespace(nsWord) }
        guard let namespace else {
            throw BPFError(.notFound, operation: "capture", subject: word, message: "no network namespace '\(nsWord)' in /run/netns nor a simulation host of that name",
                           hint: "list them with `ip netns list` or `netbpf sim status NAME`")
        }
        let ifindex = try withNamespace(namespace) { Int32(if_nametoindex(name)) }
        guard ifindex != 0 else {
            throw BPFError(.notFound, operation: "capture", subject: word, message: "no interface '\(name)' in namespace \(namespace)")
        }
        return Target(namespace: namespace, label: word, name: name, ifindex: ifindex)
    }
}

extension CaptureCommand: TracingCommand {}
