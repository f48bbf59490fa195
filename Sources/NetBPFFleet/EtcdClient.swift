import AsyncHTTPClient
import Foundation
import NIOCore
import NIOSSL
import Synchronization

/// A client of etcd's v3 JSON gateway (etcd 3.4: `/v3/kv/range`, `/v3/kv/put`,
/// `/v3/kv/deleterange`, `/v3/watch`, `/v3/lease/*`, `/v3/auth/*`), over HTTPS with a client
/// certificate (async-http-client + NIOSSL). Keys and values travel base64-encoded, as the
/// gateway's protobuf JSON mapping wants.
///
/// Identity: etcd's gateway cannot carry a certificate's CommonName to the server (it answers
/// 400 to a client certificate with a CN when auth is on), so the certificate proves membership
/// of the fleet's CA and the user is named by name and password (`/v3/auth/authenticate`); the
/// token is renewed when etcd says it expired.
public final class EtcdClient: Sendable {
    /// TLS material, PEM files.
    public struct TLSFiles: Sendable {
        /// The CA certificate that signed etcd's server certificate.
        public var caFile: String
        /// This client's certificate, presented only together with `keyFile`.
        public var certFile: String?
        /// This client's private key.
        public var keyFile: String?
        /// The file paths; the files are read by `EtcdClient.init`.
        public init(caFile: String, certFile: String?, keyFile: String?) { self.caFile = caFile; self.certFile = certFile; self.keyFile = keyFile }
    }

    /// An etcd user, authenticated with `/v3/auth/authenticate`; the token it yields goes in the
    /// Authorization header of each request.
    public struct Credentials: Sendable {
        /// The etcd user's name.
        public var user: String
        /// Its password.
        public var password: String
        /// A user name and password.
        public init(user: String, password: String) { self.user = user; self.password = password }
    }

    /// One key-value pair as etcd returns it.
    public struct KeyValue: Sendable, Equatable {
        /// The key (decoded from base64).
        public var key: String
        /// The value's bytes (empty when etcd sends none).
        public var value: Data
        /// The revision of the key's last change (for a delete event, of the delete).
        public var modRevision: Int64
        /// The lease the key is attached to; 0: none.
        public var lease: Int64
    }

    /// One watch event.
    public struct Event: Sendable, Equatable {
        /// The key was put (created or changed) or deleted.
        public enum Kind: Sendable { case put, delete }
        /// What happened to the key.
        public var kind: Kind
        /// The key as the event left it.
        public var kv: KeyValue
    }

    /// The etcd URL, `https://HOST:PORT` (or `http://`), without a trailing slash.
    public let endpoint: String
    let http: HTTPClient
    let credentials: Credentials?
    let token = Mutex<String?>(nil)

