import Foundation
import NetBPF

extension PacketPath {
    /// A watched tcx hook.
    public struct Hook: Hashable, Sendable {
        /// The device's namespace inode.
        public var netns: UInt32
        /// The device's index there.
        public var ifindex: Int32
        /// Ingress or egress.
        public var direction: TCDirection

        /// A hook.
        public init(netns: UInt32, ifindex: Int32, direction: TCDirection) {
            self.netns = netns; self.ifindex = ifindex; self.direction = direction
        }
    }

    /// A program on a hook, as the kernel names it.
    public struct Program: Sendable, Encodable, Equatable {
        /// The kernel's name (at most 15 bytes).
        public var name: String
        /// Its id.
        public var id: UInt32

        /// A program.
        public init(name: String, id: UInt32) { self.name = name; self.id = id }
    }

    /// What runs on a watched hook, in order, and where the probes are.
    public struct HookInfo: Sendable {
        /// "web/eth0" (simulation host / interface), "ns1/eth0", "eth0" in netbpf's namespace.
        public var place: String
        /// The programs other than the probes, in the order they run.
        public var programs: [Program]
        /// For each probe slot attached (0, 1, ...): how many of `programs` run before it. The
        /// last slot is after every program.
        public var probesAfter: [Int]

        /// A hook's description.
        public init(place: String, programs: [Program], probesAfter: [Int]) {
            self.place = place; self.programs = programs; self.probesAfter = probesAfter
        }
    }

    /// One program's verdict on a packet at a hook.
    public struct Verdict: Sendable, Encodable, Equatable {
        /// The program (several names joined with "|" when no probe sits between them).
        public var program: String
        /// Its id (0 for a group).
        public var id: UInt32
        /// "ok" (handed on: TCX_NEXT), "SHOT" (dropped it), "OK/REDIRECT" (ended the hook's chain
        /// without a drop), "not run" (an earlier program ended the chain).
        public var verdict: String
    }

    /// A packet at one hook.
    public struct Hop: Sendable, Encodable, Equatable {
        /// "web/eth0".
        public var place: String
        /// "ingress" or "egress".
        public var hook: String
        /// bpf_ktime_get_ns() when the first probe saw it.
        public var timestampNs: UInt64
        /// The programs at the hook and what each did.
        public var programs: [Verdict]
        /// Seen as a VXLAN frame (the packet inside it).
        public var encapsulated: Bool

        /// `web/eth0 ingress (tunnel_ingress: ok)`.
        public var text: String {
            let ran = programs.filter { $0.verdict != "not run" }
            return "\(place) \(hook)" + (ran.isEmpty ? "" : " (" + ran.map { "\($0.program): \($0.verdict)" }.joined(separator: ", ") + ")")
        }
    }

    /// How a path ended.
    public struct Ending: Sendable, Encodable, Equatable {
        /// "delivered" (last seen at an ingress hook, not dropped), "dropped", or "unseen" (last
        /// seen leaving an egress hook, nothing watched saw it after).
        public var kind: String
        /// A drop's reason ("TC_INGRESS", from the kernel's BTF).
        public var reason: String?
        /// A drop's kernel location ("__udp4_lib_rcv+0x4bc").
        public var location: String?
        /// A drop's device ("web/vxlan100").
        public var place: String?
        /// A drop of an skb that had been cloned: a copy of the packet lives on (iputils ping as
        /// root reads replies on a raw socket, which gets a clone; ping_rcv then frees the
        /// original with NO_SOCKET).
        public var cloned: Bool?

        /// `delivered`, `dropped: TC_INGRESS`, `dropped: NO_SOCKET (__udp4_lib_rcv)`.
        public var text: String {
            switch kind {
            case "dropped":
                let r = reason ?? "?"
                guard !r.hasPrefix("TC_"), let l = location, l != "-" else { return "dropped: \(r)" }
                let function = l.split(separator: "+").first.map(String.init) ?? l
                return "dropped: \(r) (\(function)\(cloned == true ? "; a clone lives on" : ""))"
            case "unseen": return "not seen after"
            default: return kind
            }
        }
    }

    /// One packet's way through the watched hooks.
    public struct Path: Sendable, Encodable, Equatable {
        /// bpf_ktime_get_ns() of the first sighting.
        public var timestampNs: UInt64
        /// The packet, tcpdump-like ("icmp 10.0.0.1 > 10.0.0.2 echo request id 7 seq 1").
        public var packet: String
        /// The packet's identity hash.
        public var id: UInt64
        /// The hooks, in time order.
        public var hops: [Hop]
        /// How it ended.
        public var end: Ending

        /// `client1/eth0 egress -> web/eth0 ingress (tunnel_ingress: ok) -> ... -> dropped: TC_INGRESS`.
        public var route: String { (hops.map(\.text) + [end.text]).joined(separator: " -> ") }
    }

    /// Groups events by packet identity and, once a packet has been quiet for `settleNs`,
    /// returns its path. Pure logic (no kernel): the CLI feeds it the ring buffer's records.
    public final class Assembler {
        let hooks: [Hook: HookInfo]
        let settleNs: UInt64
        let place: (UInt32, Int32) -> String
        let symbolize: (UInt64) -> String
        private var open: [UInt64: [Event]] = [:]
        private var lastSeen: [UInt64: UInt64] = [:]

