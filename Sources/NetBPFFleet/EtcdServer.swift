import Foundation
import Glibc
import Synchronization

/// A real etcd (Debian's etcd-server, /usr/bin/etcd) run as a child process: for tests, the
/// simulation and benchmarks. One member, its data in `dataDirectory`, client URL over TLS
/// with client certificates required when `pki` is given. `stop()` ends it with SIGTERM and
/// waits; `start()` again reuses the data (the revision history survives).
public final class EtcdServer: Sendable {
    /// The member's data; its log is `dataDirectory` + ".log".
    public let dataDirectory: String
    /// The client port (a free one when not given).
    public let clientPort: UInt16
    /// The peer port, plain HTTP (a free one when not given).
    public let peerPort: UInt16
    /// The IPv4 address etcd listens on (`start()` checks it over IPv4).
    public let host: String
    /// The PKI whose etcd.crt and etcd.key serve TLS and whose ca.crt checks client
    /// certificates; nil: plain HTTP, no client certificates.
    public let pki: FleetPKI?
    let process = Mutex<Process?>(nil)

    /// The client URL: `https://HOST:PORT` with `pki`, `http://HOST:PORT` without.
    public var endpoint: String { "\(pki == nil ? "http" : "https")://\(host):\(clientPort)" }

    /// Sets the server up; nothing runs until `start()`.
    /// - Throws: `FleetError` when no free port is found for a port not given.
    public init(dataDirectory: String, host: String = "127.0.0.1", clientPort: UInt16? = nil, peerPort: UInt16? = nil, pki: FleetPKI?) throws {
        self.dataDirectory = dataDirectory
        self.host = host
        self.clientPort = try clientPort ?? Self.freePort()
        self.peerPort = try peerPort ?? Self.freePort()
        self.pki = pki
    }

    /// Whether /usr/bin/etcd is there (Debian's etcd-server).
    public static var isInstalled: Bool { FileManager.default.isExecutableFile(atPath: "/usr/bin/etcd") }

    /// Starts etcd and waits until it answers (up to 10 s).
    public func start() throws {
        guard Self.isInstalled else { throw FleetError("/usr/bin/etcd is missing", hint: "apt-get install etcd-server (scripts/setup.sh)") }
        let scheme = pki == nil ? "http" : "https"
        var args = ["--name", "netbpf", "--data-dir", dataDirectory,
                    "--listen-client-urls", "\(scheme)://\(host):\(clientPort)", "--advertise-client-urls", "\(scheme)://\(host):\(clientPort)",
                    "--listen-peer-urls", "http://\(host):\(peerPort)", "--initial-advertise-peer-urls", "http://\(host):\(peerPort)",
                    "--initial-cluster", "netbpf=http://\(host):\(peerPort)", "--log-level", "warn", "--logger", "zap",
                    ]
        // The fleet's passwords are 192 random bits (FleetPKI), so bcrypt's cost adds nothing;
        // at etcd's default (10) each user add and each agent's authenticate costs ~0.1 s
        // of CPU, and 100 of them at once starved a loaded machine's etcd.
        args += ["--bcrypt-cost", "4"]
        if let pki {
            args += ["--cert-file", pki.path("etcd.crt"), "--key-file", pki.path("etcd.key"), "--trusted-ca-file", pki.path("ca.crt"), "--client-cert-auth"]
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/etcd")
        p.arguments = args
        let log = dataDirectory + ".log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        p.standardOutput = FileHandle(forWritingAtPath: log)
        p.standardError = FileHandle(forWritingAtPath: log)
        try p.run()
        process.withLock { $0 = p }
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if !p.isRunning { throw FleetError("etcd exited at start: " + ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").suffix(400)) }
            if Self.canConnect(host: host, port: clientPort) { return }
            usleep(50_000)
        }
        throw FleetError("etcd did not listen on \(host):\(clientPort) within 10 s")
    }

    /// SIGTERM (SIGKILL with `kill`), then waits for the process.
    public func stop(kill: Bool = false) {
        guard let p = process.withLock({ p in defer { p = nil }; return p }) else { return }
        if p.isRunning { Glibc.kill(p.processIdentifier, kill ? SIGKILL : SIGTERM) }
        p.waitUntilExit()
    }

    /// The running process's id; nil before `start()` and after `stop()`.
    public var pid: Int32? { process.withLock { $0?.processIdentifier } }

    deinit { stop() }

    static func canConnect(host: String, port: UInt16) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_port = port.bigEndian
        inet_pton(AF_INET, host, &a.sin_addr)
        return withUnsafePointer(to: &a) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } } == 0
    }

    /// A TCP port nothing listens on now (the kernel's pick for port 0, then released).
    public static func freePort() throws -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw FleetError("socket: errno \(errno)") }
        defer { close(fd) }
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &a) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        guard ok else { throw FleetError("cannot find a free port: errno \(errno)") }
        return UInt16(bigEndian: a.sin_port)
    }
}
