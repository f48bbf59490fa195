internal import CNetBPFShims
import Foundation
import Glibc
import Synchronization

/// A network namespace held open by a file descriptor this object owns (closed once, on deinit).
///
/// Named namespaces follow iproute2's layout, so `ip netns exec NAME ...` and `ip netns list`
/// see them: /run/netns is a shared mount point, and /run/netns/NAME is a bind mount of the
/// namespace of a thread that unshare(CLONE_NEWNET)'d (kernel 3.0 for setns; 3.8 for
/// /proc/PID/ns/net bind mounts). Creating or deleting needs CAP_SYS_ADMIN.
///
/// setns() changes one thread only and Swift tasks hop threads, so code never enters a
/// namespace on the caller's thread: `run { ... }` runs a synchronous closure on a dedicated
/// thread that entered it, and sockets opened there (`NetlinkSocket(namespace:)`) stay bound to it.
public final class NetworkNamespace: Sendable {
    /// Where named namespaces live (iproute2's NETNS_RUN_DIR).
    public static let runDirectory = "/run/netns"

    /// The name under /run/netns, when opened by name.
    public let name: String?
    /// The path it was opened from (/run/netns/NAME, /proc/PID/ns/net, ...).
    public let path: String
    private let fd: Int32

    private init(fd: Int32, name: String?, path: String) {
        self.fd = fd
        self.name = name
        self.path = path
    }

    deinit { close(fd) }

    /// The name if it has one, else the path: what errors print.
    public var displayName: String { name ?? path }

    /// The raw descriptor, for IFLA_NET_NS_FD; valid while this object lives.
    package var rawDescriptor: Int32 { fd }

    // MARK: - Opening

    /// Opens the named namespace /run/netns/NAME.
    /// - Throws: `NetlinkError` `.notFound` ("network namespace 'x' does not exist").
    public static func open(_ name: String) throws -> NetworkNamespace {
        try validate(name)
        return try open(path: runDirectory + "/" + name, name: name)
    }

    /// Opens a namespace by path: a bind mount, /proc/PID/ns/net, /proc/PID/task/TID/ns/net.
    public static func open(path: String) throws -> NetworkNamespace {
        try open(path: path, name: nil)
    }

