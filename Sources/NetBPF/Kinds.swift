import CLibBPF

/// A BPF map type (enum bpf_map_type). Names come from libbpf, extended for types newer than 1.1.
public struct MapType: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let hash = MapType(rawValue: BPF_MAP_TYPE_HASH.rawValue)
    public static let array = MapType(rawValue: BPF_MAP_TYPE_ARRAY.rawValue)
    public static let progArray = MapType(rawValue: BPF_MAP_TYPE_PROG_ARRAY.rawValue)
    public static let perfEventArray = MapType(rawValue: BPF_MAP_TYPE_PERF_EVENT_ARRAY.rawValue)
    public static let perCPUHash = MapType(rawValue: BPF_MAP_TYPE_PERCPU_HASH.rawValue)
    public static let perCPUArray = MapType(rawValue: BPF_MAP_TYPE_PERCPU_ARRAY.rawValue)
    public static let stackTrace = MapType(rawValue: BPF_MAP_TYPE_STACK_TRACE.rawValue)
    public static let lruHash = MapType(rawValue: BPF_MAP_TYPE_LRU_HASH.rawValue)
    public static let lruPerCPUHash = MapType(rawValue: BPF_MAP_TYPE_LRU_PERCPU_HASH.rawValue)
    public static let lpmTrie = MapType(rawValue: BPF_MAP_TYPE_LPM_TRIE.rawValue)
    public static let devmap = MapType(rawValue: BPF_MAP_TYPE_DEVMAP.rawValue)
    public static let ringbuf = MapType(rawValue: BPF_MAP_TYPE_RINGBUF.rawValue)

    /// libbpf's name ("hash", "percpu_array", ...) or "type N" for types libbpf 1.1 does not know.
    public var description: String {
        if let c = libbpf_bpf_map_type_str(bpf_map_type(rawValue)) { return String(cString: c) }
        return "type \(rawValue)"
    }

    /// Values are stored once per possible CPU (8-byte aligned each).
    public var isPerCPU: Bool {
        [MapType.perCPUHash, .perCPUArray, .lruPerCPUHash].contains(self)
            || rawValue == BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE.rawValue
    }

    /// BPF_MAP_LOOKUP_BATCH is implemented for these (kernel 5.6+).
    public var supportsBatchLookup: Bool {
        [MapType.hash, .perCPUHash, .lruHash, .lruPerCPUHash, .array, .perCPUArray].contains(self)
    }

    /// Maps whose keys are indexes 0..<maxEntries and that always hold every key.
    public var isArrayLike: Bool { [MapType.array, .perCPUArray].contains(self) }

    /// Maps whose elements hold fds (programs, maps, perf events), not data user space reads back.
    public var holdsFileDescriptors: Bool {
        [MapType.progArray, .perfEventArray].contains(self)
            || rawValue == BPF_MAP_TYPE_ARRAY_OF_MAPS.rawValue || rawValue == BPF_MAP_TYPE_HASH_OF_MAPS.rawValue
    }
}

/// A BPF program type (enum bpf_prog_type).
public struct ProgramType: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let socketFilter = ProgramType(rawValue: BPF_PROG_TYPE_SOCKET_FILTER.rawValue)
    public static let kprobe = ProgramType(rawValue: BPF_PROG_TYPE_KPROBE.rawValue)
    public static let schedCls = ProgramType(rawValue: BPF_PROG_TYPE_SCHED_CLS.rawValue)
    public static let schedAct = ProgramType(rawValue: BPF_PROG_TYPE_SCHED_ACT.rawValue)
    public static let tracepoint = ProgramType(rawValue: BPF_PROG_TYPE_TRACEPOINT.rawValue)
    public static let xdp = ProgramType(rawValue: BPF_PROG_TYPE_XDP.rawValue)
    public static let perfEvent = ProgramType(rawValue: BPF_PROG_TYPE_PERF_EVENT.rawValue)
    public static let rawTracepoint = ProgramType(rawValue: BPF_PROG_TYPE_RAW_TRACEPOINT.rawValue)
    public static let tracing = ProgramType(rawValue: BPF_PROG_TYPE_TRACING.rawValue)

    public var description: String {
        if let c = libbpf_bpf_prog_type_str(bpf_prog_type(rawValue)) { return String(cString: c) }
        return "type \(rawValue)"
    }
}

/// A BPF attach type (enum bpf_attach_type), including tcx (46, 47) which libbpf 1.1 lacks.
public struct AttachType: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let tcxIngress = AttachType(rawValue: 46)
    public static let tcxEgress = AttachType(rawValue: 47)
    public static let xdp = AttachType(rawValue: BPF_XDP.rawValue)
    public static let fentry = AttachType(rawValue: BPF_TRACE_FENTRY.rawValue)

    public var description: String {
        switch rawValue {
        case 46: return "tcx_ingress"
        case 47: return "tcx_egress"
        case 48: return "uprobe_multi"
        case 54: return "netkit_primary"
        case 55: return "netkit_peer"
        default:
            if let c = libbpf_bpf_attach_type_str(bpf_attach_type(rawValue)) { return String(cString: c) }
            return "type \(rawValue)"
        }
    }
}

/// A BPF link type (enum bpf_link_type), including tcx (11) and netkit (13).
public struct LinkType: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let xdp = LinkType(rawValue: BPF_LINK_TYPE_XDP.rawValue)
    public static let tcx = LinkType(rawValue: 11)
    public static let netkit = LinkType(rawValue: 13)

    public var description: String {
        switch rawValue {
        case 11: return "tcx"
        case 12: return "uprobe_multi"
        case 13: return "netkit"
        case 14: return "sockmap"
        default:
            if let c = libbpf_bpf_link_type_str(bpf_link_type(rawValue)) { return String(cString: c) }
            return "type \(rawValue)"
        }
    }
}

// JSON output names kinds the way bpftool does ("sched_cls", "hash").
extension MapType: Encodable {
    public func encode(to encoder: Encoder) throws { var c = encoder.singleValueContainer(); try c.encode(description) }
}
extension ProgramType: Encodable {
    public func encode(to encoder: Encoder) throws { var c = encoder.singleValueContainer(); try c.encode(description) }
}
extension AttachType: Encodable {
    public func encode(to encoder: Encoder) throws { var c = encoder.singleValueContainer(); try c.encode(description) }
}
extension LinkType: Encodable {
    public func encode(to encoder: Encoder) throws { var c = encoder.singleValueContainer(); try c.encode(description) }
}
