import Foundation
import Glibc
import Synchronization

/// A fleet's control host for a simulation (`netbpf fleet controlplane`): the PKI, a real etcd
/// (TLS, client certificates, auth with the fleet's roles) and a real Prometheus (Debian's
/// 2.42) whose scrape configuration follows the registered nodes (rewritten and SIGHUPed when
/// they change). `stop()` ends both and, with `removeOnStop`, removes the directory.
public final class ControlPlane: Sendable {
    /// The plane's files: pki/, agents-pki (a link to pki/, made once etcd is bootstrapped),
    /// prometheus.yml, Prometheus' data and log.
    public let directory: String
    /// The address etcd and Prometheus listen on (also in etcd's server certificate).
    public let listen: String
    /// The fleet's node names: each gets a certificate, a password and an etcd role.
    public let nodes: [String]
    /// Where the fleet's keys are in etcd.
    public let layout: KeyLayout
    /// The plane's etcd: its data in /dev/shm when there is one (etcd fsyncs every write; a
    /// simulation's store need not outlive it), else DIR/etcd; peer port the client port + 1.
    public let etcd: EtcdServer
    /// Prometheus' port (9090 unless told).
    public let prometheusPort: UInt16
    /// Prometheus' scrape and evaluation interval, seconds.
    public let scrapeInterval: Int
    let prometheus = Mutex<Process?>(nil)
    let targets = Mutex<[String]>([])

    /// The fleet's PKI, in DIR/pki.
    public var pki: FleetPKI { FleetPKI(directory: directory + "/pki") }

    /// Sets the plane up; nothing is written or started until `start()`.
    /// - Throws: what `EtcdServer.init` throws.
    public init(directory: String, listen: String, nodes: [String], layout: KeyLayout, etcdPort: UInt16 = 2379,
                prometheusPort: UInt16 = 9090, scrapeInterval: Int = 1) throws {
        self.directory = directory
        self.listen = listen
        self.nodes = nodes
        self.layout = layout
        self.prometheusPort = prometheusPort
        self.scrapeInterval = scrapeInterval
        // etcd fsyncs its WAL on every write; on this project's machines /run is on disk, and
        // a 100-node fleet's keepalives and status writes behind a busy disk starved it
        // (fdatasync 6 s). A simulation's store lives in tmpfs, gone with the simulation.
        let shm = "/dev/shm/netbpf-fleet-" + directory.split(separator: "/").joined(separator: "-")
        etcd = try EtcdServer(dataDirectory: FileManager.default.fileExists(atPath: "/dev/shm") ? shm : directory + "/etcd",
                              host: listen, clientPort: etcdPort, peerPort: etcdPort + 1, pki: FleetPKI(directory: directory + "/pki"))
    }

    /// PKI, etcd (bootstrapped once: a marker file says so), Prometheus.
    public func start() async throws {
        try pki.generate(nodes: nodes, serverAddresses: [listen, "127.0.0.1"])
        try etcd.start()
        let marker = etcd.dataDirectory + "/netbpf-bootstrapped"
        if !FileManager.default.fileExists(atPath: marker) {
            try await pki.bootstrap(endpoint: etcd.endpoint, layout: layout, nodes: nodes)
            _ = FileManager.default.createFile(atPath: marker, contents: nil)
        }
        // The agents are pointed at DIR/agents-pki, which appears only now: 100 agents
        // dialling an etcd that is still being bootstrapped made it close the bootstrap's
        // connection.
        let link = directory + "/agents-pki"
        if (try? FileManager.default.destinationOfSymbolicLink(atPath: link)) == nil {
            try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "pki")
        }
        try writePrometheusConfig([])
        try startPrometheus()
    }

    /// Rewrites the scrape configuration from the registered nodes every `period` seconds
    /// until cancelled.
    public func followNodes(period: Double = 1) async {
        guard let client = try? EtcdClient(endpoint: etcd.endpoint, tls: pki.tls(user: "operator"), credentials: try? pki.credentials(user: "operator")) else { return }
        let op = FleetOperator(etcd: client, layout: layout)
        while !Task.isCancelled {
            if let views = try? await op.status() {
                let alive = views.filter(\.alive)
                let list = alive.compactMap(\.metrics).sorted()
                if list != targets.withLock({ $0 }) {
                    try? writePrometheusConfig(alive)
                    targets.withLock { $0 = list }
                    if let p = prometheus.withLock({ $0 }), p.isRunning { kill(p.processIdentifier, SIGHUP) }
                }
            }
            try? await Task.sleep(for: .seconds(period))
        }
        await client.close()
    }

    /// Prometheus' web address, `http://LISTEN:PORT`.
    public var prometheusURL: String { "http://\(listen):\(prometheusPort)" }

    func writePrometheusConfig(_ nodes: [FleetOperator.NodeView]) throws {
        try FleetOperator.prometheusConfig(nodes: nodes, interval: scrapeInterval)
            .write(toFile: directory + "/prometheus.yml", atomically: true, encoding: .utf8)
    }

    func startPrometheus() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/prometheus") else {
            throw FleetError("/usr/bin/prometheus is missing", hint: "apt-get install prometheus (scripts/setup.sh)")
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/prometheus")
        p.arguments = ["--config.file=\(directory)/prometheus.yml", "--storage.tsdb.path=\(directory)/prometheus",
                       "--web.listen-address=\(listen):\(prometheusPort)", "--log.level=warn"]
        let log = directory + "/prometheus.log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        p.standardOutput = FileHandle(forWritingAtPath: log)
        p.standardError = FileHandle(forWritingAtPath: log)
        try p.run()
        prometheus.withLock { $0 = p }
    }

    /// Stops Prometheus and etcd (SIGTERM, wait), and removes the directory when asked.
    public func stop(removeDirectory: Bool) {
        if let p = prometheus.withLock({ p in defer { p = nil }; return p }) {
            if p.isRunning { kill(p.processIdentifier, SIGTERM) }
            p.waitUntilExit()
        }
        etcd.stop()
        if removeDirectory {
            try? FileManager.default.removeItem(atPath: etcd.dataDirectory)
            try? FileManager.default.removeItem(atPath: etcd.dataDirectory + ".log")
            try? FileManager.default.removeItem(atPath: directory)
        }
    }
}
