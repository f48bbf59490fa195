import Glibc
import NetBPF

/// tcprtt: TCP smoothed round-trip times as log2 histograms, the options and layout of
/// libbpf-tools' tcprtt (BCC's has the same), from tcp:tcp_probe (4.16+) instead of a
/// kprobe/fentry on tcp_rcv_established (the tracepoint fires there, with the same srtt).
public enum Tcprtt {
    /// What to measure; the fields are the command's flags.
    public struct Options: Sendable {
        /// -p: only sockets with this local port.
        public var localPort: UInt16?
        /// -P: only sockets with this remote port.
        public var remotePort: UInt16?
        /// -a: only sockets with this local address (IPv4 or IPv6 text).
        public var localAddress: String?
        /// -A: only sockets with this remote address.
        public var remoteAddress: String?
        /// -b: a histogram per local address.
        public var byLocalAddress = false
        /// -B: a histogram per remote address.
        public var byRemoteAddress = false
        /// -e: the average next to each histogram's title.
        public var extended = false
        /// -m: milliseconds instead of microseconds.
        public var milliseconds = false
        /// -T: a HH:MM:SS line on each report.
        public var timestamp = false
        /// One histogram of every socket, in microseconds.
        public init() {}
    }

    /// One histogram: of all addresses, or of one local (-b) or remote (-B) address.
    public struct Entry: Sendable, Encodable, Equatable {
        /// The address the histogram is for; nil for all addresses.
        public var address: String?
        /// The average RTT (sum / count), in the histogram's unit.
        public var average: UInt64
        /// The counts, unit "usecs" or "msecs".
        public var histogram: Log2Histogram
    }

    static let slots = 27

    /// 16 address bytes as the program's `u8[16]` globals hold them.
    struct Address16 { var low: UInt64; var high: UInt64 }

    /// Parses an IPv4 or IPv6 address into (family, 16 bytes).
    static func address(_ text: String, _ what: String) throws -> (UInt16, Address16) {
        var v4 = in_addr(), v6 = in6_addr()
        if !text.contains(":"), inet_pton(AF_INET, text, &v4) == 1 {
            var bytes = [UInt8](repeating: 0, count: 16)
            withUnsafeBytes(of: v4) { for i in 0..<4 { bytes[i] = $0[i] } }
            return (2, bytes.withUnsafeBytes { Address16(low: $0.loadUnaligned(as: UInt64.self), high: $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self)) })
        }
        if inet_pton(AF_INET6, text, &v6) == 1 {
            return (10, withUnsafeBytes(of: v6) { Address16(low: $0.loadUnaligned(as: UInt64.self), high: $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self)) })
        }
        throw BPFError(.invalidArgument, operation: "tcprtt", subject: text, message: "not an IPv4 or IPv6 \(what) address")
    }

    /// Compiles, loads and attaches tcprtt (tcp:tcp_probe) with its filters.
    /// - Throws: `BPFError(.invalidArgument)` for an address that does not parse or -b with -B;
    ///   what `ToolSession.start` throws.
    public static func start(_ o: Options) throws -> ToolSession {
        if o.byLocalAddress && o.byRemoteAddress {
            throw BPFError(.invalidArgument, operation: "tcprtt", message: "give -b or -B, not both")
        }
        let local = try o.localAddress.map { try address($0, "local") }
        let remote = try o.remoteAddress.map { try address($0, "remote") }
        return try ToolSession.start("tcprtt") { spec in
            if let p = o.localPort { try spec.setGlobal("target_lport", to: p) }
            if let p = o.remotePort { try spec.setGlobal("target_rport", to: p) }
            if let l = local { try spec.setGlobal("target_laddr_family", to: l.0); try spec.setGlobal("target_laddr", to: l.1) }
            if let r = remote { try spec.setGlobal("target_raddr_family", to: r.0); try spec.setGlobal("target_raddr", to: r.1) }
            try spec.setGlobal("laddr_hist", to: o.byLocalAddress)
            try spec.setGlobal("raddr_hist", to: o.byRemoteAddress)
            try spec.setGlobal("in_millis", to: o.milliseconds)
        }
    }

    /// Reads and clears the histograms.
    public static func collect(_ session: ToolSession, _ o: Options) throws -> [Entry] {
        let map = try session.map("hists")
        var out: [Entry] = []
        for entry in try map.dump() {
            let address: String? = entry.key.withUnsafeBytes { k in
                k.u16(0) == 0 ? nil : addressText(UnsafeRawBufferPointer(rebasing: k[4..<20]), family: k.u16(0))
            }
            let (sum, count, slots) = entry.value.withUnsafeBytes { v in (v.u64(0), v.u64(8), (0..<Self.slots).map { UInt64(v.u32(16 + $0 * 4)) }) }
            out.append(Entry(address: address, average: count == 0 ? 0 : sum / count,
                             histogram: Log2Histogram(unit: o.milliseconds ? "msecs" : "usecs", slots: slots)))
            _ = try map.delete(key: entry.key)
        }
        return out.sorted { ($0.address ?? "") < ($1.address ?? "") }
    }

    /// The first line, as libbpf-tools prints it.
    public static func banner(duration: Int?) -> String {
        "Tracing TCP RTT" + (duration.map { " for \($0) secs." } ?? "... Hit Ctrl-C to end.")
    }

    /// One report as libbpf-tools prints it: per histogram a title ("All Addresses = ****** ",
    /// "Local Address = A ", "Remote Address = A ", then "[AVG n]" with -e) and the histogram.
    public static func format(_ entries: [Entry], _ o: Options) -> String {
        var out = ""
        for e in entries {
            out += o.byLocalAddress ? "Local Address = " : o.byRemoteAddress ? "Remote Address = " : "All Addresses = ****** "
            if let a = e.address, o.byLocalAddress || o.byRemoteAddress { out += a + " " }
            if o.extended { out += "[AVG \(e.average)]" }
            out += "\n" + e.histogram.formatted(libbpfTools: true)
        }
        return out
    }
}
