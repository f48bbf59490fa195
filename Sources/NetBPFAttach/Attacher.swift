import Foundation
import Glibc
import NetBPF
import NetBPFNetlink

extension BPFProgram: AttachableProgram {}

/// How to attach a tc program.
public struct TCAttachOptions: Sendable {
    /// Which tc hook kind to use.
    public enum Mechanism: String, Sendable {
        /// tcx when the kernel has it and no clsact-only option is set, else clsact.
        case auto
        /// A tcx link (BPF_LINK_CREATE, 6.6).
        case tcx
        /// A cls_bpf filter on a clsact qdisc (RTM_NEWTFILTER, 4.5).
        case clsact
    }
    /// Ingress or egress.
    public var direction: TCDirection = .ingress
    /// auto: tcx where the kernel has it (6.6) and no clsact-only option is given, else clsact.
    public var mechanism: Mechanism = .auto
    /// clsact only: filter priority and handle (default 1 and 1), classic-mode class id.
    public var priority: UInt16?
    /// clsact only: the cls_bpf handle (default 1).
    public var handle: UInt32?
    /// clsact only: attach in classic mode with this TCA_BPF_CLASSID (e.g. 0x10010 for "1:10")
    /// instead of direct action.
    public var classID: UInt32?
    /// tcx only: where in the hook's program list.
    public var position: TCXPosition = .last
    /// Kernel state to make with the program (missing ones only), owned by its record.
    public var creations: [Creation] = []
    /// Ingress, mechanism `auto`, tc's defaults; set the properties to change them.
    public init() {}
}

/// Attaches, detaches and lists BPF programs on network interfaces across tc (tcx and clsact)
/// and XDP, in any network namespace, and remembers what netbpf attached (AttachmentStore) so
/// detach never removes someone else's program and only removes a clsact qdisc it created.
/// Every attach either completes (attached, pinned, recorded) or leaves nothing behind, and
/// every change to a hook happens under that hook's lock (`HookLock`).
public struct Attacher: Sendable {
    /// Where this attacher keeps its records.
    public let store: AttachmentStore
    /// Where one-line notices go (a stale record removed on the way): stderr by default.
    public let notice: @Sendable (String) -> Void

    /// An attacher recording in `store` whose notices go to stderr ("netbpf: ..." lines).
    public init(store: AttachmentStore = AttachmentStore()) {
        self.init(store: store, notice: { StandardStreams.err("netbpf: \($0)\n") })
    }

    /// An attacher recording in `store`.
    /// - Parameter notice: receives each notice (without a trailing newline); called on the
    ///   thread of the attach or detach call.
    public init(store: AttachmentStore = AttachmentStore(), notice: @escaping @Sendable (String) -> Void) {
        self.store = store
        self.notice = notice
    }

    static func pinDirectory(namespace: String?, interface: String, hook: String, program: String) -> String {
        "\(Pinning.root)/\(namespace ?? "root")/\(interface)/\(hook)/\(program)"
    }

    // MARK: tc

