import ArgumentParser
import Foundation
import Glibc
import NetBPF
import NetBPFAttach
import NetBPFControllers
import NetBPFSim
import Synchronization

/// `netbpf demo`: the README's first command. Brings up topologies/demo.yaml (a web host and two
/// clients over VXLAN), attaches the tunnel monitor (web's underlay), the rate limiter and the HTTP
/// filter (with a blocked path) to the web host, drives real traffic (ping, curl against python3's
/// http.server, iperf3), prints what each controller saw, writes the tunnel monitor's HTML
/// report, and tears everything down, also on SIGINT/SIGTERM.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo", abstract: "The netbpf demo: a simulated network, controllers, real traffic, reports.",
        subcommands: [NetworkDemoCommand.self, SyscallsDemoCommand.self], defaultSubcommand: NetworkDemoCommand.self)
}

struct NetworkDemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "network", abstract: "Run the networking demo (the default).")
    @Option(help: "The demo topology: a file, or a shipped topology's name.") var topology: String = "demo"
    @Option(help: "Seconds of iperf3 per client.") var seconds: Int = 4
    @Option(help: "Where to write the tunnel monitor's HTML report.") var report: String = "netbpf-demo-report.html"

    func run() throws {
        try reportingErrors {
            let demo = NetworkDemo(topologyPath: TopologyLocation.resolve(topology), iperfSeconds: seconds, reportPath: report)
            defer { demo.tearDown() }
            try demo.run()
        }
    }
}

/// What the demo's HTTP and iperf3 threads share with the main thread, and nothing else.
final class DemoThreadResults: Sendable {
    private struct State {
        var stopHTTP = false
        var httpLines: [String] = []
        /// iperf3's received rate per client, Mbit/s.
        var iperfMbps: [String: Double] = [:]
    }
    private let state = Mutex(State())

    var shouldStopHTTP: Bool { state.withLock { $0.stopHTTP } }
    func stopHTTP() { state.withLock { $0.stopHTTP = true } }
    var httpLines: [String] { state.withLock { $0.httpLines } }
    func addHTTPLine(_ line: String) { state.withLock { $0.httpLines.append(line) } }
    func iperfMbps(_ client: String) -> Double? { state.withLock { $0.iperfMbps[client] } }
    func setIperfMbps(_ client: String, _ value: Double) { state.withLock { $0.iperfMbps[client] = value } }
}

/// The demo's steps, each announced; `tearDown` undoes whatever was made. Used on the main
/// thread only; its threads get `results` and the namespace names they need.
final class NetworkDemo {
    let topologyPath: String
    let iperfSeconds: Int
    let reportPath: String
    var tunnel: TunnelMonitorSession?
    let started = Date()
    var simulation: String?
    var limiter: RateLimiter?
    var http: HTTPFilter?
    var httpThread: Thread?
    let httpDone = DispatchSemaphore(value: 0)
    let results = DemoThreadResults()
    let stop = StopFlag.installed()
    let store = AttachmentStore()

    init(topologyPath: String, iperfSeconds: Int, reportPath: String) {
        self.topologyPath = topologyPath
        self.iperfSeconds = iperfSeconds
        self.reportPath = reportPath
    }

    func step(_ n: Int, _ text: String) throws {
        if stop.isSet { throw ExitCode(130) }
        print(String(format: "[%4.1fs] %d/7 ", Date().timeIntervalSince(started), n) + text)
        fflush(StandardStreams.cOut)
    }

    func ns(_ host: String) -> String { "nb-\(simulation ?? "demo")-\(host)" }

    /// Runs a command in a host's namespace and returns its output.
    @discardableResult
    func exec(_ host: String, _ args: [String]) -> String { Self.exec(inNamespace: ns(host), args) }

