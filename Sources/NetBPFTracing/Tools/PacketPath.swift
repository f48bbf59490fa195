import Foundation
import Glibc
import NetBPF

/// packetpath: the probes behind `netbpf trace packet` (Tools/packetpath/packetpath.bpf.c).
///
/// One object holds `slots` copies of a tc probe per direction; the caller attaches copy k of a
/// direction in front of the k-th program of each tcx hook and one more after the last, from a
/// thread in the hook's namespace. Every probe that sees a followed packet reports (identity,
/// hook, slot, time) through the `events` ring buffer; skb:kfree_skb reports the drops of
/// followed packets. `PacketPath.Assembler` turns the events into paths.
public enum PacketPath {
    /// Copies of the probe per direction: up to `slots - 1` programs on a hook get a probe
    /// between each two (more get a probe first and last only). See `TCXProbePlacement`.
    public static let slots = TCXProbePlacement.slots

    /// The loaded probes.
    public final class Probes {
        /// The loaded object (its tracepoint programs are attached; the tc probes are not).
        public let session: ToolSession
        /// The probe copies for ingress hooks, by slot.
        public let ingress: [BPFProgram]
        /// The probe copies for egress hooks, by slot.
        public let egress: [BPFProgram]
        /// Their kernel program ids, to tell them from the programs they surround.
        public let ids: [TCDirection: [UInt32]]

        init(session: ToolSession, ingress: [BPFProgram], egress: [BPFProgram]) throws {
            self.session = session
            self.ingress = ingress
            self.egress = egress
            ids = [.ingress: try ingress.map { try $0.info().id }, .egress: try egress.map { try $0.info().id }]
        }

        /// The copies for one direction.
        public func programs(_ direction: TCDirection) -> [BPFProgram] { direction == .ingress ? ingress : egress }
    }

    /// Compiles (cached per filter), loads the probes and attaches the kfree_skb/consume_skb
    /// programs.
    /// - Parameters:
    ///   - filter: a pcap expression run at slot 0 on the frame and on a VXLAN frame's inner frame.
    ///   - vxlanPorts: UDP ports that carry VXLAN (at most 4; empty: 4789).
    /// - Throws: `BPFError(.invalidArgument)` for a pcap expression libpcap rejects; what
    ///   compiling, loading and attaching throw.
    public static func load(filter: String?, vxlanPorts: [UInt16] = []) throws -> Probes {
        var transform: ((String) throws -> String)?
        if let expression = filter, !expression.trimmingCharacters(in: .whitespaces).isEmpty {
            let function = try PcapToC.function(ClassicFilter.compile(pcap: expression))
            transform = { try PcapToC.insert(function, into: $0) }
        }
        let (spec, btf) = try ToolSources.open("packetpath", transform: transform)
        let ports = Array((vxlanPorts.isEmpty ? [4789] : vxlanPorts).prefix(4))
        for i in 0..<4 { try spec.setGlobal("vxlan_port\(i)", to: i < ports.count ? ports[i] : UInt16(0)) }
        let object = try spec.load()
        withExtendedLifetime(btf) {}
        let session = ToolSession(object: object)
        for p in object.programs where p.section.hasPrefix("tracepoint/") { session.add(try session.attach(p)) }
        return try Probes(session: session,
                          ingress: (0..<slots).map { try object.program(named: "pp_in\($0)") },
                          egress: (0..<slots).map { try object.program(named: "pp_eg\($0)") })
    }

    /// One record of the ring buffer (struct pp_event, 104 bytes).
    public struct Event: Sendable, Equatable {
        /// bpf_ktime_get_ns() (CLOCK_MONOTONIC).
        public var timestampNs: UInt64
        /// The packet's identity: a hash of the header fields that do not change on the way.
        public var id: UInt64
        /// The kernel sk_buff's address.
        public var skb: UInt64
        /// A drop: the kernel address that freed it.
        public var location: UInt64
        /// The device's namespace inode.
        public var netns: UInt32
        /// The device's index (a drop: skb->dev's, 0 without one).
        public var ifindex: Int32
        /// A drop: the `enum skb_drop_reason` value.
        public var reason: UInt32
        /// skb->len.
        public var length: UInt32
        /// True for a drop, false for a probe's sighting.
        public var isDrop: Bool
        /// The hook's direction (a drop: of the last hook that saw it).
        public var direction: TCDirection
        /// The probe's slot at the hook.
        public var slot: Int
        /// The packet (valid in slot 0 sightings; the inner packet of a VXLAN frame).
        public var packet: Packet
        /// A drop of an skb whose data a clone still shares: a copy lives on (a raw socket's, a packet socket's).
        public var cloned = false

        /// Decodes a record; nil when it is too short.
        public init?(_ r: UnsafeRawBufferPointer) {
            guard r.count >= 104 else { return nil }
            timestampNs = r.u64(0); id = r.u64(8); skb = r.u64(16); location = r.u64(24)
            netns = r.u32(32); ifindex = r.i32(36); reason = r.u32(40); length = r.u32(44)
            isDrop = r.u8(48) == 1; direction = r.u8(49) == 1 ? .egress : .ingress; slot = Int(r.u8(50))
            let family = r.u8(51)
            let n = family == 6 ? 16 : 4
            packet = Packet(family: family, proto: r.u8(52), tcpFlags: r.u8(53), encapsulated: r.u8(54) == 1, icmpType: r.u8(55),
                            sport: r.u16(56), dport: r.u16(58), seq: r.u32(60), ack: r.u32(64), payload: r.u16(68), ipID: r.u16(70),
                            source: Array(r[72..<(72 + n)]), destination: Array(r[88..<(88 + n)]))
            cloned = isDrop && r.u8(54) == 1
        }

