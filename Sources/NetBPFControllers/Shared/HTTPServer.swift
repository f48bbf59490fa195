import Foundation
import Glibc

/// A small HTTP/1.1 server on a POSIX socket for the monitor's page, JSON, server-sent events
/// and /metrics. One thread accepts; each connection gets its own thread (at most
/// `maxConnections`, the rest get 503). Every response closes its connection. Clients that send
/// garbage get 400, that send nothing time out (5 s), that disconnect mid-stream end only their
/// own thread (writes use MSG_NOSIGNAL: no SIGPIPE). `stop()` closes the listener, shuts every
/// client socket and waits for the threads.
public final class HTTPServer: @unchecked Sendable {
    public struct Request: Sendable {
        public var method: String
        public var path: String
        public var query: String
        public var headers: [String: String]
    }

    /// A response: a whole body, or a stream written until the client leaves or the server stops.
    public enum Response {
        case body(status: Int, contentType: String, Data)
        case stream(contentType: String, (StreamWriter) -> Void)
    }

    /// What a streaming handler writes with.
    public final class StreamWriter: @unchecked Sendable {
        let fd: Int32
        let server: HTTPServer
        init(fd: Int32, server: HTTPServer) { self.fd = fd; self.server = server }
        /// false once the client is gone or the server stops: the handler must return.
        public func write(_ data: Data) -> Bool { !server.isStopping && HTTPServer.sendAll(fd, data) }
        public var isStopping: Bool { server.isStopping }
    }

    public let host: String
    public private(set) var port: UInt16 = 0
    public let maxConnections: Int
    private let handler: @Sendable (Request) -> Response
    private var listenFD: Int32 = -1
    private var wakePipe: [Int32] = [-1, -1]
    private let lock = NSCondition()
    private var clients: Set<Int32> = []
    private var active = 0
    private var stopping = false
    private var acceptDone = DispatchSemaphore(value: 0)
    private var started = false
    /// Counters for tests and logs.
    public private(set) var requests = 0
    public private(set) var badRequests = 0
    public private(set) var rejected = 0

    static let readTimeoutSeconds = 5
    static let maxHeaderBytes = 16 * 1024

    /// Binds `listen` ("ADDR:PORT", "[V6ADDR]:PORT" or ":PORT" for every IPv4 address; port 0
    /// picks a free one, see `port`).
    public init(listen: String, maxConnections: Int = 64, handler: @escaping @Sendable (Request) -> Response) throws {
        self.maxConnections = maxConnections
        self.handler = handler
        let (host, port) = try Self.parseListen(listen)
        self.host = host
        try bind(host: host, port: port)
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

    private func bind(host: String, port: UInt16) throws {
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
        self.port = withUnsafeBytes(of: storage) { UInt16(bigEndian: $0.load(fromByteOffset: 2, as: UInt16.self)) }
        listenFD = fd
        guard pipe(&wakePipe) == 0 else {
            close(fd)
            throw ControllerError("pipe: \(String(cString: strerror(errno)))")
        }
        for p in wakePipe { _ = fcntl(p, F_SETFD, FD_CLOEXEC) }
    }

    /// "http://HOST:PORT" (brackets for IPv6).
    public var url: String { host.contains(":") ? "http://[\(host)]:\(port)" : "http://\(host):\(port)" }

    var isStopping: Bool {
        lock.lock(); defer { lock.unlock() }
        return stopping
    }

    /// Starts accepting on a thread of its own.
    public func start() {
        lock.lock()
        guard !started, listenFD >= 0 else { lock.unlock(); return }
        started = true
        lock.unlock()
        let t = Thread { [self] in acceptLoop(); acceptDone.signal() }
        t.name = "netbpf-http-accept"
        t.start()
    }

    /// Stops accepting, disconnects every client and waits (up to 5 s) for their threads.
    public func stop() {
        lock.lock()
        if stopping { lock.unlock(); return }
        stopping = true
        let wasStarted = started
        lock.unlock()
        if wakePipe[1] >= 0 { var b: UInt8 = 1; _ = Glibc.write(wakePipe[1], &b, 1) }
        if wasStarted { acceptDone.wait() }
        lock.lock()
        for fd in clients { shutdown(fd, Int32(SHUT_RDWR)) }
        lock.broadcast()
        let deadline = Date().addingTimeInterval(5)
        while active > 0 && lock.wait(until: deadline) {}
        lock.unlock()
        if listenFD >= 0 { close(listenFD); listenFD = -1 }
        for i in 0..<2 where wakePipe[i] >= 0 { close(wakePipe[i]); wakePipe[i] = -1 }
    }

    /// Blocks a streaming handler until the server stops or `seconds` pass.
    public func pause(seconds: Double) {
        lock.lock()
        if !stopping { _ = lock.wait(until: Date().addingTimeInterval(seconds)) }
        lock.unlock()
    }

    private func acceptLoop() {
        while true {
            var fds = [pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0), pollfd(fd: wakePipe[0], events: Int16(POLLIN), revents: 0)]
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
            lock.lock()
            if active >= maxConnections || stopping {
                rejected += 1
                lock.unlock()
                Self.sendAll(fd, Self.head(status: 503, contentType: "text/plain", length: 12) + Data("server busy\n".utf8))
                close(fd)
                continue
            }
            active += 1
            clients.insert(fd)
            lock.unlock()
            let t = Thread { [self] in
                serve(fd)
                lock.lock()
                clients.remove(fd)
                active -= 1
                lock.broadcast()
                lock.unlock()
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
        data.withUnsafeBytes { raw -> Bool in
            var off = 0
            while off < raw.count {
                let n = send(fd, raw.baseAddress! + off, raw.count - off, Int32(MSG_NOSIGNAL))
                if n < 0 { if errno == EINTR { continue }; return false }
                if n == 0 { return false }
                off += n
            }
            return true
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
        lock.lock(); requests += 1; lock.unlock()
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
        lock.lock(); badRequests += 1; lock.unlock()
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
