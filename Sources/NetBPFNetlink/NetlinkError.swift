import Glibc

/// The one error type of NetBPFNetlink. Its `description` is a single line meant for people:
/// `RTM_NEWTFILTER 'veth0': invalid argument (EINVAL): kernel says "Parent Qdisc doesn't exists";
/// hint: add a clsact qdisc first (ensureClsact)`. The kernel's extended-ACK text
/// (NLMSGERR_ATTR_MSG, kernel 4.12) is kept apart in `kernelMessage` and quoted in the line.
public struct NetlinkError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What kind of failure this is; new cases may be added.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The code's name as it appears in JSON output ("not-found", "program-mismatch").
        public let rawValue: String
        /// A code by name; use the static members unless matching a code from JSON.
        public init(_ rawValue: String) { self.rawValue = rawValue }
        /// The code's name (`rawValue`).
        public var description: String { rawValue }

        /// A system call or the kernel failed with an errno not covered below.
        public static let system = Code("system")
        /// The interface, namespace, qdisc or filter does not exist.
        public static let notFound = Code("not-found")
        /// The object exists already (EEXIST on an exclusive create).
        public static let exists = Code("exists")
        /// Missing CAP_NET_ADMIN / CAP_SYS_ADMIN.
        public static let permission = Code("permission")
        /// This kernel lacks the feature (a module not built, an attribute it does not know).
        public static let unsupported = Code("unsupported")
        /// A caller mistake caught before anything was sent, or EINVAL from the kernel.
        public static let invalidArgument = Code("invalid-argument")
        /// A guarded operation found someone else's program in place and did nothing.
        public static let programMismatch = Code("program-mismatch")
        /// The reply did not make sense (wrong sequence number, truncated message).
        public static let protocolError = Code("protocol")
        /// A dump stayed inconsistent (NLM_F_DUMP_INTR) after every retry.
        public static let interrupted = Code("interrupted")
        /// The object is in use (EBUSY).
        public static let busy = Code("busy")
    }

    /// What kind of failure this is; switch on it rather than on `message`.
    public var code: Code
    /// The netlink message or call that failed: "RTM_NEWTFILTER", "setns", "mount".
    public var operation: String
    /// What it was applied to: an interface, namespace, qdisc handle or filter.
    public var subject: String?
    /// The errno the kernel or the system call reported, when there was one (positive).
    public var errno: Int32?
    /// The message in words, without operation and subject.
    public var message: String
    /// The kernel's extended ACK message (NLMSGERR_ATTR_MSG), verbatim.
    public var kernelMessage: String?
    /// A suggestion for what to change, when one is known.
    public var hint: String?

    /// Makes an error; `errno` is stored positive whatever its sign.
    public init(_ code: Code, operation: String, subject: String? = nil, errno: Int32? = nil,
                message: String, kernelMessage: String? = nil, hint: String? = nil) {
        self.code = code
        self.operation = operation
        self.subject = subject
        self.errno = errno.map { abs($0) }
        self.message = message
        self.kernelMessage = kernelMessage
        self.hint = hint
    }

    /// An error from an errno, classified into a code: "no such device (ENODEV)".
    package static func system(_ operation: String, subject: String? = nil, errno err: Int32,
                              kernelMessage: String? = nil, hint: String? = nil) -> NetlinkError {
        let e = abs(err)
        var h = hint
        if (e == EPERM || e == EACCES) && h == nil && geteuid() != 0 {
            h = "run as root, or grant CAP_NET_ADMIN (and CAP_SYS_ADMIN for namespaces)"
        }
        return NetlinkError(Code.classify(e), operation: operation, subject: subject, errno: e,
                            message: NetlinkErrno.describe(e), kernelMessage: kernelMessage, hint: h)
    }

    /// One line: `operation 'subject': message: kernel says "…"; hint: hint`.
    public var description: String {
        var line = operation
        if let subject { line += " '\(subject)'" }
        line += ": " + message
        if let kernelMessage, !kernelMessage.isEmpty, !message.contains(kernelMessage) {
            line += ": kernel says \"\(kernelMessage)\""
        }
        if let hint { line += "; hint: " + hint }
        return line
    }
}

extension NetlinkError.Code {
    /// The code an errno falls under.
    static func classify(_ e: Int32) -> NetlinkError.Code {
        switch e {
        case EPERM, EACCES: return .permission
        case ENOENT, ENODEV, ESRCH, ENXIO: return .notFound
        case EEXIST: return .exists
        case EINVAL, ERANGE, E2BIG, ENAMETOOLONG: return .invalidArgument
        case EOPNOTSUPP, EPROTONOSUPPORT, EAFNOSUPPORT, 524: return .unsupported
        case EBUSY: return .busy
        case EINTR: return .interrupted
        case EPROTO, EBADMSG: return .protocolError
        default: return .system
        }
    }
}

/// Names for the errno values rtnetlink returns, including the kernel-internal 524 ENOTSUPP.
public enum NetlinkErrno {
    static let names: [Int32: String] = [
        EPERM: "EPERM", ENOENT: "ENOENT", ESRCH: "ESRCH", EINTR: "EINTR", EIO: "EIO", ENXIO: "ENXIO",
        E2BIG: "E2BIG", EBADF: "EBADF", EAGAIN: "EAGAIN", ENOMEM: "ENOMEM", EACCES: "EACCES",
        EFAULT: "EFAULT", EBUSY: "EBUSY", EEXIST: "EEXIST", ENODEV: "ENODEV", ENOTDIR: "ENOTDIR",
        EINVAL: "EINVAL", EMFILE: "EMFILE", ENOSPC: "ENOSPC", ERANGE: "ERANGE", ENOSYS: "ENOSYS",
        EOPNOTSUPP: "EOPNOTSUPP", ENAMETOOLONG: "ENAMETOOLONG", EPROTO: "EPROTO", EBADMSG: "EBADMSG",
        EMSGSIZE: "EMSGSIZE", EPROTONOSUPPORT: "EPROTONOSUPPORT", EAFNOSUPPORT: "EAFNOSUPPORT",
        EADDRINUSE: "EADDRINUSE", EADDRNOTAVAIL: "EADDRNOTAVAIL", ENETDOWN: "ENETDOWN",
        ENETUNREACH: "ENETUNREACH", ENOBUFS: "ENOBUFS", ETIMEDOUT: "ETIMEDOUT", ENOTEMPTY: "ENOTEMPTY",
        ESTALE: "ESTALE", 524: "ENOTSUPP",
    ]

    /// The symbolic name, e.g. "ENODEV", or "errno N".
    public static func name(_ e: Int32) -> String { names[abs(e)] ?? "errno \(abs(e))" }

    /// "no such device (ENODEV)".
    public static func describe(_ e: Int32) -> String {
        let e = abs(e)
        let text = e == 524 ? "operation not supported by this kernel" : String(cString: strerror(e)).lowercased()
        return "\(text) (\(name(e)))"
    }
}
