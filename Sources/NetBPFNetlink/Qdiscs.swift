internal import CMnl
import Glibc

/// HTB qdisc settings (TCA_HTB_INIT, kernel 2.4.20; direct_qlen 3.12).
public struct HTBOptions: Sendable, Equatable {
    /// The minor id of the class unclassified traffic goes to (tc's `default 10` means 0x10).
    public var defaultClass: UInt16
    /// Quantum = rate / r2q (tc's default 10).
    public var rateToQuantum: UInt32 = 10
    /// TCA_HTB_DIRECT_QLEN; nil leaves the kernel default (the device's txqueuelen).
    public var directQueueLength: UInt32?

    /// Options with tc's defaults; each parameter sets the property of the same name.
    public init(defaultClass: UInt16 = 0, rateToQuantum: UInt32 = 10, directQueueLength: UInt32? = nil) {
        self.defaultClass = defaultClass
        self.rateToQuantum = rateToQuantum
        self.directQueueLength = directQueueLength
    }
}

/// Token bucket filter settings (tc's `tbf rate R burst B latency L|limit N`, kernel 2.2;
/// 64-bit rates 3.13).
public struct TBFOptions: Sendable, Equatable {
    /// Rate in bits per second (tc's "1mbit" = 1_000_000).
    public var rateBitsPerSecond: UInt64
    /// Bucket size in bytes.
    public var burstBytes: UInt32
    /// Queue limit in bytes; computed from `latencyMicroseconds` when nil.
    public var limitBytes: UInt32?
    /// Maximum time a packet may wait, when `limitBytes` is nil (default 50 ms).
    public var latencyMicroseconds: UInt32 = 50_000

    /// Options; each parameter sets the property of the same name.
    public init(rateBitsPerSecond: UInt64, burstBytes: UInt32, limitBytes: UInt32? = nil, latencyMicroseconds: UInt32 = 50_000) {
        self.rateBitsPerSecond = rateBitsPerSecond
        self.burstBytes = burstBytes
        self.limitBytes = limitBytes
        self.latencyMicroseconds = latencyMicroseconds
    }
}

/// The qdiscs this module creates.
public enum QdiscKind: Sendable, Equatable {
    /// clsact (kernel 4.5): the ingress and egress hooks for BPF filters; parent TC_H_CLSACT,
    /// handle ffff:.
    case clsact
    /// ingress (2.6): ingress filters only; same slot as clsact.
    case ingress
    /// Hierarchical token bucket (root or under a class).
    case htb(HTBOptions)
    /// Token bucket filter.
    case tbf(TBFOptions)

    /// The qdisc's TCA_KIND ("clsact", "ingress", "htb", "tbf").
    public var name: String {
        switch self {
        case .clsact: return "clsact"
        case .ingress: return "ingress"
        case .htb: return "htb"
        case .tbf: return "tbf"
        }
    }
}

/// A qdisc as RTM_NEWQDISC reports it.
public struct QdiscInfo: Sendable, Equatable {
    /// The interface it is on (tcm_ifindex).
    public var interfaceIndex: Int32
    /// TCA_KIND: "clsact", "htb", "fq_codel", "noqueue", ...
    public var kind: String
    /// Its handle ("1:", ffff: for clsact/ingress).
    public var handle: TCHandle
    /// Where it hangs: `root`, a class, or `clsact` for clsact/ingress.
    public var parent: TCHandle

    package init?(_ m: NetlinkMessage) {
        guard m.type == UInt16(RTM_NEWQDISC), let t = m.familyHeader(tcmsg.self) else { return nil }
        let a = m.attributes(after: tcmsg.self)
        interfaceIndex = t.tcm_ifindex
        kind = a.string(UInt16(TCA_KIND)) ?? ""
        handle = TCHandle(rawValue: t.tcm_handle)
        parent = TCHandle(rawValue: t.tcm_parent)
    }
}

/// Queueing disciplines: RTM_NEWQDISC / RTM_DELQDISC / RTM_GETQDISC.
extension NetlinkSocket {
    /// The tcmsg every tc request starts with.
    static func tcHeader(ifindex: Int32, handle: UInt32, parent: UInt32, info: UInt32 = 0) -> tcmsg {
        var t = tcmsg()
        t.tcm_family = UInt8(AF_UNSPEC)
        t.tcm_ifindex = ifindex
        t.tcm_handle = handle
        t.tcm_parent = parent
        t.tcm_info = info
        return t
    }

    /// Where a qdisc kind goes: clsact/ingress have a fixed parent and handle.
    package static func qdiscPlacement(_ kind: QdiscKind, parent: TCHandle, handle: TCHandle?) -> (parent: TCHandle, handle: TCHandle) {
        switch kind {
        case .clsact, .ingress: return (.clsact, .clsactQdisc)
        default: return (parent, handle ?? .unspecified)
        }
    }

