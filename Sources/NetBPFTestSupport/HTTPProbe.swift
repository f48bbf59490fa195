import Foundation
import Glibc

/// A raw HTTP client on a POSIX socket for tests of netbpf's HTTP endpoints: well-formed GETs,
/// garbage, half requests, and streams read partly and then dropped.
public enum HTTPProbe {
    public struct Response: Sendable {
        public var status: Int
        public var headers: [String: String]
        public var body: Data
        public var text: String { String(decoding: body, as: UTF8.self) }
    }

    public struct ProbeError: Error, CustomStringConvertible {
        public let description: String
        public init(_ d: String) { description = d }
    }

    /// A connected TCP socket to 127.0.0.1:`port` with `timeout` on reads and writes.
    public static func connect(port: UInt16, timeout: Double = 5) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ProbeError("socket: \(errno)") }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - Double(Int(timeout))) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_port = port.bigEndian
        a.sin_addr.s_addr = UInt32(0x7f000001).bigEndian
        let rc = withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard rc == 0 else { let e = errno; close(fd); throw ProbeError("connect 127.0.0.1:\(port): errno \(e)") }
        return fd
    }

    public static func send(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + off, bytes.count - off, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return false }
            off += n
        }
        return true
    }

    /// Reads until the peer closes, `limit` bytes, or the timeout.
    public static func readAll(_ fd: Int32, limit: Int = 64 << 20) -> Data {
        var out = Data()
        var buf = [UInt8](repeating: 0, count: 65536)
        while out.count < limit {
            let n = recv(fd, &buf, buf.count, 0)
            if n <= 0 { break }
            out.append(contentsOf: buf[0..<n])
        }
        return out
    }

    /// Sends `raw` and returns the parsed response (the server closes each connection).
    public static func exchange(port: UInt16, raw: [UInt8], timeout: Double = 10) throws -> Response {
        let fd = try connect(port: port, timeout: timeout)
        defer { close(fd) }
        _ = send(fd, raw)
        return try parse(readAll(fd))
    }

    public static func get(port: UInt16, _ path: String, method: String = "GET", timeout: Double = 10) throws -> Response {
        try exchange(port: port, raw: Array("\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: netbpf-test\r\nConnection: close\r\n\r\n".utf8), timeout: timeout)
    }

    public static func parse(_ data: Data) throws -> Response {
        let bytes = [UInt8](data)
        guard let end = (0..<max(bytes.count - 3, 0)).first(where: { bytes[$0] == 13 && bytes[$0 + 1] == 10 && bytes[$0 + 2] == 13 && bytes[$0 + 3] == 10 }) else {
            throw ProbeError("no HTTP response head in \(bytes.count) bytes: \(String(decoding: bytes.prefix(200), as: UTF8.self))")
        }
        let head = String(decoding: bytes[0..<end], as: UTF8.self).components(separatedBy: "\r\n")
        let parts = head[0].split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]) else { throw ProbeError("bad status line '\(head[0])'") }
        var headers: [String: String] = [:]
        for line in head.dropFirst() {
            guard let c = line.firstIndex(of: ":") else { continue }
            headers[line[..<c].lowercased()] = line[line.index(after: c)...].trimmingCharacters(in: .whitespaces)
        }
        return Response(status: status, headers: headers, body: Data(bytes[(end + 4)...]))
    }

    /// A free TCP port on 127.0.0.1 (bound to port 0, read back, released).
    public static func freePort() throws -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_addr.s_addr = UInt32(0x7f000001).bigEndian
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &a) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        guard ok else { throw ProbeError("no free port: errno \(errno)") }
        return UInt16(bigEndian: a.sin_port)
    }
}
