/// One end of a TCP connection: an IPv4 (4 bytes) or IPv6 (16 bytes) address and a port.
public struct HTTPEndpoint: Hashable, Sendable, CustomStringConvertible {
    /// Network byte order, 4 or 16 bytes.
    public var address: [UInt8]
    /// The TCP port, host byte order.
    public var port: UInt16

    /// An endpoint from network-order address bytes and a port.
    public init(address: [UInt8], port: UInt16) {
        self.address = address
        self.port = port
    }

    /// "10.0.0.1" or "fd00::1" (RFC 5952: lower case, longest zero run compressed).
    public var addressText: String {
        if address.count == 4 { return address.map(String.init).joined(separator: ".") }
        guard address.count == 16 else { return address.map { String($0, radix: 16) }.joined(separator: ":") }
        let groups = stride(from: 0, to: 16, by: 2).map { UInt16(address[$0]) << 8 | UInt16(address[$0 + 1]) }
        // The longest run of two or more zero groups becomes "::".
        var bestStart = -1, bestLength = 0, i = 0
        while i < 8 {
            if groups[i] == 0 {
                var j = i
                while j < 8 && groups[j] == 0 { j += 1 }
                if j - i > bestLength && j - i >= 2 { bestStart = i; bestLength = j - i }
                i = j
            } else {
                i += 1
            }
        }
        func hex(_ range: Range<Int>) -> String { groups[range].map { String($0, radix: 16) }.joined(separator: ":") }
        if bestStart < 0 { return hex(0..<8) }
        return hex(0..<bestStart) + "::" + hex((bestStart + bestLength)..<8)
    }

    /// "10.0.0.1:8000" or "[fd00::1]:8000".
    public var description: String {
        address.count == 16 ? "[\(addressText)]:\(port)" : "\(addressText):\(port)"
    }
}

/// A TCP segment with payload, as decoded from a captured frame.
package struct TCPSegment: Sendable, Equatable {
    package var source: HTTPEndpoint
    package var destination: HTTPEndpoint
    /// The sequence number of the payload's first byte.
    package var sequence: UInt32
    /// TCP flags (FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10).
    package var flags: UInt8
    package var payload: [UInt8]
    /// The VLAN id of the first tag in the frame, if it carried one.
    package var vlan: UInt16?

    package init(source: HTTPEndpoint, destination: HTTPEndpoint, sequence: UInt32, flags: UInt8 = 0x18,
                payload: [UInt8], vlan: UInt16? = nil) {
        self.source = source
        self.destination = destination
        self.sequence = sequence
        self.flags = flags
        self.payload = payload
        self.vlan = vlan
    }
}

/// A TCP connection seen from HTTP: who sent the requests (client) and who answered (server).
public struct HTTPConnection: Hashable, Sendable, CustomStringConvertible {
    /// The end that sent the request.
    public var client: HTTPEndpoint
    /// The end that answered.
    public var server: HTTPEndpoint
    /// A connection between `client` and `server`.
    public init(client: HTTPEndpoint, server: HTTPEndpoint) {
        self.client = client
        self.server = server
    }
    /// "CLIENT -> SERVER".
    public var description: String { "\(client) -> \(server)" }
}

/// A request line that was seen whole.
public struct HTTPRequest: Sendable, Equatable {
    /// Seconds since the epoch of the segment that started it.
    public var time: Double
    /// The connection it was sent on.
    public var connection: HTTPConnection
    /// "GET", "POST", ... as sent.
    public var method: String
    /// The request target as sent (origin-form "/a/b?q=1", "*", absolute-form, authority-form).
    public var path: String
    /// "HTTP/1.1", "HTTP/1.0".
    public var version: String
    /// The Host header, when it was in the same segment (or reassembly window) as the line.
    public var host: String?
    /// Bytes of the request line without its line end.
    public var lineBytes: Int
    /// TCP segments the line arrived in (more than 1: it was reassembled).
    public var segments: Int
    /// With a blocking program attached: whether its list matches this request (it is then
    /// dropped on the interface's ingress, after the packet socket saw it). nil: no blocking.
    public var isBlocked: Bool?

