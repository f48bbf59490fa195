internal import CNetBPFProgramTypes

/// The maps of programs/ratelimit.bpf.c hold the structs of programs/include/ratelimit.h, imported
/// through CNetBPFProgramTypes: `rl_key4`, `rl_key6`, `rl_limit`, `rl_bucket`, `rl_config` (the
/// typed map views check their sizes against the maps when they are opened).

/// The reserved limit ids and the number of limits (RL_DEFAULT_ID, RL_NEIGHBOR_ID, RL_MAX_LIMITS).
enum RLIDs {
    static let defaultLimit = UInt32(RL_DEFAULT_ID)
    static let neighborLimit = UInt32(RL_NEIGHBOR_ID)
    static let capacity = UInt32(RL_MAX_LIMITS)
}

extension rl_key4 {
    init(_ p: AddressPrefix) {
        self.init()
        prefixlen = UInt32(p.length)
        withUnsafeMutableBytes(of: &addr) { raw in for i in 0..<raw.count { raw[i] = p.address[i] } }
    }
    var prefix: AddressPrefix {
        AddressPrefix(address: withUnsafeBytes(of: addr) { Array($0) }, length: Int(prefixlen))
    }
}

extension rl_key6 {
    init(_ p: AddressPrefix) {
        self.init()
        prefixlen = UInt32(p.length)
        withUnsafeMutableBytes(of: &addr) { raw in for i in 0..<raw.count { raw[i] = p.address[i] } }
    }
    var prefix: AddressPrefix {
        AddressPrefix(address: withUnsafeBytes(of: addr) { Array($0) }, length: Int(prefixlen))
    }
}

extension rl_limit {
    /// A limit of `rate` bytes per second, in HTB class 1:`id` when shaping.
    init(bytesPerSecond rate: UInt64, burst: UInt64, id: UInt32) {
        self.init(rate_bytes_per_sec: rate, burst_bytes: burst, classid: 1 << 16 | id, id: id)
    }
}
