import Foundation

extension BPF {
    /// Sections libbpf attaches from the section alone (bpf_program__attach).
    static let selfAttachingSections = [
        "tp_btf/", "raw_tracepoint/", "raw_tp/", "kprobe/", "kretprobe/", "kprobe.multi/", "kretprobe.multi/",
        "ksyscall/", "kretsyscall/", "fentry/", "fexit/", "fmod_ret/", "lsm/", "iter/",
    ]

    /// Attaches every program whose hook is named by its section (`tracepoint/CAT/EVENT`,
    /// `raw_tp/EVENT`, `kprobe/FUNC`, `fentry/FUNC`, ...) or, as in BCC, by its function name
    /// (`kprobe__FUNC`, `kretprobe__FUNC`, `tracepoint__CAT__EVENT`, `raw_tracepoint__EVENT`).
    /// Programs that need a place (tc, XDP, socket, uprobe, perf event) are left alone.
    /// - Throws: the first attach that fails (what was attached before it stays kept).
    public func attachAll() throws {
        for program in object.programs { _ = try autoAttach(program) }
    }

    /// The link made for `program` from its section or name, or nil when they name no hook.
    @discardableResult
    func autoAttach(_ program: BPFProgram) throws -> BPFLink? {
        let section = program.section, name = program.name
        if section.hasPrefix("tracepoint/") || section.hasPrefix("tp/") {
            let parts = section.split(separator: "/").map(String.init)
            guard parts.count == 3 else { return nil }
            return keep(try program.attachTracepoint(category: parts[1], name: parts[2], cookie: 0))
        }
        if Self.selfAttachingSections.contains(where: section.hasPrefix) { return keep(try program.attach()) }
        if let function = name.dropPrefix("kprobe__") { return keep(try program.attachKprobe(function: function)) }
        if let function = name.dropPrefix("kretprobe__") { return keep(try program.attachKprobe(function: function, retprobe: true)) }
        if let event = name.dropPrefix("raw_tracepoint__") { return keep(try program.attachRawTracepoint(event)) }
        if let rest = name.dropPrefix("tracepoint__"), let split = rest.range(of: "__") {
            return keep(try program.attachTracepoint(category: String(rest[..<split.lowerBound]), name: String(rest[split.upperBound...]), cookie: 0))
        }
        return nil
    }

    // MARK: Explicit attach calls (each returns the link, also kept for `close()`)

    /// BCC's `attach_tracepoint(tp="sched:sched_switch", fn_name=...)`. Kernel 4.7.
    /// - Throws: `BPFError(.notFound)` for a tracepoint tracefs does not list.
    @discardableResult
    public func attachTracepoint(_ tracepoint: String, program: String) throws -> BPFLink {
        let parts = tracepoint.split(separator: ":", maxSplits: 1).map(String.init)
        guard parts.count == 2 else {
            throw BPFError(.invalidArgument, operation: "attach tracepoint", subject: tracepoint, message: "a tracepoint is CATEGORY:EVENT",
                           hint: "list them with `netbpf trace tplist`")
        }
        return keep(try self.program(program).attachTracepoint(category: parts[0], name: parts[1], cookie: 0))
    }

    /// BCC's `attach_raw_tracepoint(tp=..., fn_name=...)`. Kernel 4.17
    /// (bpf_program__attach_raw_tracepoint).
    /// - Throws: `BPFError(.notFound)` for an unknown program or tracepoint.
    @discardableResult
    public func attachRawTracepoint(_ event: String, program: String) throws -> BPFLink {
        keep(try self.program(program).attachRawTracepoint(event))
    }

    /// BCC's `attach_kprobe` / `attach_kretprobe` (kprobe PMU 4.17, tracefs before). A kernel
    /// without CONFIG_KPROBES is an `.unsupported` error that says so.
    /// - Throws: `BPFError(.notFound)` for an unknown program or a function the kernel cannot probe.
    @discardableResult
    public func attachKprobe(function: String, program: String, retprobe: Bool = false) throws -> BPFLink {
        keep(try self.program(program).attachKprobe(function: function, retprobe: retprobe))
    }

