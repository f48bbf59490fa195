import CLibBPF

/// A BPF map type (enum bpf_map_type). Names come from libbpf, extended for types newer than 1.1.
public struct MapType: Hashable, Sendable, CustomStringConvertible {
    /// The kernel's enum bpf_map_type value.
    public let rawValue: UInt32
    /// Any map type by number, including ones without a static member here.
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// BPF_MAP_TYPE_HASH (3.19).
    public static let hash = MapType(rawValue: BPF_MAP_TYPE_HASH.rawValue)
    /// BPF_MAP_TYPE_ARRAY (3.19): fixed size, indexed by a u32, zero-filled.
    public static let array = MapType(rawValue: BPF_MAP_TYPE_ARRAY.rawValue)
    /// BPF_MAP_TYPE_PROG_ARRAY (4.2): tail-call targets.
    public static let progArray = MapType(rawValue: BPF_MAP_TYPE_PROG_ARRAY.rawValue)
    /// BPF_MAP_TYPE_PERF_EVENT_ARRAY (4.3): per-CPU perf rings for bpf_perf_event_output (4.4).
    public static let perfEventArray = MapType(rawValue: BPF_MAP_TYPE_PERF_EVENT_ARRAY.rawValue)
    /// BPF_MAP_TYPE_PERCPU_HASH (4.6).
    public static let perCPUHash = MapType(rawValue: BPF_MAP_TYPE_PERCPU_HASH.rawValue)
    /// BPF_MAP_TYPE_PERCPU_ARRAY (4.6).
    public static let perCPUArray = MapType(rawValue: BPF_MAP_TYPE_PERCPU_ARRAY.rawValue)
    /// BPF_MAP_TYPE_STACK_TRACE (4.6): stacks stored by bpf_get_stackid.
    public static let stackTrace = MapType(rawValue: BPF_MAP_TYPE_STACK_TRACE.rawValue)
    /// BPF_MAP_TYPE_LRU_HASH (4.10): a full map evicts the least recently used entry.
    public static let lruHash = MapType(rawValue: BPF_MAP_TYPE_LRU_HASH.rawValue)
    /// BPF_MAP_TYPE_LRU_PERCPU_HASH (4.10).
    public static let lruPerCPUHash = MapType(rawValue: BPF_MAP_TYPE_LRU_PERCPU_HASH.rawValue)
    /// BPF_MAP_TYPE_LPM_TRIE (4.11): longest-prefix match on addresses.
    public static let lpmTrie = MapType(rawValue: BPF_MAP_TYPE_LPM_TRIE.rawValue)
    /// BPF_MAP_TYPE_DEVMAP (4.14): interfaces for bpf_redirect_map from XDP.
    public static let devmap = MapType(rawValue: BPF_MAP_TYPE_DEVMAP.rawValue)
    /// BPF_MAP_TYPE_RINGBUF (5.8): one ring shared by all CPUs; read with `RingBuffer`.
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
    /// The kernel's enum bpf_prog_type value.
    public let rawValue: UInt32
    /// Any program type by number, including ones without a static member here.
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// BPF_PROG_TYPE_SOCKET_FILTER (3.19): SEC("socket"), filters what a socket receives.
    public static let socketFilter = ProgramType(rawValue: BPF_PROG_TYPE_SOCKET_FILTER.rawValue)
    /// BPF_PROG_TYPE_KPROBE (4.1): kprobes and uprobes.
    public static let kprobe = ProgramType(rawValue: BPF_PROG_TYPE_KPROBE.rawValue)
    /// BPF_PROG_TYPE_SCHED_CLS (4.1): tc classifiers, SEC("tc"), for tcx and clsact.
    public static let schedCls = ProgramType(rawValue: BPF_PROG_TYPE_SCHED_CLS.rawValue)
    /// BPF_PROG_TYPE_SCHED_ACT (4.1): tc actions.
    public static let schedAct = ProgramType(rawValue: BPF_PROG_TYPE_SCHED_ACT.rawValue)
    /// BPF_PROG_TYPE_TRACEPOINT (4.7).
    public static let tracepoint = ProgramType(rawValue: BPF_PROG_TYPE_TRACEPOINT.rawValue)
    /// BPF_PROG_TYPE_XDP (4.8).
    public static let xdp = ProgramType(rawValue: BPF_PROG_TYPE_XDP.rawValue)
    /// BPF_PROG_TYPE_PERF_EVENT (4.9): sampling on perf events.
    public static let perfEvent = ProgramType(rawValue: BPF_PROG_TYPE_PERF_EVENT.rawValue)
    /// BPF_PROG_TYPE_RAW_TRACEPOINT (4.17).
    public static let rawTracepoint = ProgramType(rawValue: BPF_PROG_TYPE_RAW_TRACEPOINT.rawValue)
    /// BPF_PROG_TYPE_TRACING (5.5): fentry, fexit, fmod_ret, tp_btf, iterators.
    public static let tracing = ProgramType(rawValue: BPF_PROG_TYPE_TRACING.rawValue)

