internal import CMnl
import Glibc

/// How a cls_bpf filter is attached (tc's `filter add dev X ingress prio P handle H [chain C]
/// protocol all bpf [da] fd N name S [classid X] [action ...]`).
public struct BPFFilterOptions {
    /// Preference: lower runs first. Default 1 (as libbpf's bpf_tc_attach).
    public var priority: UInt16 = 1
    /// cls_bpf handle; default 1. Must not be 0 (that would let the kernel pick one, and the
    /// filter could not be addressed reliably afterwards).
    public var handle: UInt32 = 1
    /// Filter chain (TCA_CHAIN, kernel 4.13); nil = chain 0 without the attribute.
    public var chain: UInt32?
    /// Ethernet protocol to match (host order); ETH_P_ALL by default.
    public var etherProtocol: UInt16 = EtherProtocol.all
    /// Direct action (TCA_BPF_FLAG_ACT_DIRECT, kernel 4.4): the program's return code is the
    /// verdict (TC_ACT_OK, TC_ACT_SHOT, TC_ACT_REDIRECT, ...). False = classic mode: the return
    /// is a class id (or -1 for `classID`) and `actions` run on a match.
    public var directAction: Bool = true
    /// TCA_BPF_CLASSID for classic mode.
    public var classID: TCHandle?
    /// Classic-mode actions (TCA_BPF_ACT).
    public var actions: [TCAction] = []
    /// TCA_BPF_NAME; the program's name by default.
    public var name: String?
    /// Replace a filter with the same priority/handle (NLM_F_REPLACE) instead of failing with EEXIST.
    public var replace: Bool = false

    /// Options with tc's defaults for a BPF filter: priority 1, handle 1, chain 0, every
    /// protocol, direct action; each parameter sets the property of the same name.
    public init(priority: UInt16 = 1, handle: UInt32 = 1, chain: UInt32? = nil, etherProtocol: UInt16 = EtherProtocol.all,
                directAction: Bool = true, classID: TCHandle? = nil, actions: [TCAction] = [], name: String? = nil,
                replace: Bool = false) {
        self.priority = priority
        self.handle = handle
        self.chain = chain
        self.etherProtocol = etherProtocol
        self.directAction = directAction
        self.classID = classID
        self.actions = actions
        self.name = name
        self.replace = replace
    }
}

/// cls_bpf filters (kernel 3.13; direct action 4.4; clsact hooks 4.5):
/// RTM_NEWTFILTER / RTM_DELTFILTER / RTM_GETTFILTER.
extension NetlinkSocket {
    /// tcm_info of a filter: priority in the upper 16 bits, protocol (network order) in the lower.
    package static func filterInfo(priority: UInt16, etherProtocol: UInt16) -> UInt32 {
        UInt32(priority) << 16 | UInt32(etherProtocol.bigEndian)
    }

    /// The RTM_NEWTFILTER request; attribute order as tc's f_bpf.c: TCA_KIND, [TCA_CHAIN],
    /// TCA_OPTIONS { [TCA_BPF_CLASSID] [TCA_BPF_ACT] TCA_BPF_FD TCA_BPF_NAME [TCA_BPF_FLAGS] }.
    /// NLM_F_ECHO makes the kernel send the new filter back (its program id and tag).
    package static func bpfFilterRequest(ifindex: Int32, parent: TCHandle, programFD: Int32, name: String,
                                         priority: UInt16, handle: UInt32, chain: UInt32?, etherProtocol: UInt16,
                                         directAction: Bool, classID: TCHandle?, actions: [ResolvedAction],
                                         replace: Bool, echo: Bool = true) -> NetlinkRequest {
        let flags = NLM_F_CREATE | (replace ? NLM_F_REPLACE : NLM_F_EXCL) | (echo ? NLM_F_ECHO : 0)
        let req = NetlinkRequest(type: UInt16(RTM_NEWTFILTER), flags: flags)
        req.putHeader(tcHeader(ifindex: ifindex, handle: handle, parent: parent.rawValue,
                               info: filterInfo(priority: priority, etherProtocol: etherProtocol)))
        req.put(UInt16(TCA_KIND), string: "bpf")
        if let chain { req.put(UInt16(TCA_CHAIN), u32: chain) }
        req.nest(UInt16(TCA_OPTIONS)) {
            if let classID { req.put(UInt16(TCA_BPF_CLASSID), u32: classID.rawValue) }
            if !actions.isEmpty { encodeActions(actions, as: UInt16(TCA_BPF_ACT), into: req) }
            req.put(UInt16(TCA_BPF_FD), u32: UInt32(bitPattern: programFD))
            req.put(UInt16(TCA_BPF_NAME), string: name)
            if directAction { req.put(UInt16(TCA_BPF_FLAGS), u32: UInt32(TCA_BPF_FLAG_ACT_DIRECT)) }
        }
        return req
    }

