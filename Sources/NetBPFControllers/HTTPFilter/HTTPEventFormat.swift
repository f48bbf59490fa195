import Foundation
import Glibc

/// One line per event, for people (`text`) and for programs (`json`, one JSON object per line).
///
///     23:59:01.123456 request  10.0.0.2:41000 -> 10.0.0.1:8000 GET 10.0.0.1:8000 /a/b?q=1 HTTP/1.1
///     23:59:01.125012 response 10.0.0.2:41000 -> 10.0.0.1:8000 GET 10.0.0.1:8000 /a/b?q=1 200 OK (1.556 ms)
///     23:59:02.000100 too-long 10.0.0.2:41002 -> 10.0.0.1:8000 GET - /aaaa... (line over 8192 bytes, 9000 seen)
///
/// Missing fields print as "-" (a response whose request was not seen, a request without Host).
/// Every field is already escaped by the parser (HTTPMessageParser.text), so a line is one line.
public enum HTTPEventFormat {
    /// Local wall-clock time with microseconds: 23:59:01.123456.
    package static func clock(_ t: Double) -> String {
        var seconds = time_t(t.rounded(.down))
        var parts = tm()
        localtime_r(&seconds, &parts)
        let micros = min(999_999, Int(((t - t.rounded(.down)) * 1e6).rounded()))
        return String(format: "%02d:%02d:%02d.%06d", parts.tm_hour, parts.tm_min, parts.tm_sec, micros)
    }

    package static func latency(_ seconds: Double) -> String { String(format: "%.3f ms", seconds * 1000) }

    /// The event as one line of text (the layout above).
    public static func text(_ event: HTTPEvent) -> String {
        switch event {
        case .request(let r):
            return "\(clock(r.time)) request  \(r.connection) \(r.method) \(r.host ?? "-") \(r.path) \(r.version)" + (r.isBlocked == true ? " [blocked]" : "")
        case .response(let r):
            var line = "\(clock(r.time)) response \(r.connection) "
            if let q = r.request {
                line += "\(q.method) \(q.host ?? "-") \(q.path) "
            } else {
                line += "- - - "
            }
            line += "\(r.status)"
            if !r.reason.isEmpty { line += " \(r.reason)" }
            if let l = r.latency { line += " (\(latency(l)))" }
            return line
        case .tooLong(let t):
            return "\(clock(t.time)) too-long \(t.connection) \(t.method) - \(t.pathPrefix)... (line over \(t.limit) bytes, \(t.bytesSeen) seen)"
        }
    }

    struct Line: Encodable {
        var type: String
        var time: String
        var timestamp: Double
        var client: String
        var server: String
        var method: String?
        var host: String?
        var path: String?
        var version: String?
        var status: Int?
        var reason: String?
        var latency_ms: Double?
        var line_bytes: Int?
        var segments: Int?
        var bytes_seen: Int?
        var limit: Int?
        var blocked: Bool?
    }

    /// UTC, ISO 8601 with microseconds: 2025-11-21T23:59:01.123456Z.
    package static func isoTime(_ t: Double) -> String {
        var seconds = time_t(t.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        let micros = min(999_999, Int(((t - t.rounded(.down)) * 1e6).rounded()))
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday,
                      parts.tm_hour, parts.tm_min, parts.tm_sec, micros)
    }

    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }()

    /// One JSON object on one line.
    public static func json(_ event: HTTPEvent) -> String {
        var line: Line
        switch event {
        case .request(let r):
            line = Line(type: "request", time: isoTime(r.time), timestamp: r.time, client: r.connection.client.description,
                        server: r.connection.server.description, method: r.method, host: r.host, path: r.path, version: r.version,
                        line_bytes: r.lineBytes, segments: r.segments, blocked: r.isBlocked)
        case .response(let r):
            line = Line(type: "response", time: isoTime(r.time), timestamp: r.time, client: r.connection.client.description,
                        server: r.connection.server.description, method: r.request?.method, host: r.request?.host,
                        path: r.request?.path, version: r.version, status: r.status, reason: r.reason,
                        latency_ms: r.latency.map { ($0 * 1e6).rounded() / 1e3 })
        case .tooLong(let t):
            line = Line(type: "too_long", time: isoTime(t.time), timestamp: t.time, client: t.connection.client.description,
                        server: t.connection.server.description, method: t.method, path: t.pathPrefix, bytes_seen: t.bytesSeen, limit: t.limit)
        }
        let data = (try? encoder.encode(line)) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}
