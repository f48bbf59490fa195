import Foundation
import Glibc
import Testing
import NetBPFAttach
import NetBPFControllers
import NetBPFFleet
import NetBPFTestSupport

/// One fleet test's world: a PKI in a temporary directory, a real etcd (TLS, client
/// certificates required, auth on with the fleet's roles), and two namespaces joined by a
/// veth pair: "fla" in `client` (10.77.0.1), "flb" in `server` (10.77.0.2). Records go to a
/// private NETBPF_STATE_DIR. `with` removes all of it afterwards, also when the test throws.
struct FleetLab {
    let directory: String
    let pki: FleetPKI
    let etcd: EtcdServer
    let layout: KeyLayout
    let client: String
    let server: String
    let nodes: [String]
    var stateDirectory: String { directory + "/state" }
    var store: AttachmentStore { AttachmentStore(directory: stateDirectory + "/attach") }

    static var canRun: Bool { TestEnvironment.isRoot && EtcdServer.isInstalled && FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl") }

    static func with<T>(nodes: [String] = ["n1", "n2"], _ body: (FleetLab) async throws -> T) async throws -> T {
        var template = Array("/tmp/netbpf-fleet-test-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw FleetError("mkdtemp: errno \(errno)") }
        let dir = String(cString: made)
        let tag = "fl\(getpid() % 10000)\(Int.random(in: 10...99))"
        let lab = FleetLab(directory: dir, pki: FleetPKI(directory: dir + "/pki"),
                           etcd: try EtcdServer(dataDirectory: dir + "/etcd", pki: FleetPKI(directory: dir + "/pki")),
                           layout: try KeyLayout(), client: tag + "c", server: tag + "s", nodes: nodes)
        defer {
            lab.etcd.stop(kill: true)
            for limiter in lab.store.all() { try? Attacher(store: lab.store).undo(limiter) }
            _ = try? TestPrograms.run("/usr/sbin/ip", ["netns", "del", lab.client])
            _ = try? TestPrograms.run("/usr/sbin/ip", ["netns", "del", lab.server])
            try? FileManager.default.removeItem(atPath: dir)
        }
        try lab.pki.generate(nodes: nodes, serverAddresses: ["127.0.0.1"])
        try lab.etcd.start()
        try await lab.pki.bootstrap(endpoint: lab.etcd.endpoint, layout: lab.layout, nodes: nodes)
        try lab.makeNamespaces()
        return try await body(lab)
    }

    func ip(_ args: [String]) throws {
        let r = try TestPrograms.run("/usr/sbin/ip", args)
        guard r.status == 0 else { throw FleetError("ip \(args.joined(separator: " ")): \(r.stderr)") }
    }

    func makeNamespaces() throws {
        try ip(["netns", "add", client])
        try ip(["netns", "add", server])
        try ip(["-n", client, "link", "add", "name", "fla", "type", "veth", "peer", "name", "flb", "netns", server])
        try ip(["-n", client, "addr", "add", "10.77.0.1/24", "dev", "fla"])
        try ip(["-n", server, "addr", "add", "10.77.0.2/24", "dev", "flb"])
        try ip(["-n", client, "link", "set", "fla", "up"])
        try ip(["-n", server, "link", "set", "flb", "up"])
        try ip(["-n", client, "link", "set", "lo", "up"])
        try ip(["-n", server, "link", "set", "lo", "up"])
    }

    /// An etcd client as `user` (its certificate and password from the PKI).
    func client(user: String) throws -> EtcdClient {
        try EtcdClient(endpoint: etcd.endpoint, tls: pki.tls(user: user), credentials: try pki.credentials(user: user))
    }

    /// The rate limiter on the client's "fla" egress, keyed on the destination.
    func attachLimiter() throws -> RateLimiter {
        try RateLimiter.attach(interface: "fla", namespace: client, direction: .egress, keyOn: .destination, store: store)
    }

    /// Waits (up to `seconds`) until `node`'s status says it applied `revision` or later.
    func waitForStatus(_ node: String, revision: Int64, seconds: Double = 10, as user: EtcdClient) async throws -> AgentHealth {
        let deadline = Date().addingTimeInterval(seconds)
        var last: AgentHealth?
        while Date() < deadline {
            if let kv = try? await user.range(layout.status(node)).kvs.first, let h = try? AgentHealth.decode(kv.value) {
                last = h
                if h.revision >= revision { return h }
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw FleetError("node \(node) did not report revision \(revision) within \(seconds) s (last: \(String(describing: last)))")
    }

    /// Mbit/s the server received from the client over `seconds` (iperf3 TCP, first second omitted).
    func iperf(seconds: Int = 3) throws -> Double {
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        server.arguments = ["netns", "exec", self.server, "iperf3", "-s", "-B", "10.77.0.2", "-1"]
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        try server.run()
        usleep(300_000)
        let r = try TestPrograms.run("/usr/sbin/ip", ["netns", "exec", client, "iperf3", "-c", "10.77.0.2", "-t", "\(seconds)", "-O", "1", "-J"])
        server.waitUntilExit()
        guard let json = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any],
              let end = json["end"] as? [String: Any], let received = end["sum_received"] as? [String: Any],
              let bps = received["bits_per_second"] as? Double else {
            throw FleetError("iperf3 gave no result: \(r.stderr) \(r.stdout.prefix(300))")
        }
        return bps / 1e6
    }
}

/// Runs an agent in this process until `body` returns, then stops it and closes its client.
func withAgent<T>(_ lab: FleetLab, node: String, target: RateLimitTarget, ttl: Int = 10,
                  _ body: (FleetAgent) async throws -> T) async throws -> T {
    try await withAgent(lab, node: node, targets: NodeTargets(rateLimit: target), ttl: ttl, body)
}

/// Runs an agent of the node's `targets` in this process until `body` returns, then stops it
/// and closes its client.
func withAgent<T>(_ lab: FleetLab, node: String, targets: NodeTargets, ttl: Int = 10,
                  _ body: (FleetAgent) async throws -> T) async throws -> T {
    let etcd = try lab.client(user: FleetPKI.user(node: node))
    var options = FleetAgent.Options(node: node, layout: lab.layout)
    options.leaseTTL = ttl
    let agent = try FleetAgent(etcd: etcd, options: options, targets: targets)
    let task = Task { await agent.run() }
    do {
        let v = try await body(agent)
        task.cancel(); await task.value; await etcd.close()
        return v
    } catch {
        task.cancel(); await task.value; await etcd.close()
        throw error
    }
}

/// Runs `body` with an etcd client and closes it after.
func withClient<T>(_ make: @autoclosure () throws -> EtcdClient, _ body: (EtcdClient) async throws -> T) async throws -> T {
    let c = try make()
    do { let v = try await body(c); await c.close(); return v } catch { await c.close(); throw error }
}

extension FleetLab {
    /// Brings topologies/vlan-learning.yaml up as simulation `name` in this lab's state directory,
    /// runs `body` with `curl(N)` (client N's GET of the workers' page: the answering worker's
    /// name, or "curl exit CODE"), and takes it down after.
    func withVLANSimulation<T>(named name: String, _ body: (_ curl: (Int) throws -> String) async throws -> T) async throws -> T {
        let template = try String(contentsOf: TestPrograms.repositoryRoot.appendingPathComponent("topologies/vlan-learning.yaml"), encoding: .utf8)
        let topology = directory + "/vlan.yaml"
        try template.replacingOccurrences(of: "name: vlan-learning", with: "name: \(name)").write(toFile: topology, atomically: true, encoding: .utf8)
        var env = ProcessInfo.processInfo.environment
        env["NETBPF_STATE_DIR"] = stateDirectory
        let up = try TestPrograms.run(CLI.binary, ["sim", "up", topology], environment: env)
        defer {
            let down = try? TestPrograms.run(CLI.binary, ["sim", "down", name], environment: env)
            if down?.status != 0 { Issue.record("sim down: \(down?.stderr ?? "did not run")") }
        }
        try #require(up.status == 0, "sim up: \(up.stderr)")
        func curl(_ client: Int) throws -> String {
            // A failed ARP (before a mapping) leaves a FAILED neighbour that fails the next
            // connect at once: start each request from an empty neighbour table.
            _ = try TestPrograms.run("/usr/sbin/ip", ["-n", "nb-\(name)-client\(client)", "neigh", "flush", "all"])
            let r = try TestPrograms.run("/usr/sbin/ip", ["netns", "exec", "nb-\(name)-client\(client)", "curl", "-s", "-m", "2", "http://172.16.1.5/"])
            return r.status == 0 ? r.stdout.trimmingCharacters(in: .whitespacesAndNewlines) : "curl exit \(r.status)"
        }
        return try await body(curl)
    }
}