    /// - Parameters:
    ///   - endpoint: `https://HOST:PORT` (or `http://` for an etcd without TLS).
    ///   - tls: the CA that signed etcd's certificate and this client's certificate and key.
    public init(endpoint: String, tls: TLSFiles?, credentials: Credentials?) throws {
        guard endpoint.hasPrefix("https://") || endpoint.hasPrefix("http://"), URL(string: endpoint)?.host != nil else {
            throw FleetError("'\(endpoint)' is not an etcd URL", hint: "e.g. https://10.0.0.1:2379")
        }
        self.endpoint = endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint
        self.credentials = credentials
        var config = HTTPClient.Configuration()
        config.timeout = .init(connect: .seconds(3), read: nil)
        // HTTP/1.1: over HTTP/2, etcd 3.4's gateway closed the shared connection under a
        // burst of requests (a 100-user bootstrap), failing every request in flight on it.
        config.httpVersion = .http1Only
        if let tls {
            var t = TLSConfiguration.makeClientConfiguration()
            do {
                t.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(tls.caFile))
                if let cert = tls.certFile, let key = tls.keyFile {
                    t.certificateChain = try NIOSSLCertificate.fromPEMFile(cert).map { .certificate($0) }
                    t.privateKey = .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
                }
            } catch {
                throw FleetError("cannot read the TLS files (\(tls.caFile), \(tls.certFile ?? "-"), \(tls.keyFile ?? "-")): \(error)",
                                 hint: "netbpf fleet pki writes them")
            }
            config.tlsConfiguration = t
        }
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
    }

    /// Closes the connections; the client cannot be used after.
    public func close() async {
        try? await http.shutdown()
    }

    // MARK: KV

    /// Keys equal to `key`, or starting with it when `prefix` is true, at `revision` (nil: now).
    /// Returns them with the store's revision at the read.
    public func range(_ key: String, prefix: Bool = false, revision: Int64? = nil) async throws -> (revision: Int64, kvs: [KeyValue]) {
        var body: [String: Any] = ["key": Self.b64(key)]
        if prefix { body["range_end"] = Self.b64(Self.prefixEnd(key)) }
        if let revision { body["revision"] = String(revision) }
        let reply = try await call("/v3/kv/range", body)
        let kvs = (reply["kvs"] as? [[String: Any]] ?? []).compactMap(Self.keyValue)
        return (Self.int(reply["header"].flatMap { ($0 as? [String: Any])?["revision"] }) ?? 0, kvs)
    }

    /// Writes `value` at `key` (attached to `lease` when given); returns the new revision.
    @discardableResult
    public func put(_ key: String, _ value: Data, lease: Int64? = nil) async throws -> Int64 {
        var body: [String: Any] = ["key": Self.b64(key), "value": value.base64EncodedString()]
        if let lease { body["lease"] = String(lease) }
        return try await Self.headerRevision(call("/v3/kv/put", body))
    }

    /// Deletes `key` (or every key under it when `prefix`); returns how many were deleted.
    @discardableResult
    public func delete(_ key: String, prefix: Bool = false) async throws -> Int {
        var body: [String: Any] = ["key": Self.b64(key)]
        if prefix { body["range_end"] = Self.b64(Self.prefixEnd(key)) }
        return Int(Self.int(try await call("/v3/kv/deleterange", body)["deleted"]) ?? 0)
    }

    /// Deletes `key`; returns how many keys were deleted and the revision of the delete (the
    /// response header's: the revision a watcher sees the delete at when one was deleted).
    public func deleteReportingRevision(_ key: String) async throws -> (deleted: Int, revision: Int64) {
        let reply = try await call("/v3/kv/deleterange", ["key": Self.b64(key)])
        return (Int(Self.int(reply["deleted"]) ?? 0), Self.headerRevision(reply))
    }

    // MARK: Leases

    /// A new lease of `ttl` seconds; keys put with it vanish when it is not kept alive.
    public func grantLease(ttl: Int) async throws -> Int64 {
        let reply = try await call("/v3/lease/grant", ["TTL": String(ttl)])
        guard let id = Self.int(reply["ID"]) else { throw FleetError("etcd granted no lease: \(reply)") }
        return id
    }

    /// Renews a lease once; returns its TTL, 0 when the lease is gone (expired or revoked).
    public func keepAlive(lease: Int64) async throws -> Int64 {
        let reply = try await call("/v3/lease/keepalive", ["ID": String(lease)])
        let result = reply["result"] as? [String: Any] ?? reply
        return Self.int(result["TTL"]) ?? 0
    }

    /// Ends a lease now (its keys go at once); waits at most `timeout` seconds.
    public func revoke(lease: Int64, timeout: Int64 = 10) async throws {
        _ = try await call("/v3/lease/revoke", ["ID": String(lease)], timeout: timeout)
    }

    // MARK: Watch

    /// Streams the events under `key` (a prefix when `prefix`) from `startRevision` on. The
    /// stream ends with an error when the connection breaks; compaction past `startRevision`
    /// ends it with `FleetError` naming the compact revision.
    public func watch(_ key: String, prefix: Bool, startRevision: Int64) -> AsyncThrowingStream<(revision: Int64, events: [Event]), Error> {
        let (stream, continuation) = AsyncThrowingStream<(revision: Int64, events: [Event]), Error>.makeStream(bufferingPolicy: .unbounded)
        let task = Task {
            do {
                var create: [String: Any] = ["key": Self.b64(key), "start_revision": String(startRevision)]
                if prefix { create["range_end"] = Self.b64(Self.prefixEnd(key)) }
                let response = try await send("/v3/watch", ["create_request": create], deadline: .distantFuture)
                guard response.status == .ok else {
                    let body = try await response.body.collect(upTo: 1 << 16)
                    throw Self.failure(status: Int(response.status.code), body: Data(body.readableBytesView))
                }
                var pending = Data()
                for try await chunk in response.body {
                    pending.append(contentsOf: chunk.readableBytesView)
                    while let nl = pending.firstIndex(of: UInt8(ascii: "\n")) {
                        let line = pending[pending.startIndex..<nl]
                        pending = Data(pending[(nl + 1)...])
                        guard !line.isEmpty else { continue }
                        guard let object = try? JSONSerialization.jsonObject(with: line) as? [String: Any] else { continue }
                        if let error = object["error"] as? [String: Any] {
                            let message = "\(error["message"] ?? error)"
                            if message.contains("invalid auth token") { token.withLock { $0 = nil } }
                            throw FleetError("etcd watch: \(message)")
                        }
                        guard let result = object["result"] as? [String: Any] else { continue }
                        if let compact = Self.int(result["compact_revision"]), compact > 0 {
                            throw FleetError("etcd watch: revision \(startRevision) was compacted (now \(compact))")
                        }
                        if result["canceled"] as? Bool == true {
                            let reason = "\(result["cancel_reason"] ?? "no reason")"
                            // etcd restarted: its simple tokens are gone; authenticate again.
                            if reason.contains("invalid auth token") { token.withLock { $0 = nil } }
                            throw FleetError("etcd cancelled the watch: \(reason)")
                        }
                        let header = result["header"] as? [String: Any]
                        let events: [Event] = (result["events"] as? [[String: Any]] ?? []).compactMap { e in
                            guard let kv = (e["kv"] as? [String: Any]).flatMap(Self.keyValue) else { return nil }
                            return Event(kind: (e["type"] as? String) == "DELETE" ? .delete : .put, kv: kv)
                        }
                        continuation.yield((Self.int(header?["revision"]) ?? 0, events))
                    }
                }
                continuation.finish(throwing: FleetError("etcd closed the watch"))
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    // MARK: Auth administration (root only)

    /// Creates an etcd user (`/v3/auth/user/add`).
    /// - Throws: `FleetError` when etcd refuses (e.g. the user already exists) or is unreachable.
    public func addUser(_ name: String, password: String) async throws { _ = try await call("/v3/auth/user/add", ["name": name, "password": password]) }
    /// Creates a role, with no permissions yet (`/v3/auth/role/add`).
    /// - Throws: `FleetError` when etcd refuses (e.g. the role already exists) or is unreachable.
    public func addRole(_ name: String) async throws { _ = try await call("/v3/auth/role/add", ["name": name]) }
    /// Gives `user` the role `role` (`/v3/auth/user/grant`).
    /// - Throws: `FleetError` when etcd refuses or is unreachable.
    public func grantRole(_ role: String, toUser user: String) async throws { _ = try await call("/v3/auth/user/grant", ["user": user, "role": role]) }

    /// What a role may do with a key range (etcd's `permType`).
    public enum Permission: String, Sendable { case read = "READ", write = "WRITE", readwrite = "READWRITE" }
    /// Lets `role` read/write `key` (every key under it when `prefix`).
    public func grant(_ permission: Permission, on key: String, prefix: Bool, toRole role: String) async throws {
        var perm: [String: Any] = ["permType": permission.rawValue, "key": Self.b64(key)]
        if prefix { perm["range_end"] = Self.b64(Self.prefixEnd(key)) }
        _ = try await call("/v3/auth/role/grant", ["name": role, "perm": perm])
    }
    /// Turns etcd's authentication on (`/v3/auth/enable`); from then on requests need a user.
    /// - Throws: `FleetError` when etcd refuses (e.g. no root user with the root role) or is
    ///   unreachable.
    public func enableAuth() async throws { _ = try await call("/v3/auth/enable", [:]) }

    // MARK: Transport

    /// POSTs `body` to `path` and returns the JSON reply; authenticates first (and again when
    /// etcd says the token is no longer valid) when credentials are set.
    func call(_ path: String, _ body: [String: Any], timeout: Int64 = 10) async throws -> [String: Any] {
        for attempt in 0..<2 {
            let response = try await send(path, body, deadline: .now() + .seconds(timeout))
            let data = Data(try await response.body.collect(upTo: 16 << 20).readableBytesView)
            if response.status == .ok, let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] { return object }
            let failure = Self.failure(status: Int(response.status.code), body: data)
            if attempt == 0, credentials != nil, failure.message.contains("invalid auth token") {
                token.withLock { $0 = nil }
                continue
            }
            throw failure
        }
        throw FleetError("etcd \(path): no answer")
    }

    func send(_ path: String, _ body: [String: Any], deadline: NIODeadline) async throws -> HTTPClientResponse {
        var request = HTTPClientRequest(url: endpoint + path)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        if let credentials, path != "/v3/auth/authenticate" {
            request.headers.add(name: "Authorization", value: try await authToken(credentials))
        }
        request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body)))
        // A pooled connection that etcd closed between two requests (HTTP/2 GOAWAY) fails
        // the request before etcd saw it: send it again on a new connection, twice at most.
        for attempt in 0..<3 {
            do {
                return try await http.execute(request, deadline: deadline)
            } catch let e as HTTPClientError where e == .remoteConnectionClosed && attempt < 2 {
                continue
            } catch {
                throw FleetError("etcd \(endpoint) unreachable: \(error)")
            }
        }
        throw FleetError("etcd \(endpoint) unreachable")
    }

    func authToken(_ c: Credentials) async throws -> String {
        if let t = token.withLock({ $0 }) { return t }
        let reply = try await call("/v3/auth/authenticate", ["name": c.user, "password": c.password])
        guard let t = reply["token"] as? String else { throw FleetError("etcd gave user '\(c.user)' no token: auth is not enabled", hint: "netbpf fleet pki --etcd URL enables it") }
        token.withLock { $0 = t }
        return t
    }

    static func failure(status: Int, body: Data) -> FleetError {
        let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any]
        let message = (object?["error"] as? String) ?? (object?["message"] as? String) ?? String(decoding: body.prefix(200), as: UTF8.self)
        return FleetError("etcd refused (HTTP \(status)): \(message.trimmingCharacters(in: .whitespacesAndNewlines))")
    }

    // MARK: Encoding

    static func b64(_ s: String) -> String { Data(s.utf8).base64EncodedString() }

    /// The range end that selects every key starting with `key`: its last byte plus one.
    static func prefixEnd(_ key: String) -> String {
        var bytes = Array(key.utf8)
        while let last = bytes.last {
            if last < 0xff { bytes[bytes.count - 1] = last + 1; return String(decoding: bytes, as: UTF8.self) }
            bytes.removeLast()
        }
        return "\0"
    }

    static func int(_ any: Any?) -> Int64? {
        if let s = any as? String { return Int64(s) }
        if let n = any as? NSNumber { return n.int64Value }
        return nil
    }

    static func headerRevision(_ reply: [String: Any]) -> Int64 { int((reply["header"] as? [String: Any])?["revision"]) ?? 0 }

    static func keyValue(_ o: [String: Any]) -> KeyValue? {
        guard let k = (o["key"] as? String).flatMap({ Data(base64Encoded: $0) }) else { return nil }
        let v = (o["value"] as? String).flatMap { Data(base64Encoded: $0) } ?? Data()
        return KeyValue(key: String(decoding: k, as: UTF8.self), value: v, modRevision: int(o["mod_revision"]) ?? 0, lease: int(o["lease"]) ?? 0)
    }
}
