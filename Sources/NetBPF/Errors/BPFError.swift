import Glibc

/// The one error type of the loader. Its `description` is a single line meant for people:
/// `load program 'http_filter': verifier rejected (EACCES): R0 invalid mem access 'map_value_or_null'
/// (212 lines omitted); hint: ...`. The whole verifier log stays available in `verifierLog`.
public struct BPFError: Error, CustomStringConvertible, Sendable {
    /// What kind of failure this is; new cases may be added.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The code's name as it appears in JSON output ("not-found", "verifier").
        public let rawValue: String
        /// A code by name; use the static members unless matching a code from JSON.
        public init(_ rawValue: String) { self.rawValue = rawValue }
        /// The code's name (`rawValue`).
        public var description: String { rawValue }

        /// A system call or libbpf function failed with `errno` (none of the more specific codes applies).
        public static let system = Code("system")
        /// The object file is not a BPF ELF object libbpf can open (truncated, wrong machine, bad BTF, no programs).
        public static let invalidObject = Code("invalid-object")
        /// The verifier rejected a program; `verifierLog` holds its log.
        public static let verifier = Code("verifier")
        /// No such program, map, pin, tracepoint or struct (ENOENT from the kernel maps here too).
        public static let notFound = Code("not-found")
        /// A key, value or struct differs in size or layout from what the map or BTF says.
        public static let sizeMismatch = Code("size-mismatch")
        /// A typed view or consumer was given a map of another type.
        public static let wrongMapType = Code("wrong-map-type")
        /// The running kernel lacks what the call needs (a program, map or link type, kprobes, fentry).
        public static let unsupported = Code("unsupported")
        /// EPERM or EACCES: the process lacks a capability, or lockdown refused.
        public static let permission = Code("permission")
        /// An argument is unusable: a path off bpffs, an index out of range, a pinned object of another kind.
        public static let invalidArgument = Code("invalid-argument")
        /// The call does not fit the object's state (configuring after load, using a detached link).
        public static let state = Code("state")
    }

    /// What kind of failure this is; switch on it rather than on `message`.
    public var code: Code
    /// The call or step that failed: "bpf_object__load", "BPF_MAP_LOOKUP_BATCH", "open".
    public var operation: String
    /// What it was applied to: a program, map, path or interface name.
    public var subject: String?
    /// The errno the kernel or libbpf reported, when there was one.
    public var errno: Int32?
    /// The message in words (without operation and subject).
    public var message: String
    /// A suggestion for what to change, when one is known.
    public var hint: String?
    /// The full verifier log of a rejected program.
    public var verifierLog: String?

    /// Makes an error; netbpf's own calls fill `operation` with the libbpf function, bpf(2)
    /// command or step that failed, so fakes and wrappers should too.
    public init(_ code: Code, operation: String, subject: String? = nil, errno: Int32? = nil,
                message: String, hint: String? = nil, verifierLog: String? = nil) {
        self.code = code
        self.operation = operation
        self.subject = subject
        self.errno = errno
        self.message = message
        self.hint = hint
        self.verifierLog = verifierLog
    }

    /// An error from a failed system call or libbpf function returning -errno.
    package static func system(_ operation: String, subject: String? = nil, errno err: Int32,
                              hint: String? = nil) -> BPFError {
        let e = abs(err)
        var code = Code.system
        var h = hint
        if e == EPERM || e == EACCES {
            code = .permission
            if h == nil && geteuid() != 0 { h = "run as root, or grant CAP_BPF and CAP_NET_ADMIN (CAP_PERFMON for tracing)" }
        } else if e == ENOENT {
            code = .notFound
        }
        return BPFError(code, operation: operation, subject: subject, errno: e,
                        message: "\(ErrnoName.describe(e))", hint: h)
    }

    /// One line: `operation 'subject': message; hint: hint`.
    public var description: String {
        var line = operation
        if let subject { line += " '\(subject)'" }
        line += ": " + message
        if let hint { line += "; hint: " + hint }
        return line
    }
}

/// Names for errno values, including the kernel-internal ones BPF returns (524 ENOTSUPP).
public enum ErrnoName {
    static let names: [Int32: String] = [
        EPERM: "EPERM", ENOENT: "ENOENT", ESRCH: "ESRCH", EINTR: "EINTR", EIO: "EIO", ENXIO: "ENXIO",
        E2BIG: "E2BIG", ENOEXEC: "ENOEXEC", EBADF: "EBADF", EAGAIN: "EAGAIN", ENOMEM: "ENOMEM",
        EACCES: "EACCES", EFAULT: "EFAULT", EBUSY: "EBUSY", EEXIST: "EEXIST", ENODEV: "ENODEV",
        ENOTDIR: "ENOTDIR", EISDIR: "EISDIR", EINVAL: "EINVAL", ENFILE: "ENFILE", EMFILE: "EMFILE",
        EFBIG: "EFBIG", ENOSPC: "ENOSPC", EPIPE: "EPIPE", ERANGE: "ERANGE", ENOSYS: "ENOSYS", ENOTSUP: "EOPNOTSUPP",
        ENAMETOOLONG: "ENAMETOOLONG", ELOOP: "ELOOP", EPROTO: "EPROTO", EBADMSG: "EBADMSG",
        EOVERFLOW: "EOVERFLOW", ENOTSOCK: "ENOTSOCK", EPROTONOSUPPORT: "EPROTONOSUPPORT",
        EAFNOSUPPORT: "EAFNOSUPPORT", EADDRINUSE: "EADDRINUSE", ENETDOWN: "ENETDOWN",
        ENOBUFS: "ENOBUFS", ETIMEDOUT: "ETIMEDOUT", ECONNREFUSED: "ECONNREFUSED", ESTALE: "ESTALE",
        524: "ENOTSUPP", 4001: "LIBBPF_ERRNO__LIBELF", 4002: "LIBBPF_ERRNO__FORMAT",
        4003: "LIBBPF_ERRNO__KVERSION", 4004: "LIBBPF_ERRNO__ENDIAN", 4005: "LIBBPF_ERRNO__INTERNAL",
        4006: "LIBBPF_ERRNO__RELOC", 4007: "LIBBPF_ERRNO__LOAD", 4008: "LIBBPF_ERRNO__VERIFY",
        4009: "LIBBPF_ERRNO__PROG2BIG", 4010: "LIBBPF_ERRNO__KVER", 4011: "LIBBPF_ERRNO__PROGTYPE",
        4012: "LIBBPF_ERRNO__WRNGPID", 4013: "LIBBPF_ERRNO__INVSEQ", 4014: "LIBBPF_ERRNO__NLPARSE",
    ]

    /// The symbolic name, e.g. "EACCES", or "errno N".
    public static func name(_ e: Int32) -> String { names[abs(e)] ?? "errno \(abs(e))" }

    /// "permission denied (EACCES)".
    public static func describe(_ e: Int32) -> String {
        let e = abs(e)
        let text: String
        switch e {
        case 524: text = "operation not supported by this kernel"
        case 4001...4014: text = "libbpf error"
        default: text = String(cString: strerror(e)).lowercased()
        }
        return "\(text) (\(name(e)))"
    }
}