    /// Attaches a sched_cls program to `interface`'s ingress or egress; the program and the
    /// object's maps are pinned under /sys/fs/bpf/netbpf/NS/IFACE/HOOK/PROGRAM/.
    ///
    /// Holding the hook's lock (`HookLock`), it first refuses a program of the same name already
    /// attached there (a stale record of one is removed instead, with a notice), then writes a
    /// pending record that names this process, then changes the kernel, then finishes the
    /// record. Nothing in the kernel changes before the duplicate check. `options.creations`
    /// are made first (the hook's device may be among them), once the record names them.
    /// - Parameter lifetime: `.process` for attachments that end with this process (controllers).
    /// - Throws: `AttachError` (`.alreadyAttached`, `.busy`, `.notFound`, ...), `BPFError`, `NetlinkError`.
    /// - Kernel: tcx links need 6.6 (BPF_LINK_CREATE, BPF_TCX_INGRESS/EGRESS); clsact + cls_bpf
    ///   direct-action 4.5 (RTM_NEWQDISC, RTM_NEWTFILTER).
    public func attachTC(_ program: BPFProgram, of object: BPFObject, to interface: String, namespace: String?,
                         options: TCAttachOptions = TCAttachOptions(), lifetime: AttachmentLifetime = .pinned) throws -> AttachmentRecord {
        let hook = options.direction.rawValue
        let useTCX = try Self.usesTCX(options)
        let info = try program.info()
        let pins = Self.pinDirectory(namespace: namespace, interface: interface, hook: hook, program: program.name)
        let lock = try HookLock(namespace: namespace, interface: interface, hooks: [hook])
        defer { lock.release() }
        try refuseDuplicate(interface: interface, namespace: namespace, hook: hook, program: program.name)

        return try inNamespace(namespace) {
            let netlink = try socket(in: namespace)
            // ifindex 0 until the interface exists: a creation may make it.
            var record = AttachmentRecord(kind: useTCX ? .tcx : .clsact, namespace: namespace, interface: interface, ifindex: 0,
                                          hook: hook, programID: info.id, programName: program.name, programTag: info.tag,
                                          pinDirectory: pins, priority: nil, handle: nil, createdClsact: false, attachedAt: Date())
            record.startPending(lifetime: lifetime)
            var undo: [() -> Void] = []
            do {
                try make(options.creations, for: &record, netlink: netlink, undo: &undo)
                let ifindex = try netlink.interfaceIndex(.name(interface))
                record.ifindex = ifindex
                if !useTCX {
                    record.priority = options.priority ?? 1
                    record.handle = options.handle ?? 1
                    // Claim the qdisc before creating it when there is none: a kill right after
                    // RTM_NEWQDISC must leave a record that says the clsact is ours (doctor then
                    // removes it, and only while no filter uses it).
                    record.createdClsact = try !netlink.qdiscs(on: .index(ifindex)).contains { $0.kind == "clsact" }
                }
                // Say what is about to be made before making it: a killed attach leaves this record.
                try store.save(record)
                if useTCX {
                    try PinSet.pin(program: program, maps: try object.maps, link: nil, at: pins)
                    FaultInjection.step("pins")
                    let link = try program.attachTCX(ifindex: ifindex, direction: options.direction, position: options.position)
                    undo.append { try? link.detach() }
                    FaultInjection.step("link")
                    try link.pin(at: pins + "/link")
                } else {
                    let created = try netlink.ensureClsact(on: .index(ifindex))
                    if created { undo.append { try? netlink.deleteClsact(on: .index(ifindex)) } }
                    if created != record.createdClsact { // someone else (not netbpf) made it in between
                        record.createdClsact = created
                        try store.save(record)
                    }
                    FaultInjection.step("clsact")
                    var filterOptions = BPFFilterOptions()
                    filterOptions.priority = options.priority ?? 1
                    filterOptions.handle = options.handle ?? 1
                    if let classID = options.classID {
                        filterOptions.directAction = false
                        filterOptions.classID = TCHandle(rawValue: classID)
                    }
                    let tcHook: TCHook = options.direction == .ingress ? .ingress : .egress
                    let filter = try netlink.attachBPFFilter(program, to: .index(ifindex), hook: tcHook, filterOptions)
                    record.priority = filter.priority
                    record.handle = filter.handle
                    undo.append {
                        try? netlink.deleteBPFFilter(on: .index(ifindex), hook: tcHook, priority: filter.priority, handle: filter.handle,
                                                     expectedProgramID: info.id)
                    }
                    FaultInjection.step("filter")
                    try PinSet.pin(program: program, maps: try object.maps, link: nil, at: pins)
                    FaultInjection.step("pins")
                }
                record.finishPending()
                try store.save(record)
                return record
            } catch {
                for step in undo.reversed() { step() }
                PinSet.remove(pins)
                store.remove(record)
                throw error
            }
        }
    }

