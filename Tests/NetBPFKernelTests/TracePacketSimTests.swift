import Foundation
import Glibc
import NetBPFAttach
import NetBPFControllers
import NetBPFNetlink
import NetBPFSim
import NetBPFTestSupport
import Testing

/// `netbpf trace packet` over topologies/demo.yaml with the demo's controllers (the tunnel
/// monitor on web's eth0, the rate limiter and the HTTP filter blocking /secret on web's
/// vxlan100 ingress, as `netbpf demo` attaches them): the whole printed path of a delivered ping
/// (request and reply) and of a blocked HTTP request.
@Suite(.serialized, .enabled(if: TestEnvironment.isRoot, "requires root: trace packet attaches tc probes in a simulation"))
struct TracePacketSimTests {
    /// Runs `netbpf trace packet ARGS` until it is ready, then `traffic`, then waits for it to exit.
    static func trace(_ args: [String], traffic: () throws -> Void) throws -> (status: Int32?, stdout: String, stderr: String) {
        let p = try SimLab.Spawned([CLI.binary, "trace", "packet", "--seconds", "40"] + args)
        guard p.waitForStderr("Hit Ctrl-C", timeout: 90) else {
            p.signal(SIGKILL)
            _ = p.wait(timeout: 5)
            return (nil, p.stdout, p.stderr)
        }
        try traffic()
        let status = p.wait(timeout: 45)
        if status == nil { p.signal(SIGKILL); _ = p.wait(timeout: 5) }
        return (status, p.stdout, p.stderr)
    }

