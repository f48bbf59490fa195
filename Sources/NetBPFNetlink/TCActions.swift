internal import CMnl
import Glibc

/// What a tc action tells the classifier to do next (TC_ACT_*).
public enum TCVerdict: Int32, Sendable {
    /// TC_ACT_OK: pass the packet on.
    case ok = 0
    /// TC_ACT_RECLASSIFY: classify again from the first filter.
    case reclassify = 1
    /// TC_ACT_SHOT: drop the packet.
    case shot = 2
    /// TC_ACT_PIPE: go on to the next action.
    case pipe = 3
    /// TC_ACT_STOLEN: the action consumed the packet; stop.
    case stolen = 4
    /// TC_ACT_QUEUED: the action queued the packet; stop.
    case queued = 5
    /// TC_ACT_REPEAT: run this action again.
    case `repeat` = 6
    /// TC_ACT_REDIRECT: the packet was redirected (bpf_redirect).
    case redirect = 7
    /// TC_ACT_TRAP: hand the packet to the CPU (switch offload); a drop otherwise.
    case trap = 8
}

/// A mirred action (act_mirred, kernel 2.6.14; ingress directions 4.x): copy or move the
/// packet to another interface's egress or ingress.
public struct MirredAction: Sendable, Equatable {
    /// TCA_EGRESS_REDIR 1, TCA_EGRESS_MIRROR 2, TCA_INGRESS_REDIR 3, TCA_INGRESS_MIRROR 4.
    public enum Direction: UInt32, Sendable {
        /// Move the packet to the target's egress (TCA_EGRESS_REDIR).
        case egressRedirect = 1
        /// Send a copy to the target's egress (TCA_EGRESS_MIRROR).
        case egressMirror = 2
        /// Move the packet to the target's ingress (TCA_INGRESS_REDIR).
        case ingressRedirect = 3
        /// Send a copy to the target's ingress (TCA_INGRESS_MIRROR).
        case ingressMirror = 4
    }
    /// Redirect or mirror, to egress or ingress.
    public var direction: Direction
    /// The interface that gets the packet, resolved in the socket's namespace.
    public var target: Interface
    /// Defaults as tc: redirect ends processing (stolen), mirror continues (pipe).
    public var verdict: TCVerdict?

    /// An action sending packets `direction` to `target`.
    public init(_ direction: Direction, to target: Interface, verdict: TCVerdict? = nil) {
        self.direction = direction
        self.target = target
        self.verdict = verdict
    }

    var effectiveVerdict: TCVerdict {
        verdict ?? (direction == .egressRedirect || direction == .ingressRedirect ? .stolen : .pipe)
    }
}

/// An action in a classic (non direct-action) filter's action list (TCA_BPF_ACT).
public enum TCAction {
    /// act_mirred: redirect or mirror to an interface.
    case mirred(MirredAction)
    /// act_bpf (kernel 4.1, CONFIG_NET_ACT_BPF): run a BPF program as an action. Kernels built
    /// without it reject the filter with "kernel lacks act_bpf (CONFIG_NET_ACT_BPF)".
    case bpf(any AttachableProgram, name: String? = nil, verdict: TCVerdict = .pipe)

    /// The kernel module name ("mirred", "bpf").
    public var kind: String {
        switch self {
        case .mirred: return "mirred"
        case .bpf: return "bpf"
        }
    }
}

/// An action with its interface resolved to an index: what is encoded.
package enum ResolvedAction: Equatable {
    case mirred(direction: UInt32, ifindex: Int32, verdict: Int32)
    case bpf(fd: Int32, name: String, verdict: Int32)

    var kind: String {
        switch self {
        case .mirred: return "mirred"
        case .bpf: return "bpf"
        }
    }
}

/// An action read back from a filter (TCA_BPF_ACT of RTM_NEWTFILTER).
public struct TCActionInfo: Sendable, Equatable {
    /// Position in the list (the nest's type, 1-based).
    public var order: UInt16
    /// TCA_ACT_KIND: "mirred", "bpf", "gact", ...
    public var kind: String
    /// TCA_ACT_INDEX, or the index in the parms struct.
    public var index: UInt32?
    /// The tc_gen action field (TC_ACT_*).
    public var verdict: Int32?
    /// mirred: direction and target ifindex.
    public var mirredDirection: MirredAction.Direction?
    /// mirred: the target's ifindex.
    public var mirredTargetIndex: Int32?
    /// act_bpf: TCA_ACT_BPF_ID / TCA_ACT_BPF_NAME.
    public var bpfProgramID: UInt32?
    /// act_bpf: TCA_ACT_BPF_NAME.
    public var bpfName: String?
}

