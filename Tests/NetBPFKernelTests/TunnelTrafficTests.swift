import Foundation
import Testing
import NetBPF
import NetBPFAttach
@testable import NetBPFControllers
import NetBPFNetlink
import NetBPFSim
import NetBPFTestSupport

/// The tunnel monitor on real VXLAN traffic (TunnelLab: hosts on an underlay bridge, one VXLAN
/// device per VNI). The monitor is attached to h0's eth0, so every frame h0 sends or receives
/// over a tunnel passes it twice at most: tc egress (tx) and tc ingress (rx). At both hooks
/// skb->len starts at the outer Ethernet header and ends at the end of the inner frame (no FCS),
/// so a `ping -s N` echo counts N + 8 (ICMP) + 20 (inner IPv4) + 14 (inner Ethernet)
/// + 8 (VXLAN) + 8 (UDP) + 20 (outer IPv4; 40 for IPv6) + 14 (outer Ethernet) bytes.
@Suite(.serialized, .enabled(if: TestEnvironment.isRoot, "requires root: namespaces, VXLAN devices, tc programs"))
struct TunnelTrafficTests {
    /// Attaches the monitor to `host`'s eth0 with a private attachment store, runs `body`,
    /// detaches, and checks nothing is left: no records, no pins, no tc programs on eth0.
    func withMonitor<T>(_ lab: TunnelLab, host: Int = 0, _ body: (TunnelMonitor) throws -> T) throws -> T {
        try withMonitor(namespace: lab.hosts[host], body)
    }

    func withMonitor<T>(namespace ns: String, _ body: (TunnelMonitor) throws -> T) throws -> T {
        let stateDir = FileManager.default.temporaryDirectory.appendingPathComponent("nbtm-state-\(getpid())-\(UInt16.random(in: 0...0xFFFF))").path
        let store = AttachmentStore(directory: stateDir + "/attach")
        defer { try? FileManager.default.removeItem(atPath: stateDir) }
        let monitor = try TunnelMonitor.attach(interface: "eth0", namespace: ns, store: store)
        let result: T
        do { result = try body(monitor) } catch {
            try? monitor.detach()
            throw error
        }
        try monitor.detach()
        #expect(store.all().isEmpty)
        let pins = (try? FileManager.default.contentsOfDirectory(atPath: Pinning.root + "/" + ns)) ?? []
        #expect(pins.isEmpty, "pins left: \(pins)")
        let listed = try Attacher(store: store).list(interface: "eth0", namespace: ns)
        #expect(listed.isEmpty, "still attached: \(listed.map(\.programName))")
        return result
    }

    static func key(_ oa: String, _ ob: String, _ ia: String, _ ib: String, vni: UInt32, proto: UInt16 = 0x0800) -> TMKey {
        TMKey(outerA: TunnelAddress.parse(oa)!, outerB: TunnelAddress.parse(ob)!, innerA: TunnelAddress.parse(ia)!, innerB: TunnelAddress.parse(ib)!,
              vni: vni, innerProto: proto)
    }

