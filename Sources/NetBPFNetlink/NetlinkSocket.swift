internal import CMnl
import Foundation
import Glibc
import Synchronization

/// An rtnetlink socket (NETLINK_ROUTE, via mnl_socket_open2/mnl_socket_bind) that sends one request
/// at a time and collects its whole reply: request + ACK (NLM_F_ACK) or a multi-part dump
/// (NLM_F_DUMP, retried when the kernel flags it NLM_F_DUMP_INTR). Errors carry the kernel's
/// extended-ACK text (NETLINK_EXT_ACK, kernel 4.12); NETLINK_CAP_ACK (4.2) keeps error replies
/// small. A socket belongs to the network namespace it was opened in, for its whole life:
/// `NetlinkSocket(namespace: "ns1")` opens it on a thread inside ns1 and every request made
/// through it acts there, from whatever thread it is later used on.
///
/// The link, address, route, tc and XDP operations are extensions in their own files. Each
/// throws `NetlinkError` named after its message ("RTM_NEWQDISC") with the kernel's errno and
/// extack text; a missing interface is `.notFound` naming the interface and the namespace.
/// Thread-safe: one request runs at a time (the socket, its sequence counter and its receive
/// buffer live behind one mutex). Closes its socket exactly once, when the last reference goes.
public final class NetlinkSocket: Sendable {
    /// What a request uses, one request at a time. Noncopyable, so the socket is closed and the
    /// buffer freed exactly once, when the mutex holding it goes away.
    private struct Connection: ~Copyable, Sendable {
        /// libmnl's socket and the receive buffer. `@unchecked Sendable` only because C pointers
        /// are not: both are immutable and used only under the mutex that holds the connection.
        struct Pointers: @unchecked Sendable {
            let nl: OpaquePointer
            let receiveBuffer: UnsafeMutableRawPointer
        }
        let pointers: Pointers
        var nl: OpaquePointer { pointers.nl }
        var receiveBuffer: UnsafeMutableRawPointer { pointers.receiveBuffer }
        var nextSequence: UInt32

        deinit {
            mnl_socket_close(nl)
            receiveBuffer.deallocate()
        }
    }

    private let connection: Mutex<Connection>
    /// The port id the kernel assigned at bind (MNL_SOCKET_AUTOPID).
    package let portID: UInt32
    /// The namespace this socket acts in: its name, or its path, or nil for the namespace of the
    /// thread that opened it (usually the process's own).
    public let namespaceName: String?
    private static let receiveBufferSize = 65536
    /// How many times a dump is restarted when the kernel reports NLM_F_DUMP_INTR.
    package static let dumpAttempts = 5

    /// Opens a socket in the calling thread's network namespace.
    /// - Throws: `NetlinkError` (operation "mnl_socket_open" / "mnl_socket_bind").
    public convenience init() throws {
        try self.init(handle: try Self.openHandle(), namespaceName: nil)
    }

    /// Opens a socket inside the named namespace (/run/netns/NAME), on a dedicated thread that
    /// setns()'d into it; the socket stays bound to that namespace.
    /// - Throws: `NetlinkError` `.notFound` if there is no such namespace.
    public convenience init(namespace name: String) throws {
        let ns = try NetworkNamespace.open(name)
        try self.init(namespace: ns)
    }

    /// Opens a socket inside `namespace` (setns on a dedicated thread). The socket holds its own
    /// reference to the namespace: closing `namespace` afterwards is fine.
    /// - Throws: `NetlinkError` from setns ("setns(CLONE_NEWNET)", `.permission` without
    ///   CAP_SYS_ADMIN) or from opening the socket.
    public convenience init(namespace: NetworkNamespace) throws {
        let handle = try namespace.run { try Self.openHandle() }
        try self.init(handle: handle, namespaceName: namespace.displayName)
    }