    /// Attaches `program` as a cls_bpf filter on a clsact hook of `interface`.
    /// The hook's clsact qdisc must exist (see `ensureClsact`). Returns the filter as the kernel
    /// echoed it, with its program id and tag.
    /// - Throws: `.exists` if priority/handle is taken (unless `replace`); `.unsupported`
    ///   "kernel lacks act_bpf (CONFIG_NET_ACT_BPF)" for an act_bpf action on such a kernel;
    ///   `.invalidArgument` with the kernel's text when there is no clsact qdisc.
    @discardableResult
    public func attachBPFFilter(_ program: some AttachableProgram, to interface: Interface, hook: TCHook,
                                _ options: BPFFilterOptions = BPFFilterOptions()) throws -> TCFilter {
        try attachBPFFilter(program, to: interface, parent: hook.parent, options)
    }

    /// Attaches `program` as a cls_bpf filter under any parent (a clsact hook, an ingress qdisc
    /// "ffff:", or an HTB/other class or qdisc). Parent 0 is refused. RTM_NEWTFILTER with
    /// NLM_F_ECHO; the filter is read back (RTM_GETTFILTER) on kernels that do not echo.
    /// - Throws: `NetlinkError` `.invalidArgument` for parent 0 or a zero priority or handle;
    ///   `.notFound` when no qdisc is at `parent`; the errors of `attachBPFFilter(_:to:hook:_:)`.
    @discardableResult
    public func attachBPFFilter(_ program: some AttachableProgram, to interface: Interface, parent: TCHandle,
                                _ options: BPFFilterOptions = BPFFilterOptions()) throws -> TCFilter {
        let what = "bpf filter pref \(options.priority) handle 0x\(String(options.handle, radix: 16)) \(Self.parentText(parent))"
        try Self.refuseParentZero(parent, operation: "RTM_NEWTFILTER", subject: "\(what) dev \(interface)")
        guard options.handle != 0, options.priority != 0 else {
            throw NetlinkError(.invalidArgument, operation: "RTM_NEWTFILTER", subject: "\(what) dev \(interface)", errno: EINVAL,
                               message: "priority and handle must be non-zero so the filter can be found and deleted again")
        }
        let index = try interfaceIndex(interface)
        let actions = try resolve(options.actions)
        let req = Self.bpfFilterRequest(ifindex: index, parent: parent, programFD: program.fd,
                                        name: options.name ?? program.name, priority: options.priority,
                                        handle: options.handle, chain: options.chain,
                                        etherProtocol: options.etherProtocol, directAction: options.directAction,
                                        classID: options.classID, actions: actions, replace: options.replace)
        let replies = try runTCReturning(req, interface: interface, what: what) { e in
            Self.mapFilterError(&e, interface: interface, parent: parent)
            Self.mapMissingAction(&e, kinds: options.actions.map(\.kind))
        }
        if let echoed = replies.lazy.compactMap(TCFilter.init).first { return echoed }
        // Kernels that do not echo: read it back.
        return try filter(on: interface, parent: parent, priority: options.priority, handle: options.handle,
                          chain: options.chain)
    }

    /// One filter by priority and handle (RTM_GETTFILTER without NLM_F_DUMP, kernel 4.x).
    /// - Throws: `.notFound` if there is none.
    public func filter(on interface: Interface, parent: TCHandle, priority: UInt16, handle: UInt32,
                       chain: UInt32? = nil, kind: String = "bpf") throws -> TCFilter {
        let index = try interfaceIndex(interface)
        let req = NetlinkRequest(type: UInt16(RTM_GETTFILTER), flags: 0)
        req.putHeader(Self.tcHeader(ifindex: index, handle: handle, parent: parent.rawValue,
                                    info: Self.filterInfo(priority: priority, etherProtocol: 0)))
        req.put(UInt16(TCA_KIND), string: kind)
        if let chain { req.put(UInt16(TCA_CHAIN), u32: chain) }
        let what = "filter pref \(priority) handle 0x\(String(handle, radix: 16)) \(Self.parentText(parent))"
        let replies = try runTCReturning(req, interface: interface, what: what) { e in
            Self.mapFilterError(&e, interface: interface, parent: parent)
        }
        guard let f = replies.lazy.compactMap(TCFilter.init).first else {
            throw NetlinkError(.notFound, operation: "RTM_GETTFILTER", subject: "\(what) dev \(interface)", errno: ENOENT,
                               message: "no such filter")
        }
        return f
    }

