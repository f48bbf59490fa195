import Foundation
import Glibc
import NetBPF
import Synchronization

/// A small HTTP/1.1 server on a POSIX socket for the monitor's page, JSON, server-sent events
/// and /metrics. One thread accepts; each connection gets its own thread (at most
/// `maxConnections`, the rest get 503). Every response closes its connection. Clients that send
/// garbage get 400, that send nothing time out (5 s), that disconnect mid-stream end only their
/// own thread (writes use MSG_NOSIGNAL: no SIGPIPE). `stop()` closes the listener, shuts every
/// client socket and waits for the threads.
///
/// Sendable: the listener, the clients and the counters sit behind a `Mutex`; waiting (for the
/// client threads in `stop()`, in `pause(seconds:)`) polls it.
package final class HTTPServer: Sendable {
    /// A parsed request head.
    package struct Request: Sendable {
        /// "GET" or "HEAD" (others get 405 before the handler runs).
        package var method: String
        /// The target without its query.
        package var path: String
        /// What followed "?" in the target ("" without one).
        package var query: String
        /// Header names lower-cased.
        package var headers: [String: String]
    }

    /// A response: a whole body, or a stream written until the client leaves or the server stops.
    package enum Response {
        case body(status: Int, contentType: String, Data)
        case stream(contentType: String, (StreamWriter) -> Void)
    }

    /// What a streaming handler writes with.
    package final class StreamWriter: Sendable {
        let fd: Int32
        let server: HTTPServer
        init(fd: Int32, server: HTTPServer) { self.fd = fd; self.server = server }
        /// false once the client is gone or the server stops: the handler must return.
        package func write(_ data: Data) -> Bool { !server.isStopping && HTTPServer.sendAll(fd, data) }
        /// True once `stop()` began.
        package var isStopping: Bool { server.isStopping }
    }

    /// The address listened on.
    package let host: String
    /// The port listened on (the one the kernel picked for port 0).
    package let port: UInt16
    /// Connections served at once; more get 503.
    package let maxConnections: Int
    private let handler: @Sendable (Request) -> Response
    private struct State {
        var listenFD: Int32
        var wakePipe: [Int32]
        var clients: Set<Int32> = []
        var active = 0
        var stopping = false
        var started = false
        var requests = 0
        var badRequests = 0
        var rejected = 0
    }
    private let state: Mutex<State>
    private let acceptDone = DispatchSemaphore(value: 0)
    /// Requests handed to the handler (for tests and logs).
    package var requests: Int { state.withLock { $0.requests } }
    /// Requests answered 400, 408 or 431.
    package var badRequests: Int { state.withLock { $0.badRequests } }
    /// Connections turned away with 503.
    package var rejected: Int { state.withLock { $0.rejected } }

    static let readTimeoutSeconds = 5
    static let maxHeaderBytes = 16 * 1024

    /// Binds `listen` ("ADDR:PORT", "[V6ADDR]:PORT" or ":PORT" for every IPv4 address; port 0
    /// picks a free one, see `port`).
    package init(listen: String, maxConnections: Int = 64, handler: @escaping @Sendable (Request) -> Response) throws {
        self.maxConnections = maxConnections
        self.handler = handler
        let (host, port) = try Self.parseListen(listen)
        self.host = host
        let bound = try Self.bind(host: host, port: port)
        self.port = bound.port
        state = Mutex(State(listenFD: bound.fd, wakePipe: bound.wakePipe))
    }

    deinit { stop() }

    static func parseListen(_ s: String) throws -> (String, UInt16) {
        func bad() -> ControllerError {
            ControllerError("'\(s)' is not ADDRESS:PORT", hint: "e.g. 127.0.0.1:8080, 0.0.0.0:8080, [::1]:8080 or :8080")
        }
        var host: String, portText: Substring
        if s.hasPrefix("[") {
            guard let close = s.firstIndex(of: "]"), s[s.index(after: close)...].hasPrefix(":") else { throw bad() }
            host = String(s[s.index(after: s.startIndex)..<close])
            portText = s[s.index(close, offsetBy: 2)...]
        } else {
            guard let colon = s.lastIndex(of: ":") else { throw bad() }
            host = String(s[..<colon])
            portText = s[s.index(after: colon)...]
            if host.contains(":") { throw bad() }
        }
        if host.isEmpty { host = "0.0.0.0" }
        guard let port = UInt16(portText), TunnelAddress.parse(host) != nil else { throw bad() }
        return (host, port)
    }

    /// A listening socket on `host`:`port`, the port it got, and the pipe that wakes the accept loop.
    private static func bind(host: String, port: UInt16) throws -> (fd: Int32, port: UInt16, wakePipe: [Int32]) {
        let v6 = host.contains(":")
        let fd = socket(v6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw ControllerError("socket: \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var rc: Int32
        if v6 {
            var a = sockaddr_in6()
            a.sin6_family = sa_family_t(AF_INET6)
            a.sin6_port = port.bigEndian
            _ = inet_pton(AF_INET6, host, &a.sin6_addr)
            rc = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) } }
        } else {
            var a = sockaddr_in()
            a.sin_family = sa_family_t(AF_INET)
            a.sin_port = port.bigEndian
            _ = inet_pton(AF_INET, host, &a.sin_addr)
            rc = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        }
        if rc != 0 || listen(fd, 64) != 0 {
            let e = errno
            close(fd)
            throw ControllerError("cannot listen on \(host):\(port): \(String(cString: strerror(e)))",
                                     hint: e == EADDRINUSE ? "another program uses the port; choose another" : nil)
        }
        var storage = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        let boundPort = withUnsafeBytes(of: storage) { UInt16(bigEndian: $0.load(fromByteOffset: 2, as: UInt16.self)) }
        var wakePipe: [Int32] = [-1, -1]
        guard pipe(&wakePipe) == 0 else {
            close(fd)
            throw ControllerError("pipe: \(String(cString: strerror(errno)))")
        }
        for p in wakePipe { _ = fcntl(p, F_SETFD, FD_CLOEXEC) }
        return (fd, boundPort, wakePipe)
    }

    /// "http://HOST:PORT" (brackets for IPv6).
    package var url: String { host.contains(":") ? "http://[\(host)]:\(port)" : "http://\(host):\(port)" }

    var isStopping: Bool { state.withLock { $0.stopping } }

    /// Starts accepting on a thread of its own.
    package func start() {
        let starts = state.withLock { state in
            guard !state.started, state.listenFD >= 0 else { return false }
            state.started = true
            return true
        }
        guard starts else { return }
        let t = Thread { [self] in acceptLoop(); acceptDone.signal() }
        t.name = "netbpf-http-accept"
        t.start()
    }

    /// Stops accepting, disconnects every client and waits (up to 5 s) for their threads.
    package func stop() {
        let (alreadyStopping, wasStarted, wake) = state.withLock { state in
            defer { state.stopping = true }
            return (state.stopping, state.started, state.wakePipe[1])
        }
        if alreadyStopping { return }
        if wake >= 0 { var b: UInt8 = 1; _ = Glibc.write(wake, &b, 1) }
        if wasStarted { acceptDone.wait() }
        state.withLock { state in
            for fd in state.clients { shutdown(fd, Int32(SHUT_RDWR)) }
        }
        let deadline = Date().addingTimeInterval(5)
        while state.withLock({ $0.active > 0 }) && Date() < deadline { usleep(5_000) }
        state.withLock { state in
            if state.listenFD >= 0 { close(state.listenFD); state.listenFD = -1 }
            for i in 0..<2 where state.wakePipe[i] >= 0 { close(state.wakePipe[i]); state.wakePipe[i] = -1 }
        }
    }

    /// Blocks a streaming handler until the server stops or `seconds` pass (checked every 20 ms).
    package func pause(seconds: Double) {
        let deadline = Date().addingTimeInterval(seconds)
        while !isStopping && Date() < deadline { usleep(UInt32(min(20_000, max(0, deadline.timeIntervalSinceNow) * 1e6))) }
    }

    private func acceptLoop() {
        // Both stay open until stop() has seen this loop end (acceptDone).
        let (listenFD, wakeFD) = state.withLock { ($0.listenFD, $0.wakePipe[0]) }
        while true {
            var fds = [pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0), pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0)]
            let n = poll(&fds, 2, -1)
            if n < 0 { if errno == EINTR { continue }; return }
            if fds[1].revents != 0 || isStopping { return }
            guard fds[0].revents & Int16(POLLIN) != 0 else { continue }
            let fd = accept(listenFD, nil, nil)
            if fd >= 0 { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
            if fd < 0 {
                if errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM { usleep(50_000) }
                continue
            }
            let admitted = state.withLock { state in
                if state.active >= maxConnections || state.stopping {
                    state.rejected += 1
                    return false
                }
                state.active += 1
                state.clients.insert(fd)
                return true
            }
            if !admitted {
                Self.sendAll(fd, Self.head(status: 503, contentType: "text/plain", length: 12) + Data("server busy\n".utf8))
                close(fd)
                continue
            }
            let t = Thread { [self] in
                serve(fd)
                state.withLock { state in
                    state.clients.remove(fd)
                    state.active -= 1
                }
                close(fd)
            }
            t.name = "netbpf-http-client"
            t.start()
        }
    }

    static let reasons: [Int: String] = [200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
                                         408: "Request Timeout", 431: "Request Header Fields Too Large", 500: "Internal Server Error",
                                         503: "Service Unavailable"]

    static func head(status: Int, contentType: String, length: Int?, extra: [String] = []) -> Data {
        var h = "HTTP/1.1 \(status) \(reasons[status] ?? "Status")\r\nContent-Type: \(contentType)\r\n"
        if let length { h += "Content-Length: \(length)\r\n" }
        h += "Cache-Control: no-store\r\nConnection: close\r\n"
        for e in extra { h += e + "\r\n" }
        return Data((h + "\r\n").utf8)
    }

    @discardableResult
    static func sendAll(_ fd: Int32, _ data: Data) -> Bool {
        data.withUnsafeBytes { raw in
            (try? SystemCall.writeAll(raw) { send(fd, $0, $1, Int32(MSG_NOSIGNAL)) }) != nil
        }
    }

    private func serve(_ fd: Int32) {
        var tv = timeval(tv_sec: Self.readTimeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var buffer = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 4096)
        var headEnd: Int?
        while headEnd == nil {
            let n = recv(fd, &chunk, chunk.count, 0)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 {
                if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && !buffer.isEmpty {
                    fail(fd, 408, "request not complete in \(Self.readTimeoutSeconds) s")
                }
                return // gone, or idle
            }
            buffer.append(contentsOf: chunk[0..<n])
            headEnd = Self.findHeadEnd(buffer)
            if headEnd == nil && buffer.count > Self.maxHeaderBytes { fail(fd, 431, "request head over \(Self.maxHeaderBytes) bytes"); return }
        }
        guard let request = Self.parse(Array(buffer[0..<headEnd!])) else { fail(fd, 400, "malformed HTTP request"); return }
        state.withLock { $0.requests += 1 }
        guard request.method == "GET" || request.method == "HEAD" else {
            let body = Data("method \(request.method) not allowed\n".utf8)
            Self.sendAll(fd, Self.head(status: 405, contentType: "text/plain; charset=utf-8", length: body.count, extra: ["Allow: GET, HEAD"]) + body)
            return
        }
        switch handler(request) {
        case .body(let status, let type, let body):
            Self.sendAll(fd, Self.head(status: status, contentType: type, length: body.count) + (request.method == "HEAD" ? Data() : body))
        case .stream(let type, let body):
            guard Self.sendAll(fd, Self.head(status: 200, contentType: type, length: nil, extra: ["X-Accel-Buffering: no"])) else { return }
            if request.method == "HEAD" { return }
            body(StreamWriter(fd: fd, server: self))
        }
    }

    private func fail(_ fd: Int32, _ status: Int, _ message: String) {
        state.withLock { $0.badRequests += 1 }
        let body = Data((message + "\n").utf8)
        Self.sendAll(fd, Self.head(status: status, contentType: "text/plain; charset=utf-8", length: body.count) + body)
    }

    static func findHeadEnd(_ b: [UInt8]) -> Int? {
        guard b.count >= 4 else { return nil }
        for i in 0...(b.count - 4) where b[i] == 13 && b[i + 1] == 10 && b[i + 2] == 13 && b[i + 3] == 10 { return i }
        // Tolerate bare LF line ends (curl never sends them, hand-typed requests do).
        for i in 0...(b.count - 2) where b[i] == 10 && b[i + 1] == 10 { return i }
        return nil
    }

    /// The request line and headers; nil for anything that is not HTTP/1.x.
    static func parse(_ head: [UInt8]) -> Request? {
        guard let text = String(bytes: head, encoding: .utf8) else { return nil }
        let lines = text.replacingOccurrences(of: "\r\n", with: "\n").split(separator: "\n", omittingEmptySubsequences: false)
        guard let first = lines.first else { return nil }
        let parts = first.split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[0].isEmpty, parts[0].allSatisfy({ $0.isASCII && $0.isUppercase }),
              parts[1].hasPrefix("/"), parts[2] == "HTTP/1.1" || parts[2] == "HTTP/1.0" else { return nil }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() where !line.isEmpty {
            guard let colon = line.firstIndex(of: ":"), colon != line.startIndex else { return nil }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let target = parts[1]
        let q = target.firstIndex(of: "?")
        return Request(method: String(parts[0]), path: String(q.map { target[..<$0] } ?? target),
                       query: q.map { String(target[target.index(after: $0)...]) } ?? "", headers: headers)
    }
}
