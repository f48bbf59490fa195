import CNetBPFShims
import Glibc

/// Which side of a device a tc program runs on.
public enum TCDirection: String, Sendable, CaseIterable, Encodable {
    /// Packets the device receives.
    case ingress
    /// Packets the device sends.
    case egress

    /// BPF_TCX_INGRESS (46) / BPF_TCX_EGRESS (47).
    public var tcxAttachType: AttachType { self == .ingress ? .tcxIngress : .tcxEgress }
}

/// Where to put a tcx program relative to the ones already there (kernel 6.6 mprog ordering).
public enum TCXPosition: Sendable, Equatable {
    /// After every program already attached (the default).
    case last
    /// Before every program already attached.
    case first
    /// Right before the program with this id.
    case before(programID: UInt32)
    /// Right after the program with this id.
    case after(programID: UInt32)
}

extension BPFProgram {
    /// Attaches a sched_cls program to a device's tcx hook (BPF_LINK_CREATE, kernel 6.6), through
    /// raw bpf(2) since libbpf 1.1 has no tcx wrapper and drops the ordering fields. The link
    /// detaches when released unless pinned. Call it in the device's network namespace.
    /// - Throws: `BPFError` with the errno: EINVAL on kernels without tcx, ENOENT when the
    ///   program `position` names is not on the hook, ENODEV when there is no such interface.
    public func attachTCX(ifindex: Int32, direction: TCDirection, position: TCXPosition = .last) throws -> BPFLink {
        // BPF_F_BEFORE (1 << 3), BPF_F_AFTER (1 << 4), BPF_F_ID (1 << 5).
        var flags: UInt32 = 0, relative: UInt32 = 0
        switch position {
        case .last: flags = 0
        case .first: flags = 1 << 3
        case .before(let id): flags = 1 << 3 | 1 << 5; relative = id
        case .after(let id): flags = 1 << 4 | 1 << 5; relative = id
        }
        let fd = nb_tcx_link_create(self.fd, ifindex, direction.tcxAttachType.rawValue, flags, relative, 0)
        guard fd >= 0 else {
            var hint: String?
            if -fd == EINVAL && !Features.shared.tcx.available { hint = "this kernel has no tcx (6.6+); attach through clsact instead" }
            if -fd == ENOENT, relative != 0 { hint = "program \(relative) is not attached to this hook" }
            if -fd == ENODEV { hint = "no interface with index \(ifindex) in this network namespace" }
            throw BPFError.system("BPF_LINK_CREATE(tcx \(direction.rawValue))", subject: name, errno: fd, hint: hint)
        }
        return BPFLink(fd: OwnedFD(owning: fd), program: self,
                       description: "tcx \(direction.rawValue) \(InterfaceNames.name(of: UInt32(ifindex)))")
    }

    /// A sched_cls program that only returns TCX_NEXT (-1): on a tcx hook every packet goes on
    /// as if it were not there. The benchmark uses it to time BPF_LINK_CREATE alone.
    package static func tcxPassThrough(name: String = "netbpf_pass") throws -> BPFProgram {
        let fd = nb_load_sched_cls_returning(-1, name)
        guard fd >= 0 else { throw BPFError.system("BPF_PROG_LOAD(sched_cls)", subject: name, errno: fd) }
        return try BPFProgram(fd: OwnedFD(owning: fd))
    }

}

/// Programs attached to a device's tcx hook, in run order (BPF_PROG_QUERY, kernel 6.6).
public struct TCXAttachments: Sendable, Equatable, Encodable {
    /// Ids of the attached programs, in the order they run.
    public var programIDs: [UInt32]
    /// Ids of their links, index for index (0 for a program attached without a link).
    public var linkIDs: [UInt32]
    /// Bumped by the kernel on every change to the hook.
    public var revision: UInt64

    /// The programs on a device's tcx hook, at most 64 (BPF_PROG_QUERY, 6.6). Call it in the
    /// device's network namespace.
    /// - Throws: `BPFError` with the errno: EINVAL on kernels without tcx, ENODEV when there is no such interface.
    public static func query(ifindex: Int32, direction: TCDirection) throws -> TCXAttachments {
        var progs = [UInt32](repeating: 0, count: 64), links = [UInt32](repeating: 0, count: 64)
        var count = UInt32(64), revision: UInt64 = 0
        let err = nb_tcx_query(ifindex, direction.tcxAttachType.rawValue, &progs, &links, &count, &revision)
        if err != 0 { throw BPFError.system("BPF_PROG_QUERY(tcx \(direction.rawValue))", subject: "ifindex \(ifindex)", errno: err) }
        return TCXAttachments(programIDs: Array(progs.prefix(Int(count))), linkIDs: Array(links.prefix(Int(count))), revision: revision)
    }
}