    private static func open(path: String, name: String?) throws -> NetworkNamespace {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let e = errno
            if e == ENOENT {
                throw NetlinkError(.notFound, operation: "open", subject: path, errno: e,
                                   message: name.map { "network namespace '\($0)' does not exist" }
                                       ?? "no namespace file at \(path)")
            }
            throw NetlinkError.system("open", subject: path, errno: e)
        }
        return NetworkNamespace(fd: fd, name: name, path: path)
    }

    /// The calling thread's current network namespace (/proc/thread-self/ns/net).
    public static func current() throws -> NetworkNamespace {
        try open(path: "/proc/thread-self/ns/net", name: nil)
    }

    // MARK: - Named namespaces

    /// The names under /run/netns, sorted (what `ip netns list` shows).
    public static func list() throws -> [String] {
        guard let dir = opendir(runDirectory) else {
            if errno == ENOENT { return [] }
            throw NetlinkError.system("opendir", subject: runDirectory, errno: errno)
        }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// Whether /run/netns/NAME exists.
    public static func exists(_ name: String) -> Bool {
        access(runDirectory + "/" + name, F_OK) == 0
    }

    /// Creates a named namespace the way `ip netns add NAME` does and returns it opened:
    /// make /run/netns a shared mount, create /run/netns/NAME (O_EXCL), and on a fresh thread
    /// unshare(CLONE_NEWNET) and bind-mount /proc/thread-self/ns/net onto the file.
    /// - Throws: `.exists` if the name is taken; `.permission` without CAP_SYS_ADMIN.
    @discardableResult
    public static func create(_ name: String) throws -> NetworkNamespace {
        try validate(name)
        let path = runDirectory + "/" + name
        let prep = nb_netns_prepare_dir(runDirectory)
        guard prep == 0 else {
            throw NetlinkError.system("mount --make-shared", subject: runDirectory, errno: prep)
        }
        let fd = Glibc.open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0)
        guard fd >= 0 else {
            let e = errno
            if e == EEXIST {
                throw NetlinkError(.exists, operation: "create namespace", subject: name, errno: e,
                                   message: "network namespace '\(name)' already exists")
            }
            throw NetlinkError.system("create namespace file", subject: path, errno: e)
        }
        close(fd)
        let bound: Int32 = onFreshThread {
            let u = nb_unshare_netns()
            return u != 0 ? u : nb_netns_bind_thread_ns(path)
        } ?? ESRCH
        guard bound == 0 else {
            unlink(path)
            throw NetlinkError.system("unshare+bind", subject: name, errno: bound)
        }
        return try open(path: path, name: name)
    }

    /// Deletes a named namespace the way `ip netns delete NAME` does: detach the bind mount
    /// (umount2 MNT_DETACH) and remove the file. The namespace itself goes away when nothing
    /// else holds it (processes, open fds, sockets opened in it).
    public static func delete(_ name: String) throws {
        try validate(name)
        let path = runDirectory + "/" + name
        guard access(path, F_OK) == 0 else {
            throw NetlinkError(.notFound, operation: "delete namespace", subject: name, errno: ENOENT,
                               message: "network namespace '\(name)' does not exist")
        }
        let u = nb_netns_unmount(path)
        // EINVAL: not a mount point (a half-created namespace); removing the file is still right.
        if u != 0 && u != -EINVAL {
            throw NetlinkError.system("umount2", subject: path, errno: u)
        }
        guard unlink(path) == 0 else {
            throw NetlinkError.system("unlink", subject: path, errno: errno)
        }
    }

    /// Creates a namespace named PREFIX-PID-RANDOM, runs `body` with its name, and deletes it
    /// afterwards whether `body` returned or threw. Links inside it vanish with it.
    public static func withTemporary<T>(prefix: String = "netbpf", _ body: (String) throws -> T) throws -> T {
        let name = "\(prefix)-\(getpid())-\(UInt32.random(in: 0...0xFFFFF))"
        _ = try create(name)
        defer { try? delete(name) }
        return try body(name)
    }

    /// Whether `name` can name a namespace under /run/netns (not empty, ".", ".." or with '/').
    public static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name != "." && name != ".." && !name.contains("/") && name.utf8.count < 256
    }

    private static func validate(_ name: String) throws {
        guard isValidName(name) else {
            throw NetlinkError(.invalidArgument, operation: "namespace", subject: name,
                               message: "invalid namespace name (empty, '.', '..', contains '/' or too long)")
        }
    }

    // MARK: - Running inside

    /// Runs `body` on a dedicated thread that entered this namespace (setns CLONE_NEWNET), waits
    /// for it, and returns its result or rethrows its error. The caller's thread never changes
    /// namespace. Blocks the caller (don't call it from a latency-sensitive actor).
    /// `T` need not be `Sendable`: the result is `sending`, a value the closure made and handed
    /// over whole, so the compiler checks the hand-off from the namespace's thread.
    public func run<T>(_ body: @Sendable () throws -> sending T) throws -> sending T {
        try withoutActuallyEscaping(body) { escapable in
            let fd = self.fd
            let ns = displayName
            let outcome = Self.onFreshThread { () -> sending Result<T, Error> in
                let err = nb_setns_net(fd)
                guard err == 0 else {
                    return .failure(NetlinkError.system("setns(CLONE_NEWNET)", subject: ns, errno: err))
                }
                return Result { try escapable() }
            }
            guard let outcome else {
                throw NetlinkError(.system, operation: "setns(CLONE_NEWNET)", subject: ns,
                                   message: "the namespace thread did not run")
            }
            return try outcome.get()
        }
    }

    /// Runs `work` on a new thread and waits for it: namespace changes die with the thread. The
    /// result crosses back through a mutex; nil only if the thread never ran `work`. The thread
    /// takes `work` out of `pending` and drops it before it signals, so once the caller resumes
    /// nothing but the caller holds the closure (what `withoutActuallyEscaping` checks).
    private static func onFreshThread<R>(_ work: @escaping @Sendable () -> sending R) -> sending R? {
        let pending = Mutex<(@Sendable () -> sending R)?>(work)
        let result = Mutex<R?>(nil)
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            do {
                if let work = pending.withLock({ $0.take() }) {
                    result.withLock { $0 = work() }
                }
            }
            done.signal()
        }
        thread.stackSize = 1 << 20
        thread.start()
        done.wait()
        return result.withLock { $0.take() }
    }
}

/// Runs `body` on a dedicated thread inside the named namespace (/run/netns/NAME).
/// See `NetworkNamespace.run`.
public func withNamespace<T>(_ name: String, _ body: @Sendable () throws -> sending T) throws -> sending T {
    try NetworkNamespace.open(name).run(body)
}

extension NetworkNamespace {
    /// Two temporary namespaces joined by a veth pair, for tools and tests that need a link to
    /// send traffic over: "va" in the first (with `addresses.0`) and "vb" in the second (with
    /// `addresses.1`), both up. `body` gets the two names; both namespaces (and so the pair)
    /// are deleted afterwards, whether it returned or threw. RTM_NEWLINK (veth), RTM_NEWADDR.
    public static func withTemporaryPair<T>(prefix: String = "netbpf", addresses: (String, String) = ("10.99.0.1/24", "10.99.0.2/24"),
                                            _ body: (_ first: String, _ second: String) throws -> T) throws -> T {
        guard let left = IPPrefix(addresses.0), let right = IPPrefix(addresses.1) else {
            throw NetlinkError(.invalidArgument, operation: "veth pair", subject: "\(addresses.0) \(addresses.1)", message: "not an address/prefix")
        }
        return try withTemporary(prefix: prefix + "a") { a in
            try withTemporary(prefix: prefix + "b") { b in
                let first = try NetlinkSocket(namespace: a), second = try NetlinkSocket(namespace: b)
                _ = try first.createVeth("va", peer: "vb", peerNamespace: try open(b))
                try first.addAddress(left, to: .name("va"))
                try second.addAddress(right, to: .name("vb"))
                try first.setLinkUp(.name("va"))
                try second.setLinkUp(.name("vb"))
                return try body(a, b)
            }
        }
    }
}