    /// Saves `record` naming the `creations` that are missing, then makes them (each undone on
    /// a later failure). Nothing is saved or made when none is missing.
    private func make(_ creations: [Creation], for record: inout AttachmentRecord, netlink: NetlinkSocket, undo: inout [() -> Void]) throws {
        let missing = try Creation.claim(creations, netlink: netlink, interface: record.interface)
        guard !missing.isEmpty else { return }
        record.created = missing
        try store.save(record)
        for c in creations where missing.contains(c.state) {
            try c.make(netlink)
            undo.append { [interface = record.interface] in c.state.remove(netlink, interface: interface) }
        }
    }

    /// Whether `options` attach through tcx: asked for, or `auto` on a kernel with tcx and no
    /// clsact-only option.
    static func usesTCX(_ options: TCAttachOptions) throws -> Bool {
        let clsactOnly = options.priority != nil || options.handle != nil || options.classID != nil
        switch options.mechanism {
        case .tcx:
            guard !clsactOnly else { throw AttachError(.invalidArgument, "--priority, --handle and --classid are clsact options; tcx orders programs with --before/--after") }
            guard Features.shared.tcx.available else { throw AttachError(.unsupported, "this kernel has no tcx (Linux 6.6+)", hint: "use --clsact") }
            return true
        case .clsact: return false
        case .auto: return !clsactOnly && Features.shared.tcx.available
        }
    }

    // MARK: XDP

    /// Attaches an XDP program with a pinned BPF link (default) or over netlink (`netlink: true`),
    /// under the hook's lock and with a pending record first, as `attachTC`.
    /// - Throws: `AttachError(.alreadyAttached)` when the interface runs an XDP program already.
    /// - Kernel: XDP links 5.9 (BPF_LINK_CREATE with BPF_XDP); netlink XDP 4.8 (IFLA_XDP).
    public func attachXDP(_ program: BPFProgram, of object: BPFObject, to interface: String, namespace: String?,
                          mode: XDPMode = .generic, netlink useNetlink: Bool = false,
                          lifetime: AttachmentLifetime = .pinned) throws -> AttachmentRecord {
        let hook = mode == .generic ? "generic" : "driver"
        let info = try program.info()
        let pins = Self.pinDirectory(namespace: namespace, interface: interface, hook: "xdp", program: program.name)
        let lock = try HookLock(namespace: namespace, interface: interface, hooks: ["xdp"])
        defer { lock.release() }
        try refuseDuplicate(interface: interface, namespace: namespace, hook: "xdp", program: program.name)
        return try inNamespace(namespace) {
            let netlink = try socket(in: namespace)
            let ifindex = try netlink.interfaceIndex(.name(interface))
            let current = try netlink.xdp(on: .index(ifindex))
            if let other = current.programID {
                let ours = AttachmentStore.allRecords(including: store).first { $0.programID == other && $0.ifindex == ifindex && $0.namespace == namespace }
                throw AttachError(.alreadyAttached, "\(interface) already runs XDP program id \(other)\(ours != nil ? " (attached by netbpf)" : " (not attached by netbpf)")",
                                  hint: ours.map(freeingHint) ?? "remove it with the tool that attached it (ip link set dev \(interface) xdp off)")
            }
            var record = AttachmentRecord(kind: useNetlink ? .xdpNetlink : .xdpLink, namespace: namespace, interface: interface, ifindex: ifindex,
                                          hook: hook, programID: info.id, programName: program.name, programTag: info.tag,
                                          pinDirectory: pins, priority: nil, handle: nil, createdClsact: false, attachedAt: Date())
            record.startPending(lifetime: lifetime)
            var undo: [() -> Void] = []
            do {
                try store.save(record)
                undo.append { [record] in store.remove(record) }
                try PinSet.pin(program: program, maps: try object.maps, link: nil, at: pins)
                if useNetlink {
                    try netlink.attachXDP(program, to: .index(ifindex), mode: mode)
                    undo.append { _ = try? netlink.detachXDP(from: .index(ifindex), mode: mode, expectedProgramID: info.id) }
                } else {
                    let flags: UInt32 = mode == .generic ? 2 : 4 // XDP_FLAGS_SKB_MODE / XDP_FLAGS_DRV_MODE
                    let link = try program.attachXDPLink(ifindex: ifindex, flags: flags)
                    undo.append { try? link.detach() }
                    try link.pin(at: pins + "/link")
                }
                record.finishPending()
                try store.save(record)
                return record
            } catch {
                for step in undo.reversed() { step() }
                PinSet.remove(pins)
                throw error
            }
        }
    }

