/// HTTP/1.x start lines and the few headers the filter needs, parsed from raw bytes. Strict
/// where it decides whether something is HTTP at all (method, target form, version), lenient
/// where real servers are (bare LF line ends, any reason phrase). Reads only inside the bytes
/// given and bounds every scan; any input gives a value or nil, never a trap.
package enum HTTPMessageParser {
    /// The methods the socket filter keeps, as ASCII.
    package static let methods: [String] = ["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "CONNECT", "TRACE"]
    static let methodBytes: [[UInt8]] = methods.map { Array($0.utf8) }
    static let responsePrefix: [UInt8] = Array("HTTP/1.".utf8)

    /// The method when `b[from...]` starts with one of `methods` and a space.
    package static func requestMethod(_ b: [UInt8], from: Int = 0) -> String? {
        for (i, m) in methodBytes.enumerated() where hasPrefix(b, from, m) && from + m.count < b.count && b[from + m.count] == 0x20 {
            return methods[i]
        }
        return nil
    }

    /// True when `b[from...]` starts with "HTTP/1.".
    package static func startsResponse(_ b: [UInt8], from: Int = 0) -> Bool { hasPrefix(b, from, responsePrefix) }

    /// True when `b[from...]` starts a request or a response.
    package static func startsMessage(_ b: [UInt8], from: Int = 0) -> Bool {
        startsResponse(b, from: from) || requestMethod(b, from: from) != nil
    }

    static func hasPrefix(_ b: [UInt8], _ from: Int, _ p: [UInt8]) -> Bool {
        guard from >= 0, from + p.count <= b.count else { return false }
        for i in 0..<p.count where b[from + i] != p[i] { return false }
        return true
    }

    /// The index of the first LF in `b[from..<min(b.count, from + limit)]`.
    package static func lineFeed(in b: [UInt8], from: Int, limit: Int = Int.max) -> Int? {
        guard from >= 0, from < b.count else { return nil }
        let end = limit >= b.count - from ? b.count : from + limit
        var i = from
        while i < end {
            if b[i] == 0x0a { return i }
            i += 1
        }
        return nil
    }

    /// `b[start..<lf]` without a trailing CR.
    static func lineRange(_ b: [UInt8], _ start: Int, _ lf: Int) -> Range<Int> {
        lf > start && b[lf - 1] == 0x0d ? start..<(lf - 1) : start..<lf
    }

    package struct RequestLine: Sendable, Equatable {
        package var method: String
        package var target: String
        package var version: String
    }

    /// Parses "METHOD SP target SP HTTP/1.d" (the line end already removed). The target must
    /// be origin-form ("/..."), "*", absolute-form ("http://...", "https://...") or, for
    /// CONNECT, authority-form, and contain no spaces or control bytes.
    package static func parseRequestLine(_ b: [UInt8], _ range: Range<Int>) -> RequestLine? {
        guard range.lowerBound >= 0, range.upperBound <= b.count, let method = requestMethod(b, from: range.lowerBound) else { return nil }
        let targetStart = range.lowerBound + method.utf8.count + 1
        guard targetStart <= range.upperBound else { return nil }
        var i = targetStart
        while i < range.upperBound && b[i] != 0x20 {
            if b[i] < 0x21 || b[i] == 0x7f { return nil }
            i += 1
        }
        let targetEnd = i
        guard targetEnd > targetStart, targetEnd < range.upperBound else { return nil }
        let versionStart = targetEnd + 1
        guard range.upperBound - versionStart == 8, hasPrefix(b, versionStart, responsePrefix),
              (0x30...0x39).contains(b[versionStart + 7]) else { return nil }
        let target = Array(b[targetStart..<targetEnd])
        let lower = target.prefix(8).map { $0 | 0x20 }
        let valid = target[0] == 0x2f || target == [0x2a]
            || hasPrefix(lower, 0, Array("http://".utf8)) || hasPrefix(lower, 0, Array("https://".utf8))
            || method == "CONNECT"
        guard valid else { return nil }
        return RequestLine(method: method, target: text(target[...]), version: text(b[versionStart..<range.upperBound]))
    }

    package struct StatusLine: Sendable, Equatable {
        package var version: String
        package var status: Int
        package var reason: String
    }

    /// Parses "HTTP/1.d SP 3DIGIT [SP reason]" (the line end already removed).
    package static func parseStatusLine(_ b: [UInt8], _ range: Range<Int>) -> StatusLine? {
        let s = range.lowerBound
        guard s >= 0, range.upperBound <= b.count, range.count >= 12, hasPrefix(b, s, responsePrefix),
              (0x30...0x39).contains(b[s + 7]), b[s + 8] == 0x20 else { return nil }
        var status = 0
        for i in (s + 9)..<(s + 12) {
            guard (0x30...0x39).contains(b[i]) else { return nil }
            status = status * 10 + Int(b[i] - 0x30)
        }
        guard (100...599).contains(status) else { return nil }
        var reason = ""
        if range.count > 12 {
            guard b[s + 12] == 0x20 else { return nil }
            let r = b[(s + 13)..<range.upperBound]
            // Control bytes other than tab have no place in a reason phrase.
            if r.contains(where: { ($0 < 0x20 && $0 != 0x09) || $0 == 0x7f }) { return nil }
            reason = text(r)
        }
        return StatusLine(version: text(b[s..<(s + 8)]), status: status, reason: reason)
    }

    package struct Headers: Sendable, Equatable {
        /// The first Host header's value, trimmed.
        package var host: String?
        package var contentLength: Int?
        package var chunked = false
        /// The blank line that ends the header block was seen.
        package var complete = false
        /// The index after the blank line (when complete).
        package var end = 0
        /// A header line without a colon or with a bad Content-Length was met (parsing stopped).
        package var malformed = false
    }

    /// Header lines starting at `from`, up to the blank line or the end of the bytes given (an
    /// unfinished last line is not looked at). At most `limit` bytes are scanned.
    package static func parseHeaders(_ b: [UInt8], from: Int, limit: Int = 65_536) -> Headers {
        var h = Headers()
        var start = from
        let end = limit >= b.count - max(from, 0) ? b.count : from + limit
        while start >= 0, start < end, let lf = lineFeed(in: b, from: start, limit: end - start) {
            let line = lineRange(b, start, lf)
            start = lf + 1
            if line.isEmpty {
                h.complete = true
                h.end = start
                return h
            }
            guard let colon = b[line].firstIndex(of: 0x3a), colon > line.lowerBound else {
                h.malformed = true
                return h
            }
            let name = b[line.lowerBound..<colon].map { $0 | 0x20 }
            var v = colon + 1
            var w = line.upperBound
            while v < w && (b[v] == 0x20 || b[v] == 0x09) { v += 1 }
            while w > v && (b[w - 1] == 0x20 || b[w - 1] == 0x09) { w -= 1 }
            let value = b[v..<w]
            switch name {
            case Array("host".utf8):
                if h.host == nil { h.host = text(value) }
            case Array("content-length".utf8):
                guard !value.isEmpty, value.count <= 15, value.allSatisfy({ (0x30...0x39).contains($0) }) else {
                    h.malformed = true
                    return h
                }
                h.contentLength = value.reduce(0) { $0 * 10 + Int($1 - 0x30) }
            case Array("transfer-encoding".utf8):
                if text(value).lowercased().contains("chunked") { h.chunked = true }
            default:
                break
            }
        }
        return h
    }

    /// Bytes as text for one line of output: printable ASCII as is, everything else (control
    /// bytes, bytes over 0x7e, a backslash) as \xNN, so nothing a client sends can break the
    /// line or drive the terminal.
    package static func text(_ bytes: ArraySlice<UInt8>) -> String {
        var out = ""
        out.reserveCapacity(bytes.count)
        for c in bytes {
            if c >= 0x20 && c < 0x7f && c != 0x5c {
                out.unicodeScalars.append(Unicode.Scalar(c))
            } else {
                let hex = String(c, radix: 16)
                out += "\\x" + (hex.count == 1 ? "0" + hex : hex)
            }
        }
        return out
    }
}