    /// The RTM_NEWQDISC request (flags: CREATE|EXCL, or CREATE|REPLACE).
    package static func qdiscRequest(_ kind: QdiscKind, ifindex: Int32, parent: TCHandle, handle: TCHandle?,
                                     replace: Bool, clock: PacketSchedulerClock = .system) -> NetlinkRequest {
        let place = qdiscPlacement(kind, parent: parent, handle: handle)
        let req = NetlinkRequest(type: UInt16(RTM_NEWQDISC),
                                 flags: NLM_F_CREATE | (replace ? NLM_F_REPLACE : NLM_F_EXCL))
        req.putHeader(tcHeader(ifindex: ifindex, handle: place.handle.rawValue, parent: place.parent.rawValue))
        req.put(UInt16(TCA_KIND), string: kind.name)
        switch kind {
        case .clsact, .ingress:
            break
        case .htb(let o):
            req.nest(UInt16(TCA_OPTIONS)) {
                var glob = tc_htb_glob()
                glob.version = 3          // TC_HTB_PROTOVER
                glob.rate2quantum = o.rateToQuantum
                glob.defcls = UInt32(o.defaultClass)
                req.put(UInt16(TCA_HTB_INIT), raw: glob)
                if let q = o.directQueueLength { req.put(UInt16(TCA_HTB_DIRECT_QLEN), u32: q) }
            }
        case .tbf(let o):
            encodeTBF(o, into: req, clock: clock)
        }
        return req
    }

    /// tc's q_tbf.c: TCA_TBF_PARMS, TCA_TBF_BURST, [TCA_TBF_RATE64], TCA_TBF_RTAB.
    static func encodeTBF(_ o: TBFOptions, into req: NetlinkRequest, clock: PacketSchedulerClock) {
        let rate64 = o.rateBitsPerSecond / 8
        var opt = tc_tbf_qopt()
        opt.rate.rate = rate64 >= 1 << 32 ? UInt32.max : UInt32(rate64)
        let limit = o.limitBytes ?? UInt32(clamping: UInt64(Double(rate64) * Double(o.latencyMicroseconds) / 1_000_000) + UInt64(o.burstBytes))
        opt.limit = limit
        let rtab = clock.rateTable(rate: opt.rate.rate, mtu: 0)
        opt.rate.cell_log = rtab.cellLog
        opt.rate.cell_align = -1
        opt.rate.linklayer = UInt8(TC_LINKLAYER_ETHERNET.rawValue)
        opt.buffer = clock.transmitTime(rate: rate64, size: o.burstBytes)
        req.nest(UInt16(TCA_OPTIONS)) {
            req.put(UInt16(TCA_TBF_PARMS), raw: opt)
            req.put(UInt16(TCA_TBF_BURST), u32: o.burstBytes)
            if rate64 >= 1 << 32 { req.put(UInt16(TCA_TBF_RATE64), u64: rate64) }
            req.put(UInt16(TCA_TBF_RTAB), bytes: rateTableBytes(rtab.table))
        }
    }

    static func rateTableBytes(_ table: [UInt32]) -> [UInt8] {
        table.withUnsafeBytes { Array($0) }
    }

    /// Adds a qdisc. clsact and ingress ignore `parent`/`handle` (they have fixed ones); every
    /// other kind needs a parent that is not 0 (`root` by default) and usually a handle ("1:").
    /// - Throws: `.exists` if one is there (EEXIST with NLM_F_EXCL) unless `replace`;
    ///   `.invalidArgument` for parent 0.
    public func addQdisc(_ kind: QdiscKind, on interface: Interface, parent: TCHandle = .root,
                         handle: TCHandle? = nil, replace: Bool = false) throws {
        let place = Self.qdiscPlacement(kind, parent: parent, handle: handle)
        try Self.refuseParentZero(place.parent, operation: "RTM_NEWQDISC", subject: "\(kind.name) dev \(interface)")
        let index = try interfaceIndex(interface)
        let req = Self.qdiscRequest(kind, ifindex: index, parent: parent, handle: handle, replace: replace)
        try runTC(req, interface: interface, what: "\(kind.name) qdisc") { e in
            if e.errno == EEXIST { e.message = "a qdisc already occupies \(place.parent) on '\(interface)' (EEXIST)" }
            if e.errno == ENOENT, e.kernelMessage?.contains("Unknown qdisc") ?? false {
                e.code = .unsupported
                e.message = "this kernel lacks the '\(kind.name)' qdisc (ENOENT)"
            }
        }
    }

    /// Deletes the qdisc at `parent` (and `handle` when given) on `interface` (RTM_DELQDISC),
    /// with its classes and filters.
    /// - Parameter kind: when given (TCA_KIND), the kernel deletes only a qdisc of that kind.
    /// - Throws: `NetlinkError` `.notFound` when no qdisc is there; `.invalidArgument` for parent 0.
    public func deleteQdisc(on interface: Interface, parent: TCHandle = .root, handle: TCHandle? = nil, kind: String? = nil) throws {
        try Self.refuseParentZero(parent, operation: "RTM_DELQDISC", subject: "dev \(interface)")
        let index = try interfaceIndex(interface)
        let req = NetlinkRequest(type: UInt16(RTM_DELQDISC), flags: 0)
        req.putHeader(Self.tcHeader(ifindex: index, handle: handle?.rawValue ?? 0, parent: parent.rawValue))
        if let kind { req.put(UInt16(TCA_KIND), string: kind) }
        try runTC(req, interface: interface, what: "qdisc \(parent)") { e in
            if e.errno == ENOENT || (e.kernelMessage?.contains("Cannot find") ?? false) {
                e.code = .notFound
                e.message = "no qdisc at \(parent) on '\(interface)'"
            }
        }
    }

