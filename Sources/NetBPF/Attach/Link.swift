import CLibBPF
import CNetBPFShims
import Glibc
import Synchronization

/// An attachment of a program to a hook, as a kernel BPF link (or a libbpf link over a perf event).
/// It detaches when the last reference goes unless it was pinned; `detach()` is idempotent.
/// Sendable: its mutable state (the libbpf link or fd, the program, the pin) is behind `state`'s
/// mutex, so two threads may detach it, read its fd or pin it at once.
public final class BPFLink: Sendable {
    /// libbpf's `struct bpf_link *`, owned by this BPFLink. `@unchecked Sendable`: immutable; it
    /// is only used (and destroyed) under `state`'s mutex.
    private struct LibbpfLink: @unchecked Sendable { let pointer: OpaquePointer }

    private struct State {
        var libbpfLink: LibbpfLink?
        var ownedFD: OwnedFD?
        var program: BPFProgram?
        var pinnedPath: String?

        var fd: Int32 {
            if let libbpfLink { return bpf_link__fd(libbpfLink.pointer) }
            return ownedFD?.rawValue ?? -1
        }

        mutating func release() {
            if let l = libbpfLink { bpf_link__destroy(l.pointer); libbpfLink = nil }
            ownedFD = nil
        }
    }

    private let state: Mutex<State>
    /// Where it is attached, in words ("tracepoint/syscalls/sys_enter_getpgid", "tcx ingress veth0").
    public let attachPoint: String

    package init(libbpfLink: OpaquePointer, program: BPFProgram?, description: String) {
        state = Mutex(State(libbpfLink: LibbpfLink(pointer: libbpfLink), program: program))
        attachPoint = description
    }

    /// Takes ownership of a link fd made with BPF_LINK_CREATE.
    package init(fd: OwnedFD, program: BPFProgram?, description: String) {
        state = Mutex(State(ownedFD: fd, program: program))
        attachPoint = description
    }

    /// The program stays loaded while the link lives.
    public var program: BPFProgram? { state.withLock { $0.program } }

    /// The link's fd, or -1 once detached.
    public var fd: Int32 { state.withLock { $0.fd } }

    /// Whether this object still holds the link: false once `detach()` ran.
    public var isAttached: Bool { state.withLock { $0.libbpfLink != nil || $0.ownedFD != nil } }

    /// The kernel's view of the link (id, type, program id, interface).
    public func info() throws -> LinkInfo {
        try state.withLock { s in
            guard s.fd >= 0 else { throw BPFError(.state, operation: "link info", subject: attachPoint, message: "link is detached") }
            return try LinkInfo(fd: s.fd)
        }
    }

    /// Swaps the link's program for `program`, provided it is still running `current`
    /// (BPF_LINK_UPDATE with BPF_F_REPLACE, 5.7; tcx links 6.6). The program keeps its place in
    /// the hook and, for tcx, the kernel replaces it in the live program array: no RCU grace
    /// period, unlike BPF_LINK_CREATE.
    public func update(to program: BPFProgram, replacing current: BPFProgram) throws {
        try state.withLock { s in
            guard s.fd >= 0 else { throw BPFError(.state, operation: "update link", subject: attachPoint, message: "link is detached") }
            let r = nb_link_update_replace(s.fd, program.fd, current.fd)
            guard r == 0 else {
                throw BPFError.system("BPF_LINK_UPDATE", subject: attachPoint, errno: r,
                                      hint: -r == EPERM ? "the link runs another program than the one to replace" : nil)
            }
            s.program = program
        }
    }

    /// Pins the link so the attachment outlives this process (BPF_OBJ_PIN on the link fd, 5.7).
    public func pin(at path: String) throws {
        try state.withLock { s in
            guard s.fd >= 0 else { throw BPFError(.state, operation: "pin link", subject: path, message: "link is detached") }
            try Pinning.prepareParent(of: path)
            if bpf_obj_pin(s.fd, path) != 0 { throw BPFError.system("pin link", subject: path, errno: errno) }
            s.pinnedPath = path
        }
    }

    /// Removes the pin made by `pin(at:)` (the link then ends with this object).
    public func unpin() throws {
        try state.withLock { s in
            guard let path = s.pinnedPath else { return }
            do {
                try Pinning.unpin(path)
            } catch let error as BPFError where error.errno == ENOENT {
                // Someone removed the pin already: the link ends with our fd.
            }
            s.pinnedPath = nil
        }
    }

    /// Opens a pinned link (bpf_obj_get); releasing it does not detach while the pin exists.
    public static func open(pinned path: String) throws -> BPFLink {
        let fd = bpf_obj_get(path)
        guard fd >= 0 else { throw BPFError.system("open pinned link", subject: path, errno: errno) }
        let owned = OwnedFD(owning: fd)
        try FDKind.require(.link, fd: fd, path: path)
        let link = BPFLink(fd: owned, program: nil, description: path)
        _ = try link.info()
        link.state.withLock { $0.pinnedPath = path }
        return link
    }

    /// Detaches now (BPF_LINK_DETACH, 5.9), then releases the fd. Idempotent. Links made over perf
    /// events (tracepoints, kprobes, uprobes), raw tracepoints and fentry have no BPF_LINK_DETACH
    /// in the kernel: for those the pin this object made is removed and the fd closed, which ends
    /// the attachment once nothing else (another pin, another process's fd) holds the link.
    /// - Throws: `BPFError` when that pin cannot be removed: the attachment then stays in the
    ///   kernel (the fd is released all the same).
    public func detach() throws {
        try state.withLock { s in
            defer { s.release() }
            guard s.fd >= 0, bpf_link_detach(s.fd) != 0, let path = s.pinnedPath else { return }
            do {
                try Pinning.unpin(path)
            } catch let error as BPFError where error.errno == ENOENT {
                // Someone removed the pin already: the link ends with our fd.
            }
            s.pinnedPath = nil
        }
    }

    deinit { state.withLock { $0.release() } }
}

/// Detaches every link in order, trying all of them before reporting a failure.
/// - Throws: the first `BPFLink.detach()` error.
public func detachAll(_ links: some Sequence<BPFLink>) throws {
    var firstError: (any Error)?
    for link in links {
        do { try link.detach() } catch { firstError = firstError ?? error }
    }
    if let firstError { throw firstError }
}
