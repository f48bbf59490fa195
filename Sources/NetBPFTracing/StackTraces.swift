import NetBPF

/// Reads BPF_MAP_TYPE_STACK_TRACE maps (bpf_get_stackid) and prints stacks the way BCC's tools
/// do: one frame per line, innermost first, kernel frames then a "-" then user frames.
public struct StackTraceMap: Sendable {
    /// The stack_trace map.
    public let map: BPFMap

    /// A view of `map`.
    /// - Throws: `BPFError(.wrongMapType)` unless it is a stack_trace map, `.sizeMismatch` unless
    ///   it has u32 keys and u64 frames.
    public init(_ map: BPFMap) throws {
        guard map.type == .stackTrace else {
            throw BPFError(.wrongMapType, operation: "StackTraceMap", subject: map.name, message: "map is \(map.type), not stack_trace")
        }
        guard map.keySize == 4, map.valueSize % 8 == 0 else {
            throw BPFError(.sizeMismatch, operation: "StackTraceMap", subject: map.name, message: "expected u32 keys and u64 frames")
        }
        self.map = map
    }

    /// The instruction pointers of one stack, innermost first; nil for a negative id (the
    /// program's bpf_get_stackid failed: -EFAULT no stack, -EEXIST collision) or a missing entry.
    public func addresses(_ stackID: Int32) throws -> [UInt64]? {
        guard stackID >= 0 else { return nil }
        var key = UInt32(stackID)
        var frames = [UInt64](repeating: 0, count: map.valueSize / 8)
        let found = try frames.withUnsafeMutableBytes { try map.lookup(key: &key, into: $0.baseAddress!) }
        guard found else { return nil }
        return Array(frames.prefix { $0 != 0 })
    }
}

/// Stack frames as BCC's stack tools print them.
public enum StackFormatter {
    /// BCC's stackcount/offcputime layout: kernel frames, "  -" between kernel and user
    /// frames when both are there, user frames, then `    comm [pid]` and the count.
    public static func lines(kernel: [UInt64], user: [UInt64], kernelSymbols: KernelSymbols?,
                             userSymbols: ProcessSymbols?, offsets: Bool = false, showAddresses: Bool = false) -> [String] {
        var out: [String] = []
        for a in kernel {
            let sym = kernelSymbols?.describe(a, offset: offsets) ?? "[unknown]"
            out.append(showAddresses ? "  \(hex(a)) \(sym)" : "  \(sym)")
        }
        if !kernel.isEmpty && !user.isEmpty { out.append("  -") }
        for a in user {
            let sym = userSymbols?.describe(a, offset: offsets) ?? "[unknown]"
            out.append(showAddresses ? "  \(hex(a)) \(sym)" : "  \(sym)")
        }
        return out
    }

    /// A whole entry: frames, then `    comm [pid]` and `    count`.
    public static func entry(frames: [String], comm: String, pid: Int32, count: UInt64) -> String {
        (frames + ["    \(comm) [\(pid)]", "    \(count)"]).joined(separator: "\n") + "\n"
    }

    static func hex(_ a: UInt64) -> String {
        let h = String(a, radix: 16)
        return String(repeating: "0", count: max(0, 16 - h.count)) + h
    }
}
