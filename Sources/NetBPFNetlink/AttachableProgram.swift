/// A loaded BPF program whose descriptor netlink can carry (TCA_BPF_FD, TCA_ACT_BPF_FD,
/// IFLA_XDP_FD). The descriptor is only borrowed for the duration of a call: the kernel takes
/// its own reference when the attach succeeds, so the program stays attached after the caller
/// closes it (netlink attachments are kernel state, not links that detach on close).
///
/// NetBPF's `BPFProgram` already has both members; a module that imports both adds
/// `extension BPFProgram: AttachableProgram {}`. For a bare descriptor use `ProgramDescriptor`.
public protocol AttachableProgram {
    /// The program's file descriptor, valid for the duration of the call.
    var fd: Int32 { get }
    /// The program's name; used as the default TCA_BPF_NAME.
    var name: String { get }
}

/// A borrowed program descriptor with a name, for callers that hold only an fd
/// (e.g. from a pinned path). Does not own or close the descriptor.
public struct ProgramDescriptor: AttachableProgram, Sendable {
    /// The borrowed program fd; the caller keeps it open for the duration of each call.
    public let fd: Int32
    /// The name used as TCA_BPF_NAME.
    public let name: String
    /// Wraps `fd` without taking ownership.
    public init(borrowing fd: Int32, name: String) {
        self.fd = fd
        self.name = name
    }
}