        /// - Parameters:
        ///   - hooks: the watched hooks.
        ///   - settleNs: quiet time after which a packet's path is complete.
        ///   - place: names a (namespace inode, ifindex) that is not a watched hook (a drop's device).
        ///   - symbolize: a kernel address as "function+0xoff".
        public init(hooks: [Hook: HookInfo], settleNs: UInt64 = 500_000_000,
                    place: @escaping (UInt32, Int32) -> String = { "netns:\($0)/if\($1)" },
                    symbolize: @escaping (UInt64) -> String = { "0x" + String($0, radix: 16) }) {
            self.hooks = hooks; self.settleNs = settleNs; self.place = place; self.symbolize = symbolize
        }

        /// Packets still being followed.
        public var pending: Int { open.count }

        /// Takes one event.
        public func add(_ e: Event) {
            open[e.id, default: []].append(e)
            lastSeen[e.id] = max(lastSeen[e.id] ?? 0, e.timestampNs)
        }

        /// The paths of packets quiet since `nowNs - settleNs` (every packet with `all`), oldest first.
        public func finished(nowNs: UInt64, all: Bool = false) -> [Path] {
            var done: [Path] = []
            for (id, last) in lastSeen where all || nowNs >= last &+ settleNs {
                if let events = open.removeValue(forKey: id) { done += paths(id: id, events) }
                lastSeen.removeValue(forKey: id)
            }
            return done.sorted { $0.timestampNs < $1.timestampNs }
        }

        /// One identity's events as paths: a new path starts when slot 0 of a hook the current
        /// path already went through sees the identity again (the same headers sent again).
        func paths(id: UInt64, _ events: [Event]) -> [Path] {
            let sorted = events.enumerated().sorted { ($0.element.timestampNs, $0.offset) < ($1.element.timestampNs, $1.offset) }.map(\.element)
            var groups: [[Event]] = [[]]
            var visited = Set<Hook>()
            for e in sorted {
                let hook = Hook(netns: e.netns, ifindex: e.ifindex, direction: e.direction)
                if !e.isDrop, e.slot == 0, visited.contains(hook), groups[groups.count - 1].contains(where: { !$0.isDrop && $0.slot == 0 }) {
                    groups.append([])
                    visited = []
                }
                if !e.isDrop { visited.insert(hook) }
                groups[groups.count - 1].append(e)
            }
            return groups.compactMap { path(id: id, $0) }
        }

        /// The path of one packet's events (time order); nil when no probe saw it.
        func path(id: UInt64, _ events: [Event]) -> Path? {
            struct Visit { var hook: Hook; var maxSlot: Int; var ts: UInt64; var encapsulated: Bool }
            var visits: [Visit] = []
            var packet: Packet?
            for e in events where !e.isDrop {
                let hook = Hook(netns: e.netns, ifindex: e.ifindex, direction: e.direction)
                if e.slot == 0, packet == nil { packet = e.packet }
                if let last = visits.last, last.hook == hook, e.slot > last.maxSlot {
                    visits[visits.count - 1].maxSlot = e.slot
                } else {
                    visits.append(Visit(hook: hook, maxSlot: e.slot, ts: e.timestampNs, encapsulated: e.slot == 0 && e.packet.encapsulated))
                }
            }
            guard let first = visits.first else { return nil }
            let drop = events.first { $0.isDrop }
            let reason = drop.map { DropReasons.name($0.reason) }
            var hops: [Hop] = []
            for (i, v) in visits.enumerated() {
                let info = hooks[v.hook]
                let last = i == visits.count - 1
                let shotHere = last && (reason == "TC_INGRESS" && v.hook.direction == .ingress || reason == "TC_EGRESS" && v.hook.direction == .egress)
                hops.append(Hop(place: info?.place ?? place(v.hook.netns, v.hook.ifindex), hook: v.hook.direction.rawValue, timestampNs: v.ts,
                                programs: info.map { verdicts($0, maxSlot: v.maxSlot, shot: shotHere) } ?? [], encapsulated: v.encapsulated))
            }
            let end: Ending
            if let drop, let reason {
                let where_ = hooks[Hook(netns: drop.netns, ifindex: drop.ifindex, direction: drop.direction)]?.place
                    ?? hooks[Hook(netns: drop.netns, ifindex: drop.ifindex, direction: drop.direction == .ingress ? .egress : .ingress)]?.place
                    ?? (drop.ifindex == 0 ? nil : place(drop.netns, drop.ifindex))
                end = Ending(kind: "dropped", reason: reason, location: symbolize(drop.location), place: where_, cloned: drop.cloned ? true : nil)
            } else {
                end = Ending(kind: visits[visits.count - 1].hook.direction == .ingress ? "delivered" : "unseen")
            }
            return Path(timestampNs: first.ts, packet: (packet ?? Packet()).text, id: id, hops: hops, end: end)
        }

        /// Each program's verdict when the probes up to `maxSlot` saw the packet (trace packet's
        /// words: "ok" for handed on, "OK/REDIRECT" for ended the chain without a drop).
        func verdicts(_ info: HookInfo, maxSlot: Int, shot: Bool) -> [Verdict] {
            info.decisions(maxSlot: maxSlot, shot: shot).map { p, d in
                let word = switch d {
                case .next: "ok"
                case .passed: "OK/REDIRECT"
                case .shot: "SHOT"
                case .notRun: "not run"
                }
                return Verdict(program: p.name, id: p.id, verdict: word)
            }
        }
    }
}
