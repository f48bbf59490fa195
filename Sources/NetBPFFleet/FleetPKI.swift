import Foundation

/// The fleet's certificates, passwords and etcd roles (`netbpf fleet pki`), for a simulation or
/// a small fleet. Certificates come from Debian's `openssl` (P-256 keys, 1 year); the client
/// certificates carry no CommonName, because etcd's JSON gateway refuses a client certificate
/// with one once auth is on: the certificate admits a client to the fleet (etcd's
/// --client-cert-auth), its etcd user (name + password) decides what it may touch.
///
/// Files in DIR: ca.crt ca.key, etcd.crt etcd.key (the server: serverAuth + clientAuth, as the
/// gateway dials etcd's gRPC port with it), and for each user (root, operator, node-NAME)
/// USER.crt USER.key USER.password.
public struct FleetPKI: Sendable {
    /// Where the files are (DIR above).
    public let directory: String

    /// The PKI in `directory`; nothing is read or written until asked.
    public init(directory: String) { self.directory = directory }

    /// The path of `file` in the directory.
    public func path(_ file: String) -> String { directory + "/" + file }
    /// The CA certificate and the certificate and key of `user` (root, operator or node-NAME),
    /// for `EtcdClient`.
    public func tls(user: String) -> EtcdClient.TLSFiles {
        EtcdClient.TLSFiles(caFile: path("ca.crt"), certFile: path(user + ".crt"), keyFile: path(user + ".key"))
    }
    /// The etcd user `user` with its password, read from USER.password.
    /// - Throws: `FleetError` when the password file cannot be read.
    public func credentials(user: String) throws -> EtcdClient.Credentials {
        guard let p = try? String(contentsOfFile: path(user + ".password"), encoding: .utf8) else {
            throw FleetError("no password file \(path(user + ".password"))", hint: "netbpf fleet pki --dir \(directory) --nodes ...")
        }
        return EtcdClient.Credentials(user: user, password: p.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// The etcd user of a node.
    public static func user(node: String) -> String { "node-" + node }

    /// Makes the CA (once), the etcd server certificate for `serverAddresses` (IPs or DNS
    /// names), and a certificate + password for root, operator and each node. Existing files
    /// are kept: running it again with more nodes adds them.
    public func generate(nodes: [String], serverAddresses: [String]) throws {
        for n in nodes { try KeyLayout.checkNodeName(n) }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        if !exists("ca.crt") {
            try openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", path("ca.key"),
                         "-out", path("ca.crt"), "-days", "365", "-subj", "/O=netbpf/OU=fleet CA"])
        }
        if !exists("etcd.crt") {
            let san = serverAddresses.map { $0.first?.isNumber == true || $0.contains(":") ? "IP:\($0)" : "DNS:\($0)" }.joined(separator: ",")
            try sign("etcd", subject: "/O=netbpf/OU=etcd", extensions: "subjectAltName=\(san)\nextendedKeyUsage=serverAuth,clientAuth\n")
        }
        for user in ["root", "operator"] + nodes.map(Self.user(node:)) where !exists(user + ".crt") {
            try sign(user, subject: "/O=netbpf/OU=\(user)", extensions: "extendedKeyUsage=clientAuth\n")
            try Self.randomPassword().write(toFile: path(user + ".password"), atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path(user + ".password"))
        }
    }

    /// Creates the users and roles in etcd and turns auth on (as root, over TLS, before auth is
    /// on; after, root's password). Node role: read desired/all/ and desired/node/NAME/, write
    /// nodes/NAME and status/NAME. Operator role: read and write everything under the prefix.
    public func bootstrap(endpoint: String, layout: KeyLayout, nodes: [String]) async throws {
        let root = try EtcdClient(endpoint: endpoint, tls: tls(user: "root"), credentials: nil)
        do {
            try await makeUsers(root, layout: layout, nodes: nodes)
            await root.close()
        } catch {
            await root.close()
            throw error
        }
    }

    func makeUsers(_ root: EtcdClient, layout: KeyLayout, nodes: [String]) async throws {
        // etcd listens before it serves (it closes connections until it has a leader); on a
        // loaded machine that took seconds. Wait for a first answer, 60 s at most.
        let deadline = ContinuousClock.now + .seconds(60)
        while true {
            do { _ = try await root.range(layout.prefix + "/"); break } catch {
                if ContinuousClock.now > deadline { throw error }
                try await Task.sleep(for: .milliseconds(200))
            }
        }
        func tolerate(_ body: () async throws -> Void) async throws {
            do { try await body() } catch let e as FleetError where e.message.contains("already exists") {}
        }
        try await tolerate { try await root.addUser("root", password: try credentials(user: "root").password) }
        try await tolerate { try await root.addRole("root") }
        try await root.grantRole("root", toUser: "root")
        try await tolerate { try await root.addUser("operator", password: try credentials(user: "operator").password) }
        try await tolerate { try await root.addRole("operator") }
        try await root.grant(.readwrite, on: layout.prefix + "/", prefix: true, toRole: "operator")
        try await root.grantRole("operator", toUser: "operator")
        for node in nodes {
            let user = Self.user(node: node)
            try await tolerate { try await root.addUser(user, password: try credentials(user: user).password) }
            try await tolerate { try await root.addRole(user) }
            try await root.grant(.read, on: layout.desiredAll, prefix: true, toRole: user)
            try await root.grant(.read, on: layout.desiredNode(node), prefix: true, toRole: user)
            try await root.grant(.readwrite, on: layout.node(node), prefix: false, toRole: user)
            try await root.grant(.readwrite, on: layout.status(node), prefix: false, toRole: user)
            try await root.grantRole(user, toUser: user)
        }
        try await root.enableAuth()
    }

    func exists(_ file: String) -> Bool { FileManager.default.fileExists(atPath: path(file)) }

    func sign(_ name: String, subject: String, extensions: String) throws {
        try openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", path(name + ".key"),
                     "-out", path(name + ".csr"), "-subj", subject])
        try extensions.write(toFile: path(name + ".ext"), atomically: true, encoding: .utf8)
        try openssl(["x509", "-req", "-in", path(name + ".csr"), "-CA", path("ca.crt"), "-CAkey", path("ca.key"), "-CAcreateserial",
                     "-out", path(name + ".crt"), "-days", "365", "-extfile", path(name + ".ext")])
        try? FileManager.default.removeItem(atPath: path(name + ".csr"))
        try? FileManager.default.removeItem(atPath: path(name + ".ext"))
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path(name + ".key"))
    }

    func openssl(_ args: [String]) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        p.arguments = args
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        do { try p.run() } catch { throw FleetError("cannot run /usr/bin/openssl: \(error)", hint: "apt-get install openssl") }
        let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw FleetError("openssl \(args.prefix(2).joined(separator: " ")) failed: \(text.split(separator: "\n").last ?? "")")
        }
    }

    static func randomPassword() -> String {
        var g = SystemRandomNumberGenerator()
        return (0..<24).map { _ in String(UInt8.random(in: 0...255, using: &g), radix: 16) }.map { $0.count == 1 ? "0" + $0 : $0 }.joined()
    }
}