        /// An event made by hand (tests).
        public init(timestampNs: UInt64, id: UInt64, skb: UInt64 = 0, netns: UInt32, ifindex: Int32, direction: TCDirection, slot: Int,
                    drop reason: UInt32? = nil, location: UInt64 = 0, packet: Packet = Packet()) {
            self.timestampNs = timestampNs; self.id = id; self.skb = skb; self.location = location
            self.netns = netns; self.ifindex = ifindex; self.reason = reason ?? 0; length = 0
            isDrop = reason != nil; self.direction = direction; self.slot = slot; self.packet = packet
        }
    }

    /// The headers a slot-0 probe parsed.
    public struct Packet: Sendable, Equatable {
        /// 4 or 6.
        public var family: UInt8 = 4
        /// IPPROTO_*.
        public var proto: UInt8 = 0
        /// TCP flags byte.
        public var tcpFlags: UInt8 = 0
        /// Seen inside VXLAN (these are the inner headers).
        public var encapsulated = false
        /// ICMP type.
        public var icmpType: UInt8 = 0
        /// Source port; ICMP echo: the id.
        public var sport: UInt16 = 0
        /// Destination port; ICMP: the code.
        public var dport: UInt16 = 0
        /// TCP sequence number; ICMP echo: the sequence.
        public var seq: UInt32 = 0
        /// TCP acknowledgment number.
        public var ack: UInt32 = 0
        /// L4 payload bytes.
        public var payload: UInt16 = 0
        /// IPv4 id.
        public var ipID: UInt16 = 0
        /// Source address (4 or 16 bytes).
        public var source: [UInt8] = [0, 0, 0, 0]
        /// Destination address.
        public var destination: [UInt8] = [0, 0, 0, 0]

        /// A packet made by hand (tests).
        public init(family: UInt8 = 4, proto: UInt8 = 0, tcpFlags: UInt8 = 0, encapsulated: Bool = false, icmpType: UInt8 = 0,
                    sport: UInt16 = 0, dport: UInt16 = 0, seq: UInt32 = 0, ack: UInt32 = 0, payload: UInt16 = 0, ipID: UInt16 = 0,
                    source: [UInt8] = [0, 0, 0, 0], destination: [UInt8] = [0, 0, 0, 0]) {
            self.family = family; self.proto = proto; self.tcpFlags = tcpFlags; self.encapsulated = encapsulated; self.icmpType = icmpType
            self.sport = sport; self.dport = dport; self.seq = seq; self.ack = ack; self.payload = payload; self.ipID = ipID
            self.source = source; self.destination = destination
        }

        /// tcpdump-like: `tcp 10.0.0.1:4242 > 10.0.0.2:80 [P.] seq 1 ack 2 len 79`,
        /// `icmp 10.0.0.1 > 10.0.0.2 echo request id 7 seq 1`.
        public var text: String {
            let s = address(source), d = address(destination)
            func ported(_ a: String, _ p: UInt16) -> String { (family == 6 ? "[\(a)]" : a) + ":\(p)" }
            switch proto {
            case 6:
                return "tcp \(ported(s, sport)) > \(ported(d, dport)) [\(PacketPath.tcpFlags(tcpFlags))] seq \(seq)"
                    + (tcpFlags & 0x10 != 0 ? " ack \(ack)" : "") + " len \(payload)"
            case 17:
                return "udp \(ported(s, sport)) > \(ported(d, dport)) len \(payload)"
            case 1, 58:
                let name = proto == 1 ? "icmp" : "icmp6"
                switch (proto, icmpType) {
                case (1, 8), (58, 128): return "\(name) \(s) > \(d) echo request id \(sport) seq \(seq)"
                case (1, 0), (58, 129): return "\(name) \(s) > \(d) echo reply id \(sport) seq \(seq)"
                default: return "\(name) \(s) > \(d) type \(icmpType) code \(dport)"
                }
            default:
                return "proto \(proto) \(s) > \(d)"
            }
        }

        /// The address in its usual text form.
        func address(_ bytes: [UInt8]) -> String {
            var out = [CChar](repeating: 0, count: 64)
            let af = bytes.count == 16 ? AF_INET6 : AF_INET
            _ = bytes.withUnsafeBytes { inet_ntop(af, $0.baseAddress, &out, socklen_t(out.count)) }
            return String(decoding: out.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
    }

    /// tcpdump's flag letters: S F R P U, "." for ACK ("S.", "P.").
    static func tcpFlags(_ f: UInt8) -> String {
        var s = ""
        if f & 0x02 != 0 { s += "S" }
        if f & 0x01 != 0 { s += "F" }
        if f & 0x04 != 0 { s += "R" }
        if f & 0x08 != 0 { s += "P" }
        if f & 0x20 != 0 { s += "U" }
        if f & 0x10 != 0 { s += "." }
        return s.isEmpty ? "none" : s
    }
}
