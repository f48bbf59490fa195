import NetBPF

/// The per-IP-protocol frame counters of BCC's XDP examples (programs/include/xdp_ip_proto.h:
/// a BPF_MAP_TYPE_PERCPU_ARRAY of 256 u64 indexed by IPv4 protocol / IPv6 next header, 0 for
/// non-IP), summed over the possible CPUs. Per-CPU arrays: kernel 4.6.
package struct XDPProtocolCounts: Sendable {
    private let counts: PerCPUArrayMap<UInt64>

    /// - Throws: when `map` is not a per-CPU array of u64.
    package init(_ map: BPFMap) throws { counts = try PerCPUArrayMap(map) }

    /// Frames so far per protocol number (only protocols with frames). One lookup per slot
    /// (256 BPF_MAP_LOOKUP_ELEM calls), cheap at one read a second.
    package func totals() throws -> [UInt8: UInt64] {
        var out: [UInt8: UInt64] = [:]
        for p in 0..<256 {
            let n = try counts.sum(UInt32(p))
            if n > 0 { out[UInt8(p)] = n }
        }
        return out
    }
}