    /// A request as the reassembler reports it (tests build them too).
    public init(time: Double, connection: HTTPConnection, method: String, path: String, version: String,
                host: String?, lineBytes: Int, segments: Int) {
        self.time = time
        self.connection = connection
        self.method = method
        self.path = path
        self.version = version
        self.host = host
        self.lineBytes = lineBytes
        self.segments = segments
    }
}

/// A status line, with the request it answers when that was seen.
public struct HTTPResponse: Sendable, Equatable {
    /// Seconds since the epoch of the segment that carried the status line.
    public var time: Double
    /// The connection it came on.
    public var connection: HTTPConnection
    /// "HTTP/1.1", "HTTP/1.0".
    public var version: String
    /// The status code (200, 404, ...).
    public var status: Int
    /// The reason phrase as sent (may be empty).
    public var reason: String
    /// The request this answers (the oldest unanswered one on the connection), if seen.
    public var request: HTTPRequest?
    /// Seconds from the request's first segment to the response's.
    public var latency: Double? { request.map { time - $0.time } }

    /// A response as the reassembler reports it (tests build them too).
    public init(time: Double, connection: HTTPConnection, version: String, status: Int, reason: String, request: HTTPRequest?) {
        self.time = time
        self.connection = connection
        self.version = version
        self.status = status
        self.reason = reason
        self.request = request
    }
}

/// A request line that grew past the limit without ending; reported once.
public struct HTTPTooLong: Sendable, Equatable {
    /// Seconds since the epoch of the segment that started the line.
    public var time: Double
    /// The connection it was sent on.
    public var connection: HTTPConnection
    /// The method, when it was seen.
    public var method: String
    /// The target's first bytes (at most 64).
    public var pathPrefix: String
    /// Bytes seen when the line was given up on.
    public var bytesSeen: Int
    /// The limit it passed (`HTTPReassemblerConfiguration.maxLineBytes`).
    public var limit: Int
}

/// What the reassembler reports.
public enum HTTPEvent: Sendable, Equatable {
    /// A request line seen whole.
    case request(HTTPRequest)
    /// A status line.
    case response(HTTPResponse)
    /// A request line given up on at the length limit.
    case tooLong(HTTPTooLong)

    /// When the event's message started (seconds since the epoch).
    public var time: Double {
        switch self {
        case .request(let r): return r.time
        case .response(let r): return r.time
        case .tooLong(let t): return t.time
        }
    }
}

/// Counters kept by the reassembler (user space). The BPF side keeps its own (HTTPFilterStats).
public struct HTTPCounters: Sendable, Equatable, Codable {
    /// Frames handed to the reassembler (everything the socket filter kept).
    public var frames = 0
    /// Frames that were not a TCP segment with payload (truncated, malformed, other protocols).
    public var undecodable = 0
    /// Segments already seen (the second copy of a loopback frame, retransmissions).
    public var duplicates = 0
    /// Request lines reported.
    public var requests = 0
    /// Status lines reported.
    public var responses = 0
    /// Request lines longer than the limit, reported once each.
    public var tooLong = 0
    /// Payloads that start like HTTP but are not a valid request or status line.
    public var parseErrors = 0
    /// Sessions dropped for idleness with a request line still open or requests unanswered.
    public var expired = 0
    /// Segments that belonged to no open request line (e.g. a continuation whose start was missed).
    public var ignored = 0
    /// Request lines that lost a segment (a gap that never filled) and were abandoned.
    public var incomplete = 0

    /// All zero.
    public init() {}

    enum CodingKeys: String, CodingKey {
        case frames, undecodable, duplicates, requests, responses
        case tooLong = "too_long", parseErrors = "parse_errors", expired, ignored, incomplete
    }
}
