/// Which requests to show (`--host`, `--method`, `--path-prefix`), applied in user space.
/// Within one kind any value may match; every kind given must match. A response is shown when
/// the request it answers is; a response whose request was not seen only when nothing is selected.
public struct HTTPSelection: Sendable, Equatable {
    /// Host names, compared without case; without a port they match any port.
    public var hosts: [String] = []
    /// Methods, compared without case.
    public var methods: [String] = []
    /// Prefixes of the request target, compared byte for byte.
    public var pathPrefixes: [String] = []

    /// A selection; empty lists select everything.
    public init(hosts: [String] = [], methods: [String] = [], pathPrefixes: [String] = []) {
        self.hosts = hosts
        self.methods = methods
        self.pathPrefixes = pathPrefixes
    }

    /// True when nothing is selected (everything is shown).
    public var isEmpty: Bool { hosts.isEmpty && methods.isEmpty && pathPrefixes.isEmpty }

    /// Whether a request with this method, Host and target is selected.
    public func matches(method: String, host: String?, path: String) -> Bool {
        if !methods.isEmpty, !methods.contains(where: { $0.uppercased() == method.uppercased() }) { return false }
        if !pathPrefixes.isEmpty, !pathPrefixes.contains(where: { path.hasPrefix($0) }) { return false }
        if !hosts.isEmpty {
            guard let host else { return false }
            let full = host.lowercased(), bare = HTTPSelection.stripPort(full)
            if !hosts.contains(where: { h in
                let want = h.lowercased()
                return want == full || want == bare
            }) { return false }
        }
        return true
    }

    /// Whether `request` is selected.
    public func matches(_ request: HTTPRequest) -> Bool {
        matches(method: request.method, host: request.host, path: request.path)
    }

    /// Whether `event` is shown: a request when selected, a response when its request is (or, with no
    /// request seen, only when nothing is selected), a too-long line by its method and target prefix.
    public func matches(_ event: HTTPEvent) -> Bool {
        switch event {
        case .request(let r): return matches(r)
        case .response(let r): return r.request.map(matches) ?? isEmpty
        // The host of a line given up on is not known: a host selection leaves it out.
        case .tooLong(let t): return matches(method: t.method, host: nil, path: t.pathPrefix)
        }
    }

    /// "Example.com:8080" -> "Example.com", "[fd00::1]:80" -> "[fd00::1]", "fd00::1" stays.
    public static func stripPort(_ host: String) -> String {
        if host.hasPrefix("[") {
            if let close = host.firstIndex(of: "]") { return String(host[...close]) }
            return host
        }
        let colons = host.filter { $0 == ":" }.count
        if colons == 1, let colon = host.firstIndex(of: ":") { return String(host[..<colon]) }
        return host
    }
}