    /// Refuses a second attach of `program` to the same hook, looking at every store's records
    /// (pins are shared). Call it holding the hook's lock. A record that no longer describes
    /// anything attached (`staleness`) does not block: it is removed, with a notice; on the XDP
    /// hook, which holds one program, that of any program.
    private func refuseDuplicate(interface: String, namespace: String?, hook: String, program: String) throws {
        let pins = Self.pinDirectory(namespace: namespace, interface: interface, hook: hook, program: program)
        for other in AttachmentStore.known(including: store) {
            for existing in other.all() where existing.pinDirectory == pins
                || (existing.interface == interface && existing.namespace == namespace && existing.lockedHook == hook
                    && (existing.programName == program || hook == "xdp")) {
                let stale = staleness(of: existing)
                if stale.isEmpty {
                    guard existing.programName == program else { continue } // another live XDP program: attachXDP names it
                    throw AttachError(.alreadyAttached, "'\(program)' is already attached by netbpf to \(existing.place), program id \(existing.programID)",
                                      hint: freeingHint(existing))
                }
                try Attacher(store: other, notice: notice).undoHoldingLock(existing)
                notice("removed a stale record of \(existing.programName) on \(existing.place)\(existing.madeAlso): " + stale.joined(separator: ", "))
            }
        }
    }

    /// How to free a hook that `record` holds. A controller's attachments end with its process,
    /// so the hint names the process and every hook it holds (stopping it frees them all); a
    /// pinned attachment is detached by name.
    func freeingHint(_ record: AttachmentRecord) -> String {
        guard record.lifetime == .process, let pid = record.ownerPID else {
            let family = record.lockedHook == "xdp" ? "xdp" : "tc"
            return "netbpf detach \(family) \(record.interface) --name \(record.programName)" + (record.namespace.map { " --netns \($0)" } ?? "")
        }
        var places: [String] = []
        for r in AttachmentStore.allRecords(including: store)
        where r.ownerPID == pid && r.ownerStartTime == record.ownerStartTime && !places.contains(r.place) {
            places.append(r.place)
        }
        return "it belongs to the running netbpf process \(pid): stop it (kill \(pid)) and what it attached goes with it: " + places.joined(separator: ", ")
    }

    // MARK: detach

    /// The hooks `detach` works on.
    public enum HookFamily: String, Sendable {
        /// tcx and clsact, ingress and egress.
        case tc
        /// XDP, links and netlink alike.
        case xdp
    }