    /// The qdiscs of `interface`, or of every interface (RTM_GETQDISC dump), including the
    /// default ones the kernel adds (noqueue, fq_codel, ...).
    public func qdiscs(on interface: Interface? = nil) throws -> [QdiscInfo] {
        let index = try interface.map { try interfaceIndex($0) }
        let req = NetlinkRequest(type: UInt16(RTM_GETQDISC), flags: 0)
        req.putHeader(Self.tcHeader(ifindex: index ?? 0, handle: 0, parent: 0))
        return try dump(req, subject: interface?.description ?? namespaceName)
            .compactMap(QdiscInfo.init)
            .filter { index == nil || $0.interfaceIndex == index }
    }

    /// Makes sure `interface` has a clsact qdisc and says whether this call created it (true)
    /// or it was there already (false: EEXIST, someone else's, which the caller must not delete).
    /// - Throws: `.exists` when an `ingress` qdisc holds the slot (clsact cannot be added then).
    @discardableResult
    public func ensureClsact(on interface: Interface) throws -> Bool {
        do {
            try addQdisc(.clsact, on: interface)
            return true
        } catch let e as NetlinkError where e.errno == EEXIST {
            let present = try qdiscs(on: interface).first { $0.parent == .clsact || $0.handle == .clsactQdisc }
            if let present, present.kind != "clsact" {
                throw NetlinkError(.exists, operation: "RTM_NEWQDISC", subject: "clsact dev \(interface)", errno: EEXIST,
                                   message: "an '\(present.kind)' qdisc occupies ffff: on '\(interface)', so clsact cannot be added",
                                   hint: "delete the ingress qdisc (tc qdisc del dev \(interface) ingress) if it is unused")
            }
            return false
        }
    }

    /// Deletes the clsact qdisc of `interface` and with it every filter on both hooks. Only the
    /// creator should call this (ensureClsact returned true). RTM_DELQDISC with TCA_KIND "clsact".
    /// - Throws: `NetlinkError` `.notFound` when there is no clsact qdisc; `.invalidArgument`
    ///   when an ingress qdisc holds the slot.
    public func deleteClsact(on interface: Interface) throws {
        // The kernel's answers for an empty slot are confusing ("Invalid handle", or "Invalid
        // qdisc name: must match existing qdisc" against the noop qdisc): look first.
        let present = try qdiscs(on: interface).first { $0.parent == .clsact || $0.handle == .clsactQdisc }
        guard let present else {
            throw NetlinkError(.notFound, operation: "RTM_DELQDISC", subject: "clsact dev \(interface)", errno: ENOENT,
                               message: "'\(interface)' has no clsact qdisc")
        }
        guard present.kind == "clsact" else {
            throw NetlinkError(.invalidArgument, operation: "RTM_DELQDISC", subject: "clsact dev \(interface)", errno: EINVAL,
                               message: "the qdisc at ffff: on '\(interface)' is '\(present.kind)', not clsact")
        }
        // No handle, as tc; TCA_KIND keeps an ingress qdisc that appeared meanwhile from being deleted.
        try deleteQdisc(on: interface, parent: .clsact, kind: "clsact")
    }

    /// Deletes the clsact qdisc of `interface` only if neither hook has a filter left, and says
    /// whether it did. For detach paths: the creator (ensureClsact returned true) removes its
    /// qdisc without taking filters that others attached meanwhile with it.
    @discardableResult
    public func deleteClsactIfUnused(on interface: Interface) throws -> Bool {
        guard try filters(on: interface, hook: .ingress).isEmpty,
              try filters(on: interface, hook: .egress).isEmpty else { return false }
        try deleteClsact(on: interface)
        return true
    }

    static func refuseParentZero(_ parent: TCHandle, operation: String, subject: String) throws {
        if parent == .unspecified {
            throw NetlinkError(.invalidArgument, operation: operation, subject: subject, errno: EINVAL,
                               message: "parent 0 (TC_H_UNSPEC) is ambiguous; pass root, a class id or a clsact hook")
        }
    }

    /// Sends a tc request and maps the common errors; `adjust` refines the message.
    package func runTC(_ req: NetlinkRequest, interface: Interface, what: String,
                       adjust: (inout NetlinkError) -> Void = { _ in }) throws {
        _ = try runTCReturning(req, interface: interface, what: what, adjust: adjust)
    }

    package func runTCReturning(_ req: NetlinkRequest, interface: Interface, what: String,
                                adjust: (inout NetlinkError) -> Void = { _ in }) throws -> [NetlinkMessage] {
        do {
            return try execute(req, subject: "\(what) dev \(interface)")
        } catch var e as NetlinkError {
            if e.errno == ENODEV { throw interfaceNotFound(interface, operation: e.operation, kernelMessage: e.kernelMessage) }
            adjust(&e)
            throw e
        }
    }
}
