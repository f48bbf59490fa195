import Foundation
import Glibc
import NetBPF

/// capture: packets at tc hooks (or XDP), filtered in the kernel by a pcap expression, with their
/// metadata and, at tc hooks, the verdict of each program there (Tools/capture/capture.bpf.c).
/// One object per (namespace, interface, hook): its `idb` global is the hook's pcap-ng interface
/// number; the caller places its tc program copies around the hook's tcx programs with
/// `TCXProbePlacement` (copy 0 records packets, the others note which packets got that far), or
/// attaches the XDP program by link, from a thread in the right namespace.
public enum Capture {
    /// One loaded capture program for one hook.
    public final class Hook {
        /// The hook's pcap-ng interface number.
        public let idb: UInt32
        /// The loaded object (its program and maps).
        public let session: ToolSession
        /// The copies of the tc program, by slot (`TCXProbePlacement.slots`): copy 0 records.
        /// The XDP variant has one program.
        public let programs: [BPFProgram]
        /// Their kernel ids.
        public let ids: [UInt32]

        init(idb: UInt32, session: ToolSession, programs: [BPFProgram]) throws {
            self.idb = idb; self.session = session; self.programs = programs
            ids = try programs.map { try $0.info().id }
        }

        /// Packets the filter matched, packets the hook saw, samples the perf buffer refused.
        public func counters() -> (matched: UInt64, seen: UInt64, refused: UInt64) {
            guard let m = try? session.map("counters"), let a = try? ArrayMap<UInt64>(m) else { return (0, 0, 0) }
            return ((try? a.get(0)) ?? 0, (try? a.get(1)) ?? 0, (try? a.get(2)) ?? 0)
        }
    }

    /// Compiles (once per filter, cached) and loads a capture program for interface block `idb`:
    /// the tc program's copies (place them with `TCXProbePlacement`), or with `xdp` the XDP one
    /// (attach it as the interface's XDP program; it passes every frame on).
    /// - Throws: `BPFError(.invalidArgument)` for a pcap expression libpcap rejects; what
    ///   compiling and loading throw.
    public static func load(idb: UInt32, snaplen: UInt32, filter: String?, xdp: Bool = false) throws -> Hook {
        var transform: ((String) throws -> String)?
        if let expression = filter, !expression.trimmingCharacters(in: .whitespaces).isEmpty {
            let function = try PcapToC.function(ClassicFilter.compile(pcap: expression, snapshotLength: Int32(clamping: snaplen)))
            transform = { try PcapToC.insert(function, into: $0) }
        }
        let (spec, btf) = try ToolSources.open("capture", defines: xdp ? ["CAPTURE_XDP"] : [], transform: transform)
        try spec.setGlobal("idb", to: idb)
        try spec.setGlobal("snaplen", to: snaplen)
        let object = try spec.load()
        withExtendedLifetime(btf) {}
        let session = ToolSession(object: object)
        // skb:kfree_skb and skb:consume_skb (raw tracepoints): the drop reason of captured packets.
        for p in object.programs where p.section.hasPrefix("raw_tp/") { session.add(try session.attach(p)) }
        if xdp {
            guard let program = object.programs.first(where: { $0.section == "xdp" }) else {
                throw BPFError(.notFound, operation: "capture", message: "capture.bpf.c has no SEC(\"xdp\") program")
            }
            return try Hook(idb: idb, session: session, programs: [program])
        }
        return try Hook(idb: idb, session: session, programs: (0..<TCXProbePlacement.slots).map { try object.program(named: "capture_tc\($0)") })
    }