    /// What to detach: netbpf's attachments on `interface` of `family`, narrowed by direction,
    /// program id or name. Attachments made by other tools are never touched: naming one is an
    /// error that says so.
    /// - Parameter all: detach every match; without it, more than one match is an error.
    /// - Returns: the records of what was detached.
    /// - Throws: `AttachError(.notFound)` when netbpf has nothing there, `.notOurs` when what is
    ///   named belongs to another tool, `.invalidArgument` when several match and `all` is false,
    ///   `.busy` when the hook stays locked; `BPFError`/`NetlinkError` from the kernel.
    public func detach(_ family: HookFamily, interface: String, namespace: String?, direction: TCDirection? = nil,
                       programID: UInt32? = nil, programName: String? = nil, all: Bool = false) throws -> [AttachmentRecord] {
        let hooks = family == .xdp ? ["xdp"] : direction.map { [$0.rawValue] } ?? TCDirection.allCases.map(\.rawValue)
        let lock = try HookLock(namespace: namespace, interface: interface, hooks: hooks)
        defer { lock.release() }
        let ours = store.all().filter { r in
            r.interface == interface && r.namespace == namespace
                && (family == .tc ? (r.kind == .tcx || r.kind == .clsact) : (r.kind == .xdpLink || r.kind == .xdpNetlink))
                && (direction == nil || r.hook == direction!.rawValue)
        }
        let chosen = ours.filter { r in (programID == nil || r.programID == programID) && (programName == nil || r.programName == programName) }
        if chosen.isEmpty {
            // Say whether the thing named exists but is someone else's.
            let listed = (try? list(interface: interface, namespace: namespace)) ?? []
            let foreign = listed.first { l in
                l.owner != "netbpf" && l.hook.hasPrefix(family == .tc ? "tc" : "xdp")
                    && (programID == nil || l.programID == programID) && (programName == nil || l.programName == programName)
            }
            if let foreign, programID != nil || programName != nil || all {
                throw AttachError(.notOurs, "program \(foreign.programID) '\(foreign.programName)' on \(interface) \(foreign.hook) was not attached by netbpf; not detaching it",
                                  hint: family == .tc ? "remove it with the tool that attached it (tc filter del dev \(interface) ...)" : "ip link set dev \(interface) xdp off")
            }
            throw AttachError(.notFound, "netbpf has nothing attached to \(namespace.map { "\($0)/" } ?? "")\(interface) \(family.rawValue)"
                              + (programID.map { " with program id \($0)" } ?? "") + (programName.map { " named '\($0)'" } ?? ""),
                              hint: "netbpf list \(interface)" + (namespace.map { " --netns \($0)" } ?? ""))
        }
        if chosen.count > 1 && !all && programID == nil && programName == nil {
            throw AttachError(.invalidArgument, "\(chosen.count) netbpf programs are attached to \(interface) \(family.rawValue): " + chosen.map { "\($0.programName) (\($0.place))" }.joined(separator: ", "),
                              hint: "choose with --id, --name or --all")
        }
        for record in chosen { try undoHoldingLock(record) }
        return chosen
    }

    /// Removes one attachment exactly as recorded, its pins and its record, under its hook's lock:
    /// the link detached (BPF_LINK_DETACH), or the filter deleted only if it still runs the
    /// recorded program, or XDP cleared only if it is the recorded program; then what the attach
    /// created besides. A namespace that is gone leaves only pins and record to remove.
    /// - Throws: `AttachError(.busy)` when the hook stays locked, `.notFound` when another
    ///   command undid it first (the record is gone); `NetlinkError` from the kernel.
    public func undo(_ record: AttachmentRecord) throws {
        let lock = try HookLock(namespace: record.namespace, interface: record.interface, hooks: [record.lockedHook])
        defer { lock.release() }
        // Read again under the lock: a record read before it may have been undone meanwhile.
        guard store.all().contains(where: { $0.fileName == record.fileName && $0.programID == record.programID }) else {
            throw AttachError(.notFound, "\(record.programName) on \(record.place) was detached meanwhile by another command")
        }
        try undoHoldingLock(record)
    }

    /// `undo` for a caller that holds the record's hook lock already (a second flock of the same
    /// file from this process would wait for itself).
    func undoHoldingLock(_ record: AttachmentRecord) throws {
        // A deleted namespace took its interfaces, and with them the filters, links and XDP
        // programs attached there: only the pins and the record are left to remove.
        let namespaceGone = record.namespace.map { !NetworkNamespace.exists($0) } ?? false
        if !namespaceGone { try undoInKernel(record) }
        // The record goes before its pins: a reader that finds a pin missing then finds the
        // record gone too, and can say "detached meanwhile" (a kill in between leaves orphan
        // pins, which doctor removes).
        store.remove(record)
        PinSet.remove(record.pinDirectory)
    }