    @Test(.timeLimit(.minutes(2)))
    func pingsAreCountedExactlyPerKeyAndFloodsAreNot() throws {
        try TunnelLab.with(hosts: 3, vnis: 3) { lab in
            try withMonitor(lab) { monitor in
                try lab.ping(from: 0, "192.168.0.2", count: 4, size: 512)   // h0 -> h1, VNI 10000
                try lab.ping(from: 0, "192.168.1.3", count: 3, size: 128)   // h0 -> h2, VNI 10001
                try lab.ping(from: 1, "192.168.2.3", count: 2, size: 64)    // h1 -> h2, VNI 10002 (not via h0)
                let r = try monitor.read()

                let k1 = Self.key("172.16.1.100", "172.16.1.101", "192.168.0.1", "192.168.0.2", vni: 10000)
                let c1 = try #require(r.conversations[k1], "keys: \(r.conversations.keys.map { TunnelKeyNames($0) })")
                #expect(c1[packets: .egressAToB] == 4 && c1[packets: .ingressBToA] == 4)
                #expect(c1[packets: .egressBToA] == 0 && c1[packets: .ingressAToB] == 0)
                let w1 = UInt64(VXLANFrame.wireLength(icmpPayload: 512))
                #expect(w1 == 604)
                #expect(c1[bytes: .egressAToB] == 4 * w1 && c1[bytes: .ingressBToA] == 4 * w1)

                let k2 = Self.key("172.16.1.100", "172.16.1.102", "192.168.1.1", "192.168.1.3", vni: 10001)
                let c2 = try #require(r.conversations[k2])
                #expect(c2.txPackets == 3 && c2.rxPackets == 3)
                #expect(c2.txBytes == 3 * 220 && c2.rxBytes == 3 * 220)

                // VNI 10002 ran between h1 and h2: nothing of it is a conversation at h0, only
                // its flooded ARP request (multicast to 239.1.1.3) reached h0.
                #expect(!r.conversations.keys.contains { $0.vni == 10002 })
                #expect((r.floods[TMFloodKey(group: [239, 1, 1, 3], vni: 10002)]?.rxPackets ?? 0) >= 1)
                // h0's own ARP requests were flooded to the groups: counted there, not as conversations.
                #expect((r.floods[TMFloodKey(group: [239, 1, 1, 1], vni: 10000)]?.txPackets ?? 0) >= 1)
                #expect((r.floods[TMFloodKey(group: [239, 1, 1, 2], vni: 10001)]?.txPackets ?? 0) >= 1)
                for k in r.conversations.keys {
                    let b = k.outerB
                    #expect(!(b[10] == 0xff && b[11] == 0xff && b[12] >= 224), "multicast outer destination in a key: \(TunnelKeyNames(k))")
                }
                // The unicast ARP replies are conversations of their own (inner_proto arp).
                #expect(r.conversations.keys.contains { $0.vni == 10000 && $0.innerProto == 0x0806 })
                // Only ICMP and ARP went through: every other key is ARP.
                #expect(r.conversations.keys.filter { $0.innerProto == 0x0800 }.count == 2)
                #expect(r.stats[.outerTruncated] + r.stats[.vxlanTruncated] + r.stats[.vxlanFlags] + r.stats[.innerTruncated] + r.stats[.tableFull] == 0)
                #expect(r.stats[.seen] == r.stats[.counted] + r.stats[.flooded] + r.stats[.notVXLAN] + r.stats[.outerFragment])

                // More pings on VNI 10000 change only that key.
                let before = r.conversations
                try lab.ping(from: 0, "192.168.0.2", count: 2, size: 512)
                let after = try monitor.read().conversations
                #expect(after[k1]?[packets: .egressAToB] == 6)
                #expect(after[k2] == before[k2])
            }
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func jumboFramesAreCountedWhole() throws {
        try TunnelLab.with(hosts: 2, vnis: 1, mtu: 9000) { lab in
            try withMonitor(lab) { monitor in
                try lab.ping(from: 0, "192.168.0.2", count: 3, size: 8000)
                let r = try monitor.read()
                let k = Self.key("172.16.1.100", "172.16.1.101", "192.168.0.1", "192.168.0.2", vni: 10000)
                let c = try #require(r.conversations[k])
                #expect(c.txPackets == 3 && c.rxPackets == 3)
                #expect(c.txBytes == 3 * 8092 && c.rxBytes == 3 * 8092)
            }
        }
    }

    @Test(.timeLimit(.minutes(2)))
    func ipv6UnderlayIsCounted() throws {
        try TunnelLab.with(hosts: 2, ipv6Underlay: true) { lab in
            try withMonitor(lab) { monitor in
                try lab.ping(from: 0, "10.200.0.2", count: 3, size: 512)
                let r = try monitor.read()
                let k = Self.key("fd00::1", "fd00::2", "10.200.0.1", "10.200.0.2", vni: 20000)
                let c = try #require(r.conversations[k], "keys: \(r.conversations.keys.map { TunnelKeyNames($0) })")
                let w = UInt64(VXLANFrame.wireLength(icmpPayload: 512, outerIPv6: true))
                #expect(w == 624)
                #expect(c.txPackets == 3 && c.rxPackets == 3 && c.txBytes == 3 * w && c.rxBytes == 3 * w)
            }
        }
    }

    /// TCP through the tunnel: the kernel hands GSO frames of up to 64 KiB to eth0, and the
    /// monitor counts one packet per segment and the bytes the segments put on the wire
    /// (payload + the headers each segment repeats), so its bytes sit just above the payload.
    /// A Python sender writes exactly N bytes and waits for the receiver to confirm all of it.
    @Test(.timeLimit(.minutes(2)))
    func tcpThroughTheTunnelCountsWireSegments() throws {
        try TunnelLab.with(hosts: 2, vnis: 1) { lab in
            try withMonitor(lab) { monitor in
                let server = Process()
                server.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
                server.arguments = ["netns", "exec", lab.hosts[1], "/usr/bin/python3", "-c", """
                import socket
                s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(("192.168.0.2", 5001)); s.listen(1); s.settimeout(30)
                c, _ = s.accept(); n = 0
                while True:
                    d = c.recv(1 << 20)
                    if not d: break
                    n += len(d)
                c.sendall(str(n).encode()); c.close()
                """]
                server.standardOutput = FileHandle.nullDevice; server.standardError = FileHandle.nullDevice
                try server.run()
                defer { if server.isRunning { server.terminate() }; server.waitUntilExit() }
                usleep(500_000)
                func txPackets() throws -> UInt64 {
                    let j = try NetlinkLab.exec(lab.hosts[0], ["ip", "-s", "-j", "link", "show", "eth0"]).stdout
                    let a = try JSONSerialization.jsonObject(with: Data(j.utf8)) as? [[String: Any]]
                    return ((a?.first?["stats64"] as? [String: Any])?["tx"] as? [String: Any])?["packets"] as? UInt64 ?? 0
                }
                let tx0 = try txPackets()
                let n = 20 << 20
                let r = try NetlinkLab.exec(lab.hosts[0], ["/usr/bin/python3", "-c", """
                import socket, sys
                n = int(sys.argv[1]); c = socket.create_connection(("192.168.0.2", 5001), timeout=30)
                buf = b"x" * 65536; sent = 0
                while sent < n: sent += c.send(buf[:min(65536, n - sent)])
                c.shutdown(socket.SHUT_WR); print(c.recv(100).decode())
                """, "\(n)"])
                #expect(r.status == 0 && r.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "\(n)", "\(r.stdout) \(r.stderr)")
                let skbs = try txPackets() - tx0
                let k = Self.key("172.16.1.100", "172.16.1.101", "192.168.0.1", "192.168.0.2", vni: 10000)
                let c = try #require(try monitor.read().conversations[k])
                let ratio = Double(c.aToBBytes) / Double(n)
                // Per 1398-byte segment: 14 + 20 + 8 + 8 + 14 + 20 + 32 (TCP with timestamps) = 116 bytes of headers.
                #expect(ratio > 1.05 && ratio < 1.10, "monitor counted \(c.aToBBytes) bytes for \(n) bytes of payload (x\(ratio))")
                let segments = Double(n) / 1398
                #expect(Double(c.aToBPackets) > segments && Double(c.aToBPackets) < segments * 1.05 + 20, "\(c.aToBPackets) packets for \(Int(segments)) segments")
                // eth0 saw far fewer (GSO) skbs than wire segments: the per-segment count is the monitor's doing.
                #expect(skbs * 5 < c.aToBPackets, "eth0 sent \(skbs) skbs, the monitor counted \(c.aToBPackets) segments")
            }
        }
    }

    /// The bad frames of TunnelParserTests sent over a real veth, including the IPv4 and IPv6
    /// ones too short for the kernel's test-run: each lands in its outcome at tc ingress.
    @Test(.timeLimit(.minutes(2)))
    func malformedFramesFromTheWireAreCountedByReason() throws {
        try NetlinkLab.withVethPair { ns, _, _ in
            let stateDir = FileManager.default.temporaryDirectory.appendingPathComponent("nbtm-wire-\(getpid())").path
            defer { try? FileManager.default.removeItem(atPath: stateDir) }
            let store = AttachmentStore(directory: stateDir + "/attach")
            let monitor = try TunnelMonitor.attach(interface: "b", namespace: ns[1], store: store)
            defer { try? monitor.detach() }
            let frames = TunnelParserTests.badFrames()
            let script = """
            import socket, sys, time
            s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
            s.bind(("a", 0))
            for h in sys.argv[1:]:
                s.send(bytes.fromhex(h))
                time.sleep(0.002)
            """
            let hex = frames.map { f in f.1.map { String(format: "%02x", $0) }.joined() }
            let r = try NetlinkLab.exec(ns[0], ["/usr/bin/python3", "-c", script] + hex)
            #expect(r.status == 0, "\(r.stderr)")
            usleep(200_000)
            let got = try monitor.read()
            var expected = TMStats()
            for f in frames { expected[f.2] += 1 }
            expected[.seen] = UInt64(frames.count)
            for st in TMStat.allCases { #expect(got.stats[st] == expected[st], "\(st.name): \(got.stats[st]), expected \(expected[st])") }
            #expect(got.conversations.isEmpty && got.floods.isEmpty)
            try monitor.detach()
            #expect(store.all().isEmpty)
        }
    }

    /// The monitor passes frames with TC_ACT_UNSPEC, so a program attached after it on the same
    /// hook still runs (with TC_ACT_OK it would end the tcx chain and the counter would stay 0).
    @Test(.timeLimit(.minutes(2)))
    func programsAfterTheMonitorStillRun() throws {
        try TunnelLab.with(hosts: 2, vnis: 1) { lab in
            try withMonitor(lab) { monitor in
                let stateDir = FileManager.default.temporaryDirectory.appendingPathComponent("nbtm-chain-\(getpid())").path
                defer { try? FileManager.default.removeItem(atPath: stateDir) }
                let store = AttachmentStore(directory: stateDir + "/attach")
                let counter = try BPFObject.load(path: try TestPrograms.object("count_packets"))
                var options = TCAttachOptions()
                options.direction = .egress
                let record = try Attacher(store: store).attachTC(try counter.program(named: "count_tc"), of: counter, to: "eth0",
                                                                 namespace: lab.hosts[0], options: options)
                defer { try? Attacher(store: store).undo(record) }
                try lab.ping(from: 0, "192.168.0.2", count: 3, size: 100)
                let counted = try ArrayMap<UInt64>(counter.map(named: "counters")).get(0)
                #expect(counted >= 3, "the program after the monitor saw \(counted) frames")
                let k = Self.key("172.16.1.100", "172.16.1.101", "192.168.0.1", "192.168.0.2", vni: 10000)
                #expect(try monitor.read().conversations[k]?.txPackets == 3)
            }
        }
    }

    /// BCC's own set-up: topologies/tunnel-mesh (9 hosts, VNIs 10000-10003, multicast groups
    /// 239.1.1.1-4) through `netbpf sim`, the monitor on host0's eth0, and the pings of BCC's
    /// traffic.sh, three of each: every conversation exact, in packets and in bytes.
    @Test(.timeLimit(.minutes(3)))
    func bccTrafficOnTheTunnelMesh() throws {
        let name = SimLab.name("tmon")
        try SimLab.withSimulation(SimLab.topology("tunnel-mesh"), name: name) { _ in
            let host0 = "nb-\(name)-host0"
            try withMonitor(namespace: host0) { monitor in
                // (address, ping -s): traffic.sh from host0; 192.168.0.1 is host0 itself.
                let pings: [(String, Int)] = [("192.168.0.1", 512), ("192.168.0.2", 512), ("192.168.0.3", 1024), ("192.168.0.4", 128),
                                              ("192.168.0.5", 128), ("192.168.0.6", 128), ("192.168.1.2", 128), ("192.168.1.4", 768),
                                              ("192.168.2.2", 128), ("192.168.2.7", 1024), ("192.168.3.8", 768), ("192.168.3.9", 768)]
                for (address, size) in pings {
                    let r = try NetlinkLab.exec(host0, ["ping", "-n", "-q", "-c", "3", "-i", "0.2", "-W", "2", "-s", "\(size)", address])
                    #expect(r.status == 0, "ping \(address): \(r.stdout)")
                }
                let conversations = try monitor.read().conversations
                for (address, size) in pings.dropFirst() {
                    let parts = address.split(separator: ".").map { Int($0)! }
                    let vni = UInt32(10000 + parts[2]), hostIndex = parts[3] - 1
                    let k = Self.key("172.16.1.100", "172.16.1.\(100 + hostIndex)", "192.168.\(parts[2]).1", address, vni: vni)
                    let c = conversations[k]
                    let w = UInt64(size + 92)
                    #expect(c?.txPackets == 3 && c?.rxPackets == 3, "\(address): \(c.map { "\($0.txPackets)/\($0.rxPackets)" } ?? "no key")")
                    #expect(c?[bytes: .egressAToB] == 3 * w && c?[bytes: .ingressBToA] == 3 * w, "\(address): bytes per packet \(w)")
                }
                // host0's own address never crossed the tunnel; every IPv4 conversation is one of the pings.
                #expect(!conversations.keys.contains { TunnelKeyNames($0).innerB == "192.168.0.1" || TunnelKeyNames($0).innerA == TunnelKeyNames($0).innerB })
                #expect(conversations.keys.filter { $0.innerProto == 0x0800 }.count == pings.count - 1)
            }
        }
    }
}