    private init(handle: OpaquePointer, namespaceName: String?) throws {
        portID = mnl_socket_get_portid(handle)
        self.namespaceName = namespaceName
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: Self.receiveBufferSize, alignment: 8)
        connection = Mutex(Connection(pointers: .init(nl: handle, receiveBuffer: buffer),
                                      nextSequence: UInt32(truncatingIfNeeded: time(nil))))
    }

    /// socket(AF_NETLINK, SOCK_RAW|SOCK_CLOEXEC, NETLINK_ROUTE), bind, and the socket options.
    private static func openHandle() throws -> OpaquePointer {
        guard let nl = mnl_socket_open2(NETLINK_ROUTE, Int32(SOCK_CLOEXEC.rawValue)) else {
            throw NetlinkError.system("mnl_socket_open", subject: "NETLINK_ROUTE", errno: errno)
        }
        guard mnl_socket_bind(nl, 0, pid_t(MNL_SOCKET_AUTOPID)) == 0 else {
            let e = errno
            mnl_socket_close(nl)
            throw NetlinkError.system("mnl_socket_bind", subject: "NETLINK_ROUTE", errno: e)
        }
        var one: Int32 = 1
        // Extended ACK: the kernel's error text. Cap ACK: errors do not echo our whole request.
        // Strict checking (4.20): dump requests are validated and filtered by the kernel.
        // All three are best effort: an old kernel without them still works, with less detail.
        for option in [NETLINK_EXT_ACK, NETLINK_CAP_ACK, NETLINK_GET_STRICT_CHK] {
            _ = mnl_socket_setsockopt(nl, option, &one, socklen_t(MemoryLayout<Int32>.size))
        }
        // A reply always comes; the timeout only turns a kernel bug into an error instead of a hang.
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        _ = setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVTIMEO, &timeout,
                       socklen_t(MemoryLayout<timeval>.size))
        return nl
    }

    /// "network namespace 'ns1'" or "the current network namespace", for error messages.
    package var namespaceDescription: String {
        namespaceName.map { "network namespace '\($0)'" } ?? "the current network namespace"
    }

    // MARK: - Request/reply

    /// Sends `request` with NLM_F_ACK and returns the messages that came before the ACK
    /// (e.g. RTM_NEWLINK for a RTM_GETLINK, or the echo of NLM_F_ECHO).
    /// - Throws: `NetlinkError` with operation = the request's type, the errno and extack text.
    package func execute(_ request: NetlinkRequest, subject: String?) throws -> [NetlinkMessage] {
        request.flags |= UInt16(NLM_F_ACK)
        return try connection.withLock { connection in
            var collector = try exchange(&connection, request, mode: .ack, subject: subject)
            return collector.takeMessages()
        }
    }

    /// Sends `request` with NLM_F_DUMP and returns every part of the multi-part reply, restarting
    /// the dump (new sequence number) up to `dumpAttempts` times while it comes back flagged
    /// NLM_F_DUMP_INTR (or fails with EINTR).
    package func dump(_ request: NetlinkRequest, subject: String?) throws -> [NetlinkMessage] {
        request.flags |= UInt16(NLM_F_DUMP)
        let messages: [NetlinkMessage]? = try connection.withLock { connection in
            for _ in 1...Self.dumpAttempts {
                do {
                    var collector = try exchange(&connection, request, mode: .dump, subject: subject)
                    if !collector.interrupted { return collector.takeMessages() }
                } catch let error as NetlinkError where error.errno == EINTR {
                    continue
                }
            }
            return nil
        }
        if let messages { return messages }
        throw NetlinkError(.interrupted, operation: request.operation, subject: subject, errno: EINTR,
                           message: "the dump was interrupted by concurrent changes \(Self.dumpAttempts) times (NLM_F_DUMP_INTR)",
                           hint: "retry when the interfaces/filters stop changing")
    }

    /// One send and its complete reply, on the connection the caller holds locked.
    private func exchange(_ connection: inout Connection, _ request: NetlinkRequest, mode: ReplyCollector.Mode,
                          subject: String?) throws -> ReplyCollector {
        guard !request.overflowed else {
            throw NetlinkError(.invalidArgument, operation: request.operation, subject: subject, errno: EMSGSIZE,
                               message: "request larger than \(NetlinkRequest.capacity) bytes")
        }
        connection.nextSequence &+= 1
        if connection.nextSequence == 0 { connection.nextSequence = 1 }
        request.sequence = connection.nextSequence
        while mnl_socket_sendto(connection.nl, request.rawPointer, request.length) < 0 {
            let e = errno
            if e == EINTR { continue }
            throw NetlinkError.system(request.operation, subject: subject, errno: e)
        }
        var collector = ReplyCollector(mode: mode, sequence: request.sequence, portID: portID)
        while true {
            let n = mnl_socket_recvfrom(connection.nl, connection.receiveBuffer, Self.receiveBufferSize)
            if n < 0 {
                let e = errno
                if e == EINTR { continue }
                if e == EAGAIN || e == EWOULDBLOCK {
                    throw NetlinkError(.protocolError, operation: request.operation, subject: subject, errno: ETIMEDOUT,
                                       message: "no reply from the kernel within 30 s")
                }
                if e == ENOSPC {
                    throw NetlinkError(.protocolError, operation: request.operation, subject: subject, errno: EMSGSIZE,
                                       message: "reply larger than \(Self.receiveBufferSize) bytes (MSG_TRUNC)")
                }
                throw NetlinkError.system(request.operation, subject: subject, errno: e)
            }
            guard let messages = NetlinkMessage.split(UnsafeRawBufferPointer(start: connection.receiveBuffer, count: n)) else {
                throw NetlinkError(.protocolError, operation: request.operation, subject: subject, errno: EBADMSG,
                                   message: "truncated netlink message in the reply")
            }
            for m in messages {
                switch collector.consume(m) {
                case .needMore: continue
                case .done: return collector
                case .failed(let ack):
                    throw NetlinkError.system(request.operation, subject: subject, errno: ack.errno,
                                              kernelMessage: ack.message)
                }
            }
        }
    }
}

extension ReplyCollector {
    mutating func takeMessages() -> [NetlinkMessage] { messages }
}