    private func undoInKernel(_ record: AttachmentRecord) throws {
        try inNamespace(record.namespace) {
            // What the attach made besides the program goes after it, whatever happened to it.
            defer { removeCreated(record) }
            // ifindex 0: killed before the interface was looked up, so nothing was attached.
            guard record.ifindex != 0 else { return }
            switch record.kind {
            case .tcx, .xdpLink:
                if let link = try? BPFLink.open(pinned: record.pinDirectory + "/link") { try link.detach() }
            case .clsact:
                let netlink = try socket(in: record.namespace)
                let hook: TCHook = record.hook == "egress" ? .egress : .ingress
                do {
                    try netlink.deleteBPFFilter(on: .index(record.ifindex), hook: hook, priority: record.priority ?? 1,
                                                handle: record.handle ?? 1, expectedProgramID: record.programID)
                } catch let e as NetlinkError where e.code == .notFound {
                    // Already gone (interface deleted, or removed by hand): nothing to undo.
                } catch let e as NetlinkError where e.code == .programMismatch && record.isPending {
                    // An interrupted attach that never added its filter: the one there is someone
                    // else's and stays; the qdisc step below still applies.
                }
                // The creator removes its clsact only when no filter is left on either hook (others'
                // filters stay). If netbpf filters remain, the next one inherits the duty, so the
                // last netbpf detach removes the qdisc netbpf created.
                if record.createdClsact, (try? netlink.deleteClsactIfUnused(on: .index(record.ifindex))) != true,
                   var heir = store.all().first(where: { $0.kind == .clsact && $0.namespace == record.namespace
                       && $0.ifindex == record.ifindex && $0 != record }) {
                    heir.createdClsact = true
                    try? store.save(heir)
                }
            case .xdpNetlink:
                let netlink = try socket(in: record.namespace)
                _ = try? netlink.detachXDP(from: .index(record.ifindex), mode: record.hook == "driver" ? .native : .generic, expectedProgramID: record.programID)
            }
        }
    }

    /// Removes `record.created`, last made first.
    private func removeCreated(_ record: AttachmentRecord) {
        guard let created = record.created, let netlink = try? socket(in: record.namespace) else { return }
        for state in created.reversed() { state.remove(netlink, interface: record.interface) }
    }
}

/// Pins an attachment's program, maps and link, and removes them again.
enum PinSet {
    static func pin(program: BPFProgram, maps: [BPFMap], link: BPFLink?, at dir: String) throws {
        remove(dir) // leftovers of an attach that was killed half-way
        try program.pin(at: dir + "/prog")
        for map in maps where !map.name.hasSuffix(".rodata") && !map.name.hasSuffix(".bss") && !map.name.hasSuffix(".data")
            && !map.name.hasSuffix(".kconfig") && !map.name.contains(".rodata.") {
            try map.pin(at: dir + "/maps/" + map.name)
        }
        try link?.pin(at: dir + "/link")
    }

    /// Removes the pins under `dir` and the now-empty directories up to Pinning.root.
    static func remove(_ dir: String) {
        removeTree(dir)
        var parent = (dir as NSString).deletingLastPathComponent
        while parent.hasPrefix(Pinning.root + "/") {
            if rmdir(parent) != 0 { break }
            parent = (parent as NSString).deletingLastPathComponent
        }
        _ = rmdir(Pinning.root)
    }

    private static func removeTree(_ path: String) {
        if let entries = try? FileManager.default.contentsOfDirectory(atPath: path) {
            for e in entries { removeTree(path + "/" + e) }
            rmdir(path)
        } else {
            unlink(path)
        }
    }
}