    /// libbpf's name ("sched_cls", "xdp", ...) or "type N" for types libbpf 1.1 does not know.
    public var description: String {
        if let c = libbpf_bpf_prog_type_str(bpf_prog_type(rawValue)) { return String(cString: c) }
        return "type \(rawValue)"
    }
}

/// A BPF attach type (enum bpf_attach_type), including tcx (46, 47) which libbpf 1.1 lacks.
public struct AttachType: Hashable, Sendable, CustomStringConvertible {
    /// The kernel's enum bpf_attach_type value.
    public let rawValue: UInt32
    /// Any attach type by number, including ones without a static member here.
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// BPF_TCX_INGRESS (46, 6.6).
    public static let tcxIngress = AttachType(rawValue: 46)
    /// BPF_TCX_EGRESS (47, 6.6).
    public static let tcxEgress = AttachType(rawValue: 47)
    /// BPF_XDP (5.9): an XDP program attached through a link.
    public static let xdp = AttachType(rawValue: BPF_XDP.rawValue)
    /// BPF_TRACE_FENTRY (5.5).
    public static let fentry = AttachType(rawValue: BPF_TRACE_FENTRY.rawValue)

    /// libbpf's name ("xdp", "trace_fentry", ...), netbpf's for the types libbpf 1.1 lacks
    /// ("tcx_ingress", "netkit_peer"), else "type N".
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
    /// The kernel's enum bpf_link_type value.
    public let rawValue: UInt32
    /// Any link type by number, including ones without a static member here.
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// BPF_LINK_TYPE_XDP (5.9).
    public static let xdp = LinkType(rawValue: BPF_LINK_TYPE_XDP.rawValue)
    /// BPF_LINK_TYPE_TCX (11, 6.6).
    public static let tcx = LinkType(rawValue: 11)
    /// BPF_LINK_TYPE_NETKIT (13, 6.7).
    public static let netkit = LinkType(rawValue: 13)

    /// libbpf's name ("xdp", "raw_tracepoint", ...), netbpf's for the types libbpf 1.1 lacks
    /// ("tcx", "netkit"), else "type N".
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
    /// Encodes `description`, a string such as "percpu_hash".
    public func encode(to encoder: Encoder) throws { var c = encoder.singleValueContainer(); try c.encode(description) }
}
extension ProgramType: Encodable {
    /// Encodes `description`, a string such as "sched_cls".
    public func encode(to encoder: Encoder) throws { var c = encoder.singleValueContainer(); try c.encode(description) }
}
extension AttachType: Encodable {
    /// Encodes `description`, a string such as "tcx_ingress".
    public func encode(to encoder: Encoder) throws { var c = encoder.singleValueContainer(); try c.encode(description) }
}
extension LinkType: Encodable {
    /// Encodes `description`, a string such as "tcx".
    public func encode(to encoder: Encoder) throws { var c = encoder.singleValueContainer(); try c.encode(description) }
}