    @Test func pingDeliveredAndHTTPRequestBlockedOverTheDemo() throws {
        let name = SimLab.name("pt3")
        let state = "/tmp/netbpf-pt3-state-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: state) }
        try SimLab.withSimulation(SimLab.topology("demo"), name: name) { journal in
            let web = try #require(journal.hosts["web"]), client1 = try #require(journal.hosts["client1"])
            let store = AttachmentStore(directory: state + "/attach")
            // The demo's controllers (NetworkDemo's steps 2 and 3).
            var tunnelOptions = TunnelMonitorOptions(interface: "eth0")
            tunnelOptions.namespace = web
            let tunnel = try TunnelMonitorSession.start(tunnelOptions, store: store)
            defer { tunnel.stop() }
            let limiter = try RateLimiter.attach(interface: "vxlan100", namespace: web, direction: .ingress, keyOn: .source, store: store)
            defer { try? limiter.detach(store: store) }
            try limiter.add(try AddressPrefix("192.168.100.11"), rateBitsPerSecond: 10_000_000)
            try limiter.add(try AddressPrefix("192.168.100.12"), rateBitsPerSecond: 30_000_000)
            var http = HTTPFilter.Options()
            http.interface = "vxlan100"
            http.namespace = web
            http.blockEntries = [try .path("/secret")]
            http.recordDirectory = state + "/attach"
            let filter = try HTTPFilter(http)
            defer { filter.close() }
            // Neighbours and VXLAN forwarding tables learned, so the traced packets go unicast.
            #expect(try SimLab.ping(client1, "192.168.100.1", count: 1))

            // A ping: the request enters web through the tunnel and is answered by web's kernel; the
            // reply goes back to client1. iputils ping as root reads replies on a raw socket: the raw
            // socket gets a clone and ping_rcv frees the original with NO_SOCKET (it has no ping socket).
            let requestRoute = "client1/vxlan100 egress -> client1/eth0 egress -> br0/client1-eth0 ingress -> br0/web-eth0 egress"
                + " -> web/eth0 ingress (tunnel_ingress: ok) -> web/vxlan100 ingress (ratelimit: ok, http_block: ok) -> delivered"
            let replyRoute = "web/vxlan100 egress -> web/eth0 egress (tunnel_egress: ok) -> br0/web-eth0 ingress -> br0/client1-eth0 egress"
                + " -> client1/eth0 ingress -> client1/vxlan100 ingress -> "
            let raw = try Self.pingPaths(simulation: name, client1)
            #expect(raw.request.contains(" icmp 192.168.100.11 > 192.168.100.1 echo request id "), "\(raw.request)")
            #expect(Self.route(raw.request) == requestRoute, "\(raw.request)")
            #expect(Self.route(raw.reply) == replyRoute + "dropped: NO_SOCKET (ping_rcv; a clone lives on)", "\(raw.reply)")
            // With ICMP datagram sockets allowed, ping uses one and ping_rcv delivers the reply to it.
            let sysctl = try SimLab.inNamespace(client1, ["sysctl", "-w", "net.ipv4.ping_group_range=0 2147483647"])
            try #require(sysctl.status == 0, "\(sysctl.stderr)")
            let datagram = try Self.pingPaths(simulation: name, client1)
            #expect(Self.route(datagram.request) == requestRoute, "\(datagram.request)")
            #expect(Self.route(datagram.reply) == replyRoute + "delivered", "\(datagram.reply)")

            // GET /secret: the HTTP filter's tc program drops the request segment at web's vxlan100 ingress.
            let get = try Self.trace(["--simulation", name, "--count", "1", "--json", "tcp", "dst", "port", "80", "and", "tcp[tcpflags]", "&", "tcp-push", "!=", "0"]) {
                let curl = try SimLab.inNamespace(client1, ["curl", "-s", "-o", "/dev/null", "-m", "2", "-w", "%{http_code}", "http://192.168.100.1/secret"])
                #expect(curl.stdout == "000", "the request must not be answered: \(curl.stdout)")
            }
            try #require(get.status == 0, "trace packet: \(get.status.map(String.init) ?? "did not finish") \(get.stderr)")
            let json = try #require(get.stdout.split(separator: "\n").first.map(String.init), "\(get.stderr)")
            let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
            #expect(object["path"] as? String == "client1/vxlan100 egress -> client1/eth0 egress -> br0/client1-eth0 ingress -> br0/web-eth0 egress"
                    + " -> web/eth0 ingress (tunnel_ingress: ok) -> web/vxlan100 ingress (ratelimit: ok, http_block: SHOT) -> dropped: TC_INGRESS", "\(json)")
            let packet = object["packet"] as? String ?? ""
            #expect(packet.hasPrefix("tcp 192.168.100.11:") && packet.contains(" > 192.168.100.1:80 [P.] "), "\(packet)")
            let end = object["end"] as? [String: Any]
            #expect(end?["kind"] as? String == "dropped" && end?["reason"] as? String == "TC_INGRESS" && end?["place"] as? String == "web/vxlan100", "\(json)")
            let hops = object["hops"] as? [[String: Any]] ?? []
            #expect(hops.count == 6, "\(json)")
            // On the underlay the packet was seen inside VXLAN.
            #expect(hops.map { $0["encapsulated"] as? Bool == true } == [false, true, true, true, true, false], "\(json)")
        }
    }

    /// `trace packet icmp` around one ping from `client`: the request's and the reply's lines.
    static func pingPaths(simulation: String, _ client: String) throws -> (request: String, reply: String) {
        let ping = try trace(["--simulation", simulation, "--count", "2", "icmp"]) {
            let answered = try SimLab.ping(client, "192.168.100.1", count: 1)
            #expect(answered)
        }
        try #require(ping.status == 0, "trace packet: \(ping.status.map(String.init) ?? "did not finish") \(ping.stderr)")
        let lines = ping.stdout.split(separator: "\n").map(String.init)
        try #require(lines.count == 2, "\(ping.stdout)")
        return (try #require(lines.first { $0.contains("echo request") }), try #require(lines.first { $0.contains("echo reply") }))
    }

    /// The hops of a human line: what follows "TIME PACKET: ".
    static func route(_ line: String) -> String {
        guard let r = line.range(of: ": ") else { return line }
        return String(line[r.upperBound...])
    }

    /// Without a simulation: namespaces and interfaces by name, and a drop by the stack.
    @Test func udpToAClosedPortInGivenNamespaces() throws {
        try NetworkNamespace.withTemporaryPair(prefix: "pt3", addresses: ("10.231.0.1/24", "10.231.0.2/24")) { a, b in
            let r = try Self.trace(["--netns", a, "-i", "\(b)/vb", "--count", "1", "udp", "port", "9"]) {
                let send = try SimLab.inNamespace(a, ["python3", "-c", "import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x' * 10, ('10.231.0.2', 9))"])
                #expect(send.status == 0, "\(send.stderr)")
            }
            try #require(r.status == 0, "trace packet: \(r.status.map(String.init) ?? "did not finish") \(r.stderr)")
            let lines = r.stdout.split(separator: "\n").map(String.init)
            try #require(lines.count == 1, "\(r.stdout)")
            #expect(lines[0].contains(" udp 10.231.0.1:") && lines[0].contains(" > 10.231.0.2:9 len 10: "), "\(lines[0])")
            #expect(Self.route(lines[0]) == "\(a)/va egress -> \(b)/vb ingress -> dropped: NO_SOCKET (__udp4_lib_rcv)", "\(lines[0])")
            #expect(r.stderr.contains("on 6 hooks in 2 namespaces"), "lo and va in the first, vb in the second: \(r.stderr)")
        }
    }

    @Test func badInput() throws {
        let sim = try SimLab.netbpf(["trace", "packet", "--simulation", "nope-pt3", "icmp"])
        #expect(sim.status == 1 && sim.stderr.split(separator: "\n").count == 1 && sim.stderr.contains("no simulation 'nope-pt3'"), "\(sim.stderr)")
        let ns = try SimLab.netbpf(["trace", "packet", "--netns", "no-such-ns-pt3", "icmp"])
        #expect(ns.status == 1 && ns.stderr.contains("no network namespace 'no-such-ns-pt3'") && ns.stderr.contains("hint:"), "\(ns.stderr)")
        let count = try SimLab.netbpf(["trace", "packet", "--count", "0", "-i", "lo", "icmp"])
        #expect(count.status == 1 && count.stderr.contains("--count"), "\(count.stderr)")
        let filter = try SimLab.netbpf(["trace", "packet", "-i", "lo", "udp", "port", "banana"])
        #expect(filter.status == 1 && filter.stderr.contains("banana"), "\(filter.stderr)")
        // Nothing of it stays on lo.
        let list = try SimLab.netbpf(["list", "lo"])
        #expect(!list.stdout.contains("pp_"), "\(list.stdout)")
    }
}