    /// BCC's `attach_uprobe(name=BINARY, sym=SYMBOL, fn_name=..., pid=...)` / `attach_uretprobe`
    /// (uprobe PMU, 4.17). `binary` is a path, a library name ("c") or a program on PATH.
    /// - Throws: `BPFError(.notFound)` for an unknown program, file, symbol or pid;
    ///   `.unsupported` without the uprobe PMU.
    @discardableResult
    public func attachUprobe(binary: String, symbol: String, program: String, retprobe: Bool = false, pid: Int32? = nil) throws -> BPFLink {
        keep(try self.program(program).attachUprobe(binary: binary, symbol: symbol, pid: pid, retprobe: retprobe))
    }

    /// BCC's `attach_perf_event(ev_type=..., sample_freq=...)`: one link per CPU
    /// (perf_event_open and a BPF perf link).
    /// - Throws: `BPFError(.notFound)` for an unknown program; `.permission` without
    ///   CAP_PERFMON; `.unsupported` when no CPU has the event.
    @discardableResult
    public func attachPerfEvent(_ event: SamplingEvent, program: String, cpus: [Int]? = nil) throws -> [BPFLink] {
        try self.program(program).attachPerfEvent(event, cpus: cpus).map { keep($0) }
    }

    /// A tcx link on `interface`'s ingress or egress (kernel 6.6; BPF_LINK_CREATE), in
    /// `namespace` when given. It is this process's: nothing is pinned or recorded, and it
    /// detaches with the link. For attachments that outlive the process use `Attacher`.
    /// - Throws: `BPFError(.unsupported)` on a kernel without tcx (hint: `Attacher`, which uses clsact).
    @discardableResult
    public func attachTC(_ program: String, interface: String, direction: TCDirection = .ingress, namespace: String? = nil) throws -> BPFLink {
        let p = try self.program(program)
        guard Features.shared.tcx.available else {
            throw BPFError(.unsupported, operation: "attach tc", subject: interface, message: "this kernel has no tcx links (Linux 6.6)",
                           hint: "NetBPFAttach's Attacher.attachTC falls back to clsact + cls_bpf")
        }
        return keep(try Self.inNamespace(namespace) {
            try p.attachTCX(ifindex: try NetlinkSocket().interfaceIndex(.name(interface)), direction: direction)
        })
    }

    /// An XDP link on `interface` (kernel 5.9; BPF_LINK_CREATE with BPF_XDP), generic by default,
    /// in `namespace` when given. Like `attachTC`, it is this process's and detaches with the link.
    /// - Throws: `BPFError(.notFound)` for an unknown program; `NetlinkError(.notFound)` for a
    ///   missing interface; EBUSY when the interface has an XDP program already.
    @discardableResult
    public func attachXDP(_ program: String, interface: String, mode: XDPMode = .generic, namespace: String? = nil) throws -> BPFLink {
        let p = try self.program(program)
        let flags: UInt32 = mode == .generic ? 2 : 4 // XDP_FLAGS_SKB_MODE / XDP_FLAGS_DRV_MODE
        return keep(try Self.inNamespace(namespace) {
            try p.attachXDPLink(ifindex: try NetlinkSocket().interfaceIndex(.name(interface)), flags: flags)
        })
    }

    /// BCC's `attach_raw_socket`: an AF_PACKET socket on `interface` (0: every interface) with the
    /// socket filter attached before it is bound, so no unfiltered frame is seen (SO_ATTACH_BPF, 3.19).
    /// - Throws: `BPFError(.invalidArgument)` unless the program is a socket_filter;
    ///   `.permission` without CAP_NET_RAW; `NetlinkError(.notFound)` for a missing interface.
    public func openPacketSocket(_ program: String, interface: String? = nil, namespace: String? = nil) throws -> PacketSocket {
        let p = try self.program(program)
        return try Self.inNamespace(namespace) {
            try PacketSocket(program: p, ifindex: try interface.map { try NetlinkSocket().interfaceIndex(.name($0)) } ?? 0)
        }
    }

    /// Runs `body` in the named namespace's thread (its sockets and links stay there), or here.
    static func inNamespace<T>(_ name: String?, _ body: @Sendable () throws -> sending T) throws -> sending T {
        guard let name else { return try body() }
        return try withNamespace(name, body)
    }
}

extension String {
    /// The rest after `prefix`, or nil when the string does not start with it (or is only it).
    func dropPrefix(_ prefix: String) -> String? {
        hasPrefix(prefix) && count > prefix.count ? String(dropFirst(prefix.count)) : nil
    }
}