    /// Deletes one filter by priority and handle (RTM_DELTFILTER). Handle 0 would delete every
    /// filter of that priority and is refused.
    public func deleteFilter(on interface: Interface, parent: TCHandle, priority: UInt16, handle: UInt32,
                             chain: UInt32? = nil, etherProtocol: UInt16 = 0, kind: String? = "bpf") throws {
        try Self.refuseParentZero(parent, operation: "RTM_DELTFILTER", subject: "dev \(interface)")
        let what = "filter pref \(priority) handle 0x\(String(handle, radix: 16)) \(Self.parentText(parent))"
        guard priority != 0, handle != 0 else {
            throw NetlinkError(.invalidArgument, operation: "RTM_DELTFILTER", subject: "\(what) dev \(interface)", errno: EINVAL,
                               message: "priority and handle must be non-zero (0 would delete several filters)")
        }
        let index = try interfaceIndex(interface)
        let req = NetlinkRequest(type: UInt16(RTM_DELTFILTER), flags: 0)
        req.putHeader(Self.tcHeader(ifindex: index, handle: handle, parent: parent.rawValue,
                                    info: Self.filterInfo(priority: priority, etherProtocol: etherProtocol)))
        if let kind { req.put(UInt16(TCA_KIND), string: kind) }
        if let chain { req.put(UInt16(TCA_CHAIN), u32: chain) }
        try runTC(req, interface: interface, what: what) { e in Self.mapFilterError(&e, interface: interface, parent: parent) }
    }

    /// Deletes a cls_bpf filter only if it still runs `expectedProgramID`: re-reads the filter
    /// and refuses when its TCA_BPF_ID differs, so it never removes someone else's program
    /// (a replace by another tool between the read and the delete is the remaining window;
    /// netlink has no conditional delete for filters).
    /// - Throws: `.programMismatch` naming both ids; `.notFound` if the filter is gone.
    public func deleteBPFFilter(on interface: Interface, parent: TCHandle, priority: UInt16, handle: UInt32,
                                chain: UInt32? = nil, expectedProgramID: UInt32) throws {
        let current = try filter(on: interface, parent: parent, priority: priority, handle: handle, chain: chain)
        guard current.kind == "bpf", let id = current.bpf?.programID, id == expectedProgramID else {
            let running = current.bpf?.programID.map { "program id \($0)" } ?? "a '\(current.kind)' filter without a program id"
            throw NetlinkError(.programMismatch, operation: "RTM_DELTFILTER",
                               subject: "filter pref \(priority) handle 0x\(String(handle, radix: 16)) \(Self.parentText(parent)) dev \(interface)",
                               message: "the filter runs \(running), not program id \(expectedProgramID): not deleting someone else's filter")
        }
        try deleteFilter(on: interface, parent: parent, priority: priority, handle: handle,
                         chain: chain, etherProtocol: current.etherProtocol, kind: "bpf")
    }

    /// Guarded delete on a clsact hook: `deleteBPFFilter(on:parent:priority:handle:chain:expectedProgramID:)`
    /// with the hook's parent.
    public func deleteBPFFilter(on interface: Interface, hook: TCHook, priority: UInt16, handle: UInt32,
                                chain: UInt32? = nil, expectedProgramID: UInt32) throws {
        try deleteBPFFilter(on: interface, parent: hook.parent, priority: priority, handle: handle, chain: chain,
                            expectedProgramID: expectedProgramID)
    }

    /// The filters under `parent` of `interface`, every chain, in kernel order (RTM_GETTFILTER
    /// dump), including those other tools attached (`tc filter add ... bpf da obj x.o`).
    public func filters(on interface: Interface, parent: TCHandle) throws -> [TCFilter] {
        let index = try interfaceIndex(interface)
        let req = NetlinkRequest(type: UInt16(RTM_GETTFILTER), flags: 0)
        req.putHeader(Self.tcHeader(ifindex: index, handle: 0, parent: parent.rawValue))
        do {
            return try dump(req, subject: "filters \(Self.parentText(parent)) dev \(interface)").compactMap(TCFilter.init)
        } catch var e as NetlinkError {
            Self.mapFilterError(&e, interface: interface, parent: parent)
            throw e
        }
    }

    /// The filters on a clsact hook (RTM_GETTFILTER dump).
    /// - Throws: `NetlinkError` `.notFound` when the interface has no clsact qdisc.
    public func filters(on interface: Interface, hook: TCHook) throws -> [TCFilter] {
        try filters(on: interface, parent: hook.parent)
    }

    static func parentText(_ parent: TCHandle) -> String {
        switch parent {
        case .ingressHook: return "ingress"
        case .egressHook: return "egress"
        default: return "parent \(parent)"
        }
    }

    package static func mapFilterError(_ e: inout NetlinkError, interface: Interface, parent: TCHandle) {
        let text = e.kernelMessage ?? ""
        if text.contains("Parent Qdisc doesn't exist") || (e.errno == EINVAL && text.contains("qdisc")) {
            e.code = .notFound
            e.message = "no qdisc at \(parent) on '\(interface)' (\(NetlinkErrno.name(e.errno ?? 0)))"
            if parent == .ingressHook || parent == .egressHook {
                e.hint = "add a clsact qdisc first (ensureClsact, or tc qdisc add dev \(interface) clsact)"
            }
        } else if e.errno == EEXIST {
            e.message = "a filter with this priority and handle exists (EEXIST)"
            e.hint = "choose another priority/handle, or set replace"
        } else if text.contains("not found") || text.contains("Cannot find") || (e.errno == ENOENT && text.isEmpty) {
            e.code = .notFound
            e.message = "no such filter (ENOENT)"
        }
    }
}