    /// The comment's verdict part for a packet that the copies up to `maxSlot` saw at a hook
    /// described by `info`: `verdict: ratelimit (id 104) SHOT`, `verdict: a (id 5) next; b (id 9) ok`,
    /// `verdict: no programs`. `shot`: dropped by tc at this hook (skb:kfree_skb said
    /// TC_INGRESS or TC_EGRESS at this device). Words: next (handed on, TCX_NEXT), ok (ended
    /// the chain without a drop: passed or redirected), SHOT (dropped), not run.
    public static func verdictText(_ info: PacketPath.HookInfo?, maxSlot: Int, shot: Bool) -> String {
        let decisions = info?.decisions(maxSlot: maxSlot, shot: shot)
            ?? (shot ? [(program: PacketPath.Program(name: "tc filter", id: 0), decision: .shot)] : [])
        guard !decisions.isEmpty else { return "verdict: no programs" }
        return "verdict: " + decisions.map { p, d in
            let word = switch d {
            case .next: "next"
            case .passed: "ok"
            case .shot: "SHOT"
            case .notRun: "not run"
            }
            return p.id == 0 ? "\(p.name) \(word)" : "\(p.name) (id \(p.id)) \(word)"
        }.joined(separator: "; ")
    }

    /// One sample of the program: a packet (struct capture_meta, 48 bytes, then its bytes),
    /// (`isDropNote`) the news that packet `sequence` was dropped for `reason`, or (`slot`) that
    /// a later copy at the hook saw packet `sequence`.
    public struct Packet {
        /// When the program saw it, bpf_ktime_get_ns() (add `realtimeOffset()` for Unix time).
        public var timestampNs: UInt64
        /// The packet's number; in a drop note, the dropped packet's.
        public var sequence: UInt64
        /// True for a drop note (no bytes), false for a packet.
        public var isDropNote: Bool
        /// In a drop note, the `enum skb_drop_reason` value (skb:kfree_skb).
        public var reason: UInt32
        /// In a drop note: dropped at the device it was captured on (skb->dev).
        public var droppedHere: Bool
        /// A slot note: the copy (slot) that saw the packet; nil otherwise.
        public var slot: Int?
        /// The hook's pcap-ng interface number.
        public var idb: UInt32
        /// skb->len; `data` may hold fewer bytes (snaplen, at most 65000).
        public var length: UInt32
        /// skb->mark.
        public var mark: UInt32
        /// skb->ifindex; in a drop note, the index of the device it was dropped at (0: none).
        public var ifindex: UInt32
        /// skb->priority.
        public var priority: UInt32
        /// skb->protocol, host byte order (0x0800, 0x86dd ...).
        public var etherType: UInt16
        /// skb->pkt_type (PACKET_HOST, PACKET_BROADCAST ...).
        public var packetType: UInt8
        /// The captured bytes (valid during the handler call).
        public var data: UnsafeRawBufferPointer

        /// Decodes a perf sample; nil when it is too short.
        public init?(_ r: UnsafeRawBufferPointer) {
            guard r.count >= 48 else { return nil }
            timestampNs = r.u64(0); sequence = r.u64(8); idb = r.u32(16); length = r.u32(20)
            let caplen = Int(r.u32(24))
            mark = r.u32(28); ifindex = r.u32(32); priority = r.u32(36); etherType = r.u16(40); packetType = r.u8(42)
            isDropNote = r.u8(43) == 1; reason = r.u32(44)
            droppedHere = isDropNote && packetType == 1
            slot = r.u8(43) == 2 ? Int(reason) : nil
            data = UnsafeRawBufferPointer(rebasing: r[48..<min(r.count, 48 + caplen)])
        }
    }

    /// Nanoseconds to add to bpf_ktime_get_ns() (CLOCK_MONOTONIC) for Unix time.
    public static func realtimeOffset() -> UInt64 {
        var mono = timespec(), real = timespec()
        clock_gettime(CLOCK_MONOTONIC, &mono)
        clock_gettime(CLOCK_REALTIME, &real)
        let m = UInt64(mono.tv_sec) * 1_000_000_000 + UInt64(mono.tv_nsec)
        let r = UInt64(real.tv_sec) * 1_000_000_000 + UInt64(real.tv_nsec)
        return r &- m
    }
}
