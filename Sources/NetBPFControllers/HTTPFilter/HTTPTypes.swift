/// One end of a TCP connection: an IPv4 (4 bytes) or IPv6 (16 bytes) address and a port.
public struct HTTPEndpoint: Hashable, Sendable, CustomStringConvertible {
    /// Network byte order, 4 or 16 bytes.
    public var address: [UInt8]
    public var port: UInt16

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
public struct TCPSegment: Sendable, Equatable {
    public var source: HTTPEndpoint
    public var destination: HTTPEndpoint
    /// The sequence number of the payload's first byte.
    public var sequence: UInt32
    /// TCP flags (FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10).
    public var flags: UInt8
    public var payload: [UInt8]
    /// The VLAN id of the first tag in the frame, if it carried one.
    public var vlan: UInt16?

    public init(source: HTTPEndpoint, destination: HTTPEndpoint, sequence: UInt32, flags: UInt8 = 0x18,
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
    public var client: HTTPEndpoint
    public var server: HTTPEndpoint
    public init(client: HTTPEndpoint, server: HTTPEndpoint) {
        self.client = client
        self.server = server
    }
    public var description: String { "\(client) -> \(server)" }
}

/// A request line that was seen whole.
public struct HTTPRequest: Sendable, Equatable {
    /// Seconds since the epoch of the segment that started it.
    public var time: Double
    public var connection: HTTPConnection
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
    public var blocked: Bool?

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
    public var time: Double
    public var connection: HTTPConnection
    public var version: String
    public var status: Int
    public var reason: String
    /// The request this answers (the oldest unanswered one on the connection), if seen.
    public var request: HTTPRequest?
    /// Seconds from the request's first segment to the response's.
    public var latency: Double? { request.map { time - $0.time } }

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
    public var time: Double
    public var connection: HTTPConnection
    public var method: String
    /// The target's first bytes (at most 64).
    public var pathPrefix: String
    /// Bytes seen when the line was given up on.
    public var bytesSeen: Int
    public var limit: Int
}

/// What the reassembler reports.
public enum HTTPEvent: Sendable, Equatable {
    case request(HTTPRequest)
    case response(HTTPResponse)
    case tooLong(HTTPTooLong)

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
    public var requests = 0
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

    public init() {}

    enum CodingKeys: String, CodingKey {
        case frames, undecodable, duplicates, requests, responses
        case tooLong = "too_long", parseErrors = "parse_errors", expired, ignored, incomplete
    }
}
