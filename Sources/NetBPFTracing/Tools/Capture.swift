import Foundation
import Glibc
import NetBPF

/// capture: packets at tc hooks, filtered in the kernel by a pcap expression, with their
/// metadata (Tools/capture/capture.bpf.c). One object per (namespace, interface, hook): its
/// `idb` global is the hook's pcap-ng interface number; the caller attaches its program (tcx,
/// first) from a thread in the right namespace.
public enum Capture {
    /// One loaded capture program for one hook.
    public final class Hook {
        /// The hook's pcap-ng interface number.
        public let idb: UInt32
        /// The loaded object (its program and maps).
        public let session: ToolSession
        /// The program to attach.
        public var program: BPFProgram { session.object.programs[0] }

        init(idb: UInt32, session: ToolSession) { self.idb = idb; self.session = session }

        /// Packets the filter matched, packets the hook saw, samples the perf buffer refused.
        public func counters() -> (matched: UInt64, seen: UInt64, refused: UInt64) {
            guard let m = try? session.map("counters"), let a = try? ArrayMap<UInt64>(m) else { return (0, 0, 0) }
            return ((try? a.get(0)) ?? 0, (try? a.get(1)) ?? 0, (try? a.get(2)) ?? 0)
        }
    }

    /// Compiles (once per filter, cached) and loads a capture program for interface block `idb`.
    /// - Throws: `BPFError(.invalidArgument)` for a pcap expression libpcap rejects; what
    ///   compiling and loading throw.
    public static func load(idb: UInt32, snaplen: UInt32, filter: String?) throws -> Hook {
        var transform: ((String) throws -> String)?
        if let expression = filter, !expression.trimmingCharacters(in: .whitespaces).isEmpty {
            let function = try PcapToC.function(ClassicFilter.compile(pcap: expression, snapshotLength: Int32(clamping: snaplen)))
            transform = { try PcapToC.insert(function, into: $0) }
        }
        let (spec, btf) = try ToolSources.open("capture", transform: transform)
        try spec.setGlobal("idb", to: idb)
        try spec.setGlobal("snaplen", to: snaplen)
        let object = try spec.load()
        withExtendedLifetime(btf) {}
        return Hook(idb: idb, session: ToolSession(object: object))
    }

    /// One packet as the program sent it: struct capture_meta (40 bytes), then the bytes.
    public struct Packet {
        public var timestampNs: UInt64
        public var idb: UInt32
        public var length: UInt32
        public var mark: UInt32
        public var ifindex: UInt32
        public var priority: UInt32
        public var etherType: UInt16
        public var packetType: UInt8
        /// The captured bytes (valid during the handler call).
        public var data: UnsafeRawBufferPointer

        /// Decodes a perf sample; nil when it is too short.
        public init?(_ r: UnsafeRawBufferPointer) {
            guard r.count >= 40 else { return nil }
            timestampNs = r.u64(0); idb = r.u32(8); length = r.u32(12)
            let caplen = Int(r.u32(16))
            mark = r.u32(20); ifindex = r.u32(24); priority = r.u32(28); etherType = r.u16(32); packetType = r.u8(34)
            data = UnsafeRawBufferPointer(rebasing: r[40..<min(r.count, 40 + caplen)])
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
