import ArgumentParser
import Dispatch
import Foundation
import NetBPFFleet
import Synchronization

/// Runs async fleet work from a synchronous command: the body runs as a task and this thread
/// waits for it (ArgumentParser's commands here are synchronous).
func blocking<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) throws -> T {
    let box = Mutex<Result<T, Error>?>(nil)
    let done = DispatchSemaphore(value: 0)
    Task {
        do { let v = try await body(); box.withLock { $0 = .success(v) } } catch { box.withLock { $0 = .failure(error) } }
        done.signal()
    }
    done.wait()
    guard let result = box.withLock({ $0 }) else { throw FleetError("internal: the task ended without a result") }
    return try result.get()
}

/// How a fleet command reaches etcd: the URL, TLS files and the etcd user.
struct EtcdOptions: ParsableArguments {
    @Option(help: "etcd's client URL, e.g. https://10.0.0.1:2379.") var etcd: String
    @Option(help: "A directory written by `netbpf fleet pki` (ca.crt, USER.crt, USER.key, USER.password).") var pki: String?
    @Option(help: "The CA certificate that signed etcd's (PEM).") var cacert: String?
    @Option(help: "This client's certificate (PEM).") var cert: String?
    @Option(help: "This client's key (PEM).") var key: String?
    @Option(help: "The etcd user (with --password-file).") var user: String?
    @Option(help: "A file holding the etcd user's password.") var passwordFile: String?
    @Option(help: "The fleet's key prefix in etcd.") var prefix = "/netbpf"

    /// `defaultUser`: the user taken from --pki when --user is not given.
    func client(defaultUser: String) throws -> EtcdClient {
        let who = user ?? defaultUser
        var tls: EtcdClient.TLSFiles?
        var credentials: EtcdClient.Credentials?
        if let pki {
            let p = FleetPKI(directory: pki)
            tls = p.tls(user: who)
            if FileManager.default.fileExists(atPath: p.path(who + ".password")) { credentials = try p.credentials(user: who) }
        }
        if let cacert { tls = EtcdClient.TLSFiles(caFile: cacert, certFile: cert ?? tls?.certFile, keyFile: key ?? tls?.keyFile) }
        if let passwordFile {
            guard let text = try? String(contentsOfFile: passwordFile, encoding: .utf8) else { throw FleetError("cannot read \(passwordFile)") }
            credentials = EtcdClient.Credentials(user: who, password: text.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        if etcd.hasPrefix("https://") && tls == nil { throw FleetError("an https etcd needs --pki DIR or --cacert/--cert/--key") }
        return try EtcdClient(endpoint: etcd, tls: tls, credentials: credentials)
    }

    func layout() throws -> KeyLayout { try KeyLayout(prefix: prefix) }
}

extension EtcdOptions {
    /// Runs `body` with an operator client and closes the client after, also on error
    /// (async-http-client must be shut down before it is released).
    func withOperator<T: Sendable>(user: String = "operator", _ body: @escaping @Sendable (FleetOperator) async throws -> T) throws -> T {
        let op = FleetOperator(etcd: try client(defaultUser: user), layout: try layout())
        return try blocking {
            do {
                let v = try await body(op)
                await op.etcd.close()
                return v
            } catch {
                await op.etcd.close()
                throw error
            }
        }
    }
}