extension NetlinkSocket {
    /// Encodes an action list as nest `type` holding one nest per action, numbered from 1
    /// (tc's "action order"): TCA_ACT_KIND, then TCA_ACT_OPTIONS with the kind's attributes.
    /// mirred: TCA_MIRRED_PARMS (struct tc_mirred). act_bpf, as <linux/tc_act/tc_bpf.h> and tc's
    /// m_bpf.c: TCA_ACT_BPF_FD, TCA_ACT_BPF_NAME, TCA_ACT_BPF_PARMS (struct tc_act_bpf).
    package static func encodeActions(_ actions: [ResolvedAction], as type: UInt16, into req: NetlinkRequest) {
        req.nest(type) {
            for (i, action) in actions.enumerated() {
                req.nest(UInt16(i + 1)) {
                    req.put(UInt16(TCA_ACT_KIND), string: action.kind)
                    req.nest(UInt16(TCA_ACT_OPTIONS)) {
                        switch action {
                        case let .mirred(direction, ifindex, verdict):
                            var p = tc_mirred()
                            p.action = verdict
                            p.eaction = Int32(bitPattern: direction)
                            p.ifindex = UInt32(bitPattern: ifindex)
                            req.put(UInt16(TCA_MIRRED_PARMS), raw: p)
                        case let .bpf(fd, name, verdict):
                            req.put(UInt16(TCA_ACT_BPF_FD), u32: UInt32(bitPattern: fd))
                            req.put(UInt16(TCA_ACT_BPF_NAME), string: name)
                            var p = tc_act_bpf()
                            p.action = verdict
                            req.put(UInt16(TCA_ACT_BPF_PARMS), raw: p)
                        }
                    }
                }
            }
        }
    }

    /// Resolves mirred targets to indexes in this namespace.
    func resolve(_ actions: [TCAction]) throws -> [ResolvedAction] {
        try actions.map { a in
            switch a {
            case .mirred(let m):
                return .mirred(direction: m.direction.rawValue, ifindex: try interfaceIndex(m.target),
                               verdict: m.effectiveVerdict.rawValue)
            case let .bpf(program, name, verdict):
                return .bpf(fd: program.fd, name: name ?? program.name, verdict: verdict.rawValue)
            }
        }
    }

    /// Parses an action list nest.
    static func parseActions(_ table: AttributeTable) -> [TCActionInfo] {
        table.all.compactMap { entry in
            let a = AttributeTable(payload: entry.payload)
            guard let kind = a.string(UInt16(TCA_ACT_KIND)) else { return nil }
            var info = TCActionInfo(order: entry.type, kind: kind)
            info.index = a.u32(UInt16(TCA_ACT_INDEX))
            if let o = a.nested(UInt16(TCA_ACT_OPTIONS)) {
                switch kind {
                case "mirred":
                    if let p = o.raw(UInt16(TCA_MIRRED_PARMS), as: tc_mirred.self) {
                        info.index = info.index ?? p.index
                        info.verdict = p.action
                        info.mirredDirection = MirredAction.Direction(rawValue: UInt32(bitPattern: p.eaction))
                        info.mirredTargetIndex = Int32(bitPattern: p.ifindex)
                    }
                case "bpf":
                    if let p = o.raw(UInt16(TCA_ACT_BPF_PARMS), as: tc_act_bpf.self) {
                        info.index = info.index ?? p.index
                        info.verdict = p.action
                    }
                    info.bpfProgramID = o.u32(UInt16(TCA_ACT_BPF_ID))
                    info.bpfName = o.string(UInt16(TCA_ACT_BPF_NAME))
                default:
                    break
                }
            }
            return info
        }
    }

    /// Turns the kernel's "no such action" into a statement of what the kernel lacks: without
    /// the action's module the kernel answers ENOENT ("Failed to load TC action module", no
    /// CONFIG_MODULES or module missing) or EOPNOTSUPP/EINVAL ("Unknown action ...").
    package static func mapMissingAction(_ e: inout NetlinkError, kinds: [String]) {
        guard !kinds.isEmpty, e.errno == ENOENT || e.errno == EOPNOTSUPP || e.errno == EINVAL else { return }
        let text = (e.kernelMessage ?? "").lowercased()
        let actionText = text.contains("action module") || text.contains("unknown action") || text.contains("tc action")
        guard actionText || (e.errno != EINVAL && e.kernelMessage == nil) else { return }
        let unique = Array(Set(kinds)).sorted()
        let config: [String: String] = ["bpf": "CONFIG_NET_ACT_BPF", "mirred": "CONFIG_NET_ACT_MIRRED",
                                        "gact": "CONFIG_NET_ACT_GACT", "police": "CONFIG_NET_ACT_POLICE"]
        e.code = .unsupported
        if unique.count == 1, let k = unique.first {
            e.message = "kernel lacks act_\(k) (\(config[k] ?? "CONFIG_NET_ACT_\(k.uppercased())"))"
        } else {
            e.message = "kernel lacks one of the actions " + unique.map { "act_\($0) (\(config[$0] ?? "?"))" }.joined(separator: ", ")
        }
        e.message += " (\(NetlinkErrno.name(e.errno ?? 0)))"
        if unique.contains("bpf") {
            e.hint = "use a direct-action cls_bpf filter (directAction: true) and return the verdict from the program"
        }
    }
}

extension TCActionInfo {
    init(order: UInt16, kind: String) {
        self.order = order
        self.kind = kind
    }
}