    /// Runs `ip netns exec NAMESPACE args...` and returns its standard output.
    static func exec(inNamespace namespace: String, _ args: [String]) -> String {
        var pipeFDs: [Int32] = [0, 0]
        pipe(&pipeFDs)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, pipeFDs[1], 1)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addclose(&actions, pipeFDs[0])
        let argv = (["ip", "netns", "exec", namespace] + args).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        guard posix_spawnp(&pid, "ip", &actions, nil, argv, environ) == 0 else { return "" }
        close(pipeFDs[1])
        var out = [UInt8](), buf = [UInt8](repeating: 0, count: 4096)
        while true { let n = read(pipeFDs[0], &buf, buf.count); if n <= 0 { break }; out += buf[0..<n] }
        close(pipeFDs[0])
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        return String(decoding: out, as: UTF8.self)
    }

    func run() throws {
        try step(1, "bringing up \(topologyPath): web + client1 + client2 over VXLAN (VNI 100, 200)")
        let topology = try Topology.load(file: topologyPath)
        var options = UpOptions()
        options.recreate = true
        simulation = topology.name
        _ = try Simulation.up(topology, options: options)

        try step(2, "attaching the tunnel monitor to web's underlay eth0, and the rate limiter to web's vxlan100 ingress: client1 10mbit, client2 30mbit")
        var tunnelOptions = TunnelMonitorOptions(interface: "eth0")
        tunnelOptions.namespace = ns("web")
        let tunnelSession = try TunnelMonitorSession.start(tunnelOptions, store: store)
        tunnel = tunnelSession
        _ = try tunnelSession.tick()
        let rl = try RateLimiter.attach(interface: "vxlan100", namespace: ns("web"), direction: .ingress, keyOn: .source, store: store)
        limiter = rl
        try rl.add(try AddressPrefix("192.168.100.11"), rateBitsPerSecond: 10_000_000)
        try rl.add(try AddressPrefix("192.168.100.12"), rateBitsPerSecond: 30_000_000)

        try step(3, "attaching the HTTP filter to web's vxlan100 (socket filter + a tc blocker for /secret)")
        var httpOptions = HTTPFilter.Options()
        httpOptions.interface = "vxlan100"
        httpOptions.namespace = ns("web")
        httpOptions.blockEntries = [try .path("/secret")]
        let filter = try HTTPFilter(httpOptions)
        http = filter
        let ready = DispatchSemaphore(value: 0)
        let (results, httpDone) = (self.results, self.httpDone)
        httpThread = Thread {
            defer { httpDone.signal() }
            try? filter.run(ready: { ready.signal() }, until: { results.shouldStopHTTP }) { event in
                results.addHTTPLine(HTTPEventFormat.text(event))
            }
        }
        httpThread?.start()
        _ = ready.wait(timeout: .now() + 5)

        try step(4, "traffic: ping over both VNIs, curl GET / /missing /secret from client1")
        let ping1 = exec("client1", ["ping", "-c", "3", "-i", "0.2", "-q", "192.168.100.1"]).split(separator: "\n").last(where: { $0.contains("packets") }) ?? ""
        let ping2 = exec("client2", ["ping", "-c", "3", "-i", "0.2", "-q", "192.168.200.1"]).split(separator: "\n").last(where: { $0.contains("packets") }) ?? ""
        print("         client1 -> web (VNI 100): \(ping1)")
        print("         client2 -> web (VNI 200): \(ping2)")
        for path in ["/", "/missing", "/secret"] {
            let code = exec("client1", ["curl", "-s", "-o", "/dev/null", "-m", "2", "-w", "%{http_code}", "http://192.168.100.1\(path)"])
            print("         curl http://192.168.100.1\(path) -> \(code == "000" ? "no answer (blocked)" : code)")
        }

        try step(5, "traffic: iperf3 from client1 and client2 at the same time (\(iperfSeconds) s)")
        let group = DispatchGroup()
        for (client, port) in [("client1", 5201), ("client2", 5202)] {
            group.enter()
            let (namespace, seconds) = (ns(client), iperfSeconds)
            Thread {
                let json = Self.exec(inNamespace: namespace, ["iperf3", "-c", "192.168.100.1", "-p", "\(port)", "-t", "\(seconds)", "-O", "1", "-J"])
                if let j = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any],
                   let bps = ((j["end"] as? [String: Any])?["sum_received"] as? [String: Any])?["bits_per_second"] as? Double {
                    results.setIperfMbps(client, bps / 1e6)
                }
                group.leave()
            }.start()
        }
        group.wait()

        try step(6, "what the controllers saw")
        print("  rate limiter (configured vs achieved by iperf3):")
        for (client, configured) in [("client1", 10.0), ("client2", 30.0)] {
            let got = results.iperfMbps(client) ?? 0
            print(String(format: "    %@  configured %5.1f Mbit/s  achieved %5.1f Mbit/s  (%+.0f%%)", client, configured, got, (got / configured - 1) * 100))
        }
        for e in try rl.entries() {
            print("    \(e.prefix): passed \(e.passedPackets) packets / \(e.passedBytes) bytes, dropped \(e.droppedPackets)")
        }
        results.stopHTTP()
        _ = httpDone.wait(timeout: .now() + 3)
        let sample = try tunnelSession.tick()
        print("  tunnel monitor on web's eth0 (VXLAN conversations since the start):")
        for v in sample.vnis {
            print("    VNI \(v.vni.map(String.init) ?? "?"): \(v.conversations) conversations, tx \(v.txPackets) packets / \(v.txBytes) bytes, rx \(v.rxPackets) packets / \(v.rxBytes) bytes")
        }
        let snapshot = sample.snapshot()
        try TunnelMonitorSession.writeAtomically(Data(TunnelWebPage.report(snapshot: snapshot, source: "netbpf demo").utf8), to: reportPath)
        print("    HTML report: \(reportPath) (\(snapshot.conversations.count) conversations)")
        print("  HTTP filter:")
        for line in results.httpLines { print("    " + line) }
        print("  attached on web (netbpf list):")
        for row in try Attacher(store: store).list(namespace: ns("web")) {
            print("    \(row.interface) \(row.hook) \(row.programName) (id \(row.programID), by \(row.owner))")
        }
    }

    func tearDown() {
        print(String(format: "[%4.1fs] 7/7 tearing down: controllers, programs, pins, namespaces", Date().timeIntervalSince(started)))
        results.stopHTTP()
        if httpThread != nil { _ = httpDone.wait(timeout: .now() + 3) }
        http?.close()
        try? limiter?.detach(store: store)
        tunnel?.stop()
        if let simulation { _ = try? Simulation.down(simulation) }
        print(String(format: "[%4.1fs] done; nothing is left (check: netbpf doctor, ip netns list)", Date().timeIntervalSince(started)))
    }
}
