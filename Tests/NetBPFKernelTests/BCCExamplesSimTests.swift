import Foundation
import Glibc
import Testing
import NetBPFTestSupport

/// Issue 18's last goal: BCC's networking examples, their C unchanged from bpfcc-tools, run
/// through `netbpf attach` on the simulation topologies, with the counts their Python would
/// show read back with `netbpf map dump` / `netbpf map events` (docs/bcc-c.md, "BCC's
/// networking examples on the simulations"). Where BCC's Python builds or fills something
/// (a map entry, a prog array, a second hook sharing the module's maps), the test does the
/// same with netbpf's general commands: `map update`, `--prog-array`, `--maps-from`.
@Suite(.serialized, .enabled(if: TestEnvironment.isRoot, "requires root: simulations and attachments"),
       .enabled(if: BCCCompatTests.bpfccInstalled, "requires Debian's bpfcc-tools and python3-bpfcc (apt-get install bpfcc-tools)"))
struct BCCExamplesSimTests {
    /// Runs `body` on simulation `topology` with the examples' C extracted; detaches and brings
    /// everything down afterwards, whatever happened.
    func run(_ topology: String, _ short: String, examples: [String], _ body: (BCCSimRun) throws -> Void) throws {
        let name = SimLab.name(short)
        let run = try BCCSimRun(sim: name, examples: examples)
        try SimLab.withSimulation(SimLab.topology(topology), name: name) { _ in
            defer { run.detachAll() }
            try body(run)
        }
    }

    // MARK: simple_tc

    /// simple_tc.py: `hello` (returns 1) on a tc ingress and egress hook; the veth still passes
    /// traffic and the script prints "BPF tc functionality - SCHED_CLS: OK".
    @Test func simpleTCPassesPings() throws {
        try run("pair", "bsimple", examples: ["simple_tc"]) { r in
            let ingress = try r.attach("tc", "eth0", on: "h2", "simple_tc", ["--func", "hello"])
            let egress = try r.attach("tc", "eth0", on: "h2", "simple_tc", ["--func", "hello", "--egress"])
            #expect(ingress.programName == "hello" && egress.programName == "hello")
            let out = try r.sh("h1", ["ping", "-n", "-c", "5", "-i", "0.2", "-W", "2", "10.0.0.2"]).stdout
            #expect(out.contains("5 packets transmitted, 5 received"), "\(out)")
        }
    }

    // MARK: xdp_drop_count, xdp_macswap_count

    /// xdp_drop_count.py eth0: every frame dropped, counted per IP protocol in a per-CPU array;
    /// the script prints `1: N pkt/s` for N pings (dropcnt.sum(1)).
    @Test func xdpDropCountCountsEachPing() throws {
        try run("pair", "bxdrop", examples: ["xdp_drop_count"]) { r in
            try r.quietIPv6()
            try r.neighbour("h1", "10.0.0.2", try r.link("h2", "eth0").mac, dev: "eth0")
            let rec = try r.attach("xdp", "eth0", on: "h2", "xdp_drop_count", ["--func", "xdp_prog1"])
            let ping = try r.sh("h1", ["ping", "-n", "-c", "7", "-i", "0.2", "-W", "1", "10.0.0.2"]).stdout
            #expect(ping.contains("7 packets transmitted, 0 received"), "XDP_DROP let replies through: \(ping)")
            let counts = Dictionary(try r.dump(rec.pinDirectory + "/maps/dropcnt").map { (BCCSimRun.int($0.key) ?? -1, BCCSimRun.sum($0.value) ?? -1) }) { a, _ in a }
            #expect(counts[1] == 7, "ICMP drops: \(counts.filter { $0.value != 0 })")
            #expect(counts.filter { $0.key != 1 && $0.value != 0 }.isEmpty, "other protocols counted: \(counts.filter { $0.value != 0 })")
        }
    }

    /// xdp_macswap_count.py eth0: every frame sent back out (XDP_TX), UDP ones with their MACs
    /// swapped, counted per protocol. N datagrams: dropcnt.sum(17) == N, and the sender sees
    /// its N datagrams come back addressed to its own MAC.
    @Test func xdpMacswapCountSendsUDPBack() throws {
        try run("pair", "bxswap", examples: ["xdp_macswap_count"]) { r in
            try r.quietIPv6()
            let h1 = try r.link("h1", "eth0"), h2 = try r.link("h2", "eth0")
            try r.neighbour("h1", "10.0.0.2", h2.mac, dev: "eth0")
            let rec = try r.attach("xdp", "eth0", on: "h2", "xdp_macswap_count", ["--func", "xdp_prog1"])
            let seen = try SimLab.capture(r.ns("h1"), "eth0", ["-Q", "in", "udp", "dst", "port", "9999", "and", "ether", "dst", h1.mac], count: 6) {
                try UDPReceiver.send(from: r.ns("h1"), to: "10.0.0.2", port: 9999, count: 6)
            }
            #expect(seen.split(separator: "\n").filter { $0.contains("10.0.0.2.9999") }.count == 6, "came back: \(seen)")
            let counts = Dictionary(try r.dump(rec.pinDirectory + "/maps/dropcnt").map { (BCCSimRun.int($0.key) ?? -1, BCCSimRun.sum($0.value) ?? -1) }) { a, _ in a }
            #expect(counts[17] == 6, "UDP: \(counts.filter { $0.value != 0 })")
            #expect(counts.filter { $0.key != 17 && $0.value != 0 }.isEmpty, "\(counts.filter { $0.value != 0 })")
        }
    }

    /// xdp_redirect_map.py eth0 eth1 on the router topology's router: frames from subnet A
    /// get their MACs swapped and go out eth1 through `tx_port` (the Python's
    /// `tx_port[0] = out ifindex`: `netbpf map update --netns`, as a devmap takes the index in
    /// the writer's namespace), `xdp_dummy` on eth1; `rxcnt` counts
    /// them (the script's "N pkt/s"). N datagrams a1 -> b1: rxcnt.sum(0) == N and b1 sees N
    /// frames addressed to a1's MAC (swapped, not routed).
    @Test func xdpRedirectMapForwardsThroughTheDevmap() throws {
        try run("router", "bxredir", examples: ["xdp_redirect_map"]) { r in
            try r.quietIPv6()
            let a1 = try r.link("a1", "eth0"), out = try r.link("router", "eth1")
            try r.neighbour("a1", "10.1.0.1", try r.link("router", "eth0").mac, dev: "eth0")
            let rec = try r.attach("xdp", "eth0", on: "router", "xdp_redirect_map", ["--func", "xdp_redirect_map"])
            try r.attach("xdp", "eth1", on: "router", "xdp_redirect_map", ["--func", "xdp_dummy"])
            try r.netbpf(["map", "update", rec.pinDirectory + "/maps/tx_port", "--key", "u32:0", "--value", "u32:\(out.index)", "--netns", r.ns("router")])
            // The script prints rxcnt's growth per second: read it before and after the traffic.
            let before = try r.dump(rec.pinDirectory + "/maps/rxcnt").first.flatMap { BCCSimRun.sum($0.value) } ?? -1
            let seen = try SimLab.capture(r.ns("b1"), "eth0", ["-Q", "in", "udp", "dst", "port", "9999", "and", "ether", "dst", a1.mac], count: 6) {
                try UDPReceiver.send(from: r.ns("a1"), to: "10.2.0.11", port: 9999, count: 6)
            }
            #expect(seen.split(separator: "\n").filter { $0.contains("10.2.0.11.9999") }.count == 6, "b1 saw: \(seen)")
            let after = try r.dump(rec.pinDirectory + "/maps/rxcnt").first.flatMap { BCCSimRun.sum($0.value) } ?? -1
            #expect(after - before == 6, "rxcnt: \(before) -> \(after)")
        }
    }

    /// xdp_redirect_cpu.py eth0 1: every frame is handed to CPU 1's cpumap thread (the
    /// Python's `cpumap[1] = 192` queue size and `dest[0] = 1`: `netbpf map update`), which
    /// passes it to the stack there; `rxcnt` counts them ("N pkt/s to CPU 1"). N pings with
    /// static neighbours: all answered, rxcnt.sum(0) == N.
    @Test(.enabled(if: ProcessInfo.processInfo.activeProcessorCount >= 2, "needs two CPUs (the frames go to CPU 1)"))
    func xdpRedirectCPUHandsFramesToCPU1() throws {
        try run("pair", "bxcpu", examples: ["xdp_redirect_cpu"]) { r in
            try r.quietIPv6()
            try r.neighbour("h1", "10.0.0.2", try r.link("h2", "eth0").mac, dev: "eth0")
            try r.neighbour("h2", "10.0.0.1", try r.link("h1", "eth0").mac, dev: "eth0")
            let rec = try r.attach("xdp", "eth0", on: "h2", "xdp_redirect_cpu", ["--func", "xdp_redirect_cpu"])
            try r.netbpf(["map", "update", rec.pinDirectory + "/maps/cpumap", "--key", "u32:1", "--value", "u32:192"])
            try r.netbpf(["map", "update", rec.pinDirectory + "/maps/dest", "--key", "u32:0", "--value", "u32:1"])
            let ping = try r.sh("h1", ["ping", "-n", "-c", "6", "-i", "0.2", "-W", "2", "10.0.0.2"]).stdout
            #expect(ping.contains("6 packets transmitted, 6 received"), "\(ping)")
            let rx = try r.dump(rec.pinDirectory + "/maps/rxcnt").first.flatMap { BCCSimRun.sum($0.value) }
            #expect(rx == 6, "rxcnt: \(String(describing: rx))")
        }
    }

    // MARK: http_filter

    /// http-parse-simple.py -i eth0: a socket filter on a raw socket keeps exactly the TCP
    /// segments whose payload starts an HTTP request or response; the script prints one line
    /// per kept segment. N curls to `python3 -m http.server`: N "GET" and N "HTTP/1.0" lines,
    /// nothing else (handshakes, ACKs, bodies and UDP are dropped by the filter).
    @Test func httpFilterKeepsOnlyHTTPSegments() throws {
        try run("pair", "bhttp", examples: ["http-parse-simple"]) { r in
            let www = r.state + "/www"
            try FileManager.default.createDirectory(atPath: www, withIntermediateDirectories: true)
            try "hello from h2\n".write(toFile: www + "/index.html", atomically: true, encoding: .utf8)
            let server = try SimLab.Spawned(["/usr/sbin/ip", "netns", "exec", r.ns("h2"), "python3", "-m", "http.server", "8080", "--bind", "10.0.0.2", "--directory", www])
            defer { server.signal(SIGKILL); _ = server.wait(timeout: 5) }
            let filter = try SimLab.Spawned([CLI.binary, "attach", "socket", "eth0"] + r.source("http-parse-simple")
                                            + ["--func", "http_filter", "--netns", r.ns("h2"), "--hex"], environment: ["NETBPF_STATE_DIR": r.state])
            defer { filter.signal(SIGKILL); _ = filter.wait(timeout: 5) }
            try #require(filter.waitForStderr("listening on", timeout: 60), "socket filter did not start: \(filter.stderr)")
            var up = false
            for _ in 0..<50 where !up {
                up = try r.sh("h1", ["curl", "-s", "-o", "/dev/null", "--max-time", "1", "http://10.0.0.2:8080/"]).status == 0
                if !up { usleep(100_000) }
            }
            try #require(up, "http.server did not answer")
            for _ in 0..<3 {
                let c = try r.sh("h1", ["curl", "-s", "http://10.0.0.2:8080/"])
                #expect(c.stdout == "hello from h2\n")
            }
            try UDPReceiver.send(from: r.ns("h1"), to: "10.0.0.2", port: 8080, count: 3, payload: "GET / HTTP/1.1 over UDP")
            usleep(500_000)
            filter.signal(SIGINT)
            #expect(filter.wait(timeout: 10) == 0, "\(filter.stderr)")
            // Lines: "in  LEN bytes: HEX" / "out LEN bytes: HEX"; the TCP payload's first line.
            let kept = filter.stdout.split(separator: "\n").compactMap { line -> String? in
                guard let colon = line.firstIndex(of: ":") else { return nil }
                let bytes = line[line.index(after: colon)...].split(separator: " ").compactMap { UInt8($0, radix: 16) }
                guard bytes.count > 54 else { return "short frame" }
                let l4 = 14 + Int(bytes[14] & 0x0f) * 4
                guard l4 + 13 < bytes.count, l4 + Int(bytes[l4 + 12] >> 4) * 4 <= bytes.count else { return "no payload" }
                let payload = bytes[(l4 + Int(bytes[l4 + 12] >> 4) * 4)...]
                return String(decoding: payload.prefix { $0 != 0x0d }, as: UTF8.self)
            }
            // The first curl (the readiness probe) counts too: 4 requests in all.
            #expect(kept.filter { $0 == "GET / HTTP/1.1" }.count == 4, "\(kept)")
            #expect(kept.filter { $0.hasPrefix("HTTP/1.0 200") }.count == 4, "\(kept)")
            #expect(kept.count == 8, "kept: \(kept)")
        }
    }

    // MARK: tc_perf_event

    /// tc_perf_event.py: a clsact egress classifier sends each ICMPv6 frame leaving `me` to
    /// user space with perf_submit_skb (magic 0xfaceb00c, then the frame); the script prints
    /// the echo requests (type 128). N `ping -6`: N such samples, read with `netbpf map events`.
    @Test func tcPerfEventReportsEachEchoRequest() throws {
        try run("pair", "bperf", examples: ["tc_perf_event"]) { r in
            var v6 = false // addresses past duplicate address detection, neighbours resolved
            for _ in 0..<20 where !v6 { v6 = try SimLab.ping(r.ns("h1"), "fd00::2", count: 1); if !v6 { usleep(250_000) } }
            try #require(v6, "no IPv6 between h1 and h2")
            let rec = try r.attach("tc", "eth0", on: "h1", "tc_perf_event", ["--func", "handle_egress", "--egress"])
            let reader = try SimLab.Spawned([CLI.binary, "map", "events", rec.pinDirectory + "/maps/skb_events", "--json"])
            defer { reader.signal(SIGKILL); _ = reader.wait(timeout: 5) }
            try #require(reader.waitForStderr("reading samples", timeout: 20), "map events did not start: \(reader.stderr)")
            let out = try r.sh("h1", ["ping", "-6", "-n", "-c", "5", "-i", "0.2", "-W", "2", "fd00::2"]).stdout
            #expect(out.contains("5 packets transmitted, 5 received"), "\(out)")
            usleep(300_000)
            reader.signal(SIGINT)
            #expect(reader.wait(timeout: 10) == 0, "\(reader.stderr)")
            let samples = reader.stdout.split(separator: "\n").compactMap { line -> [UInt8]? in
                guard let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], let hex = o["data"] as? String else { return nil }
                var bytes: [UInt8] = []
                var i = hex.startIndex
                while i < hex.endIndex, let j = hex.index(i, offsetBy: 2, limitedBy: hex.endIndex) { bytes.append(UInt8(hex[i..<j], radix: 16) ?? 0); i = j }
                return bytes
            }
            #expect(!samples.isEmpty && samples.allSatisfy { $0.count > 58 && Array($0[0..<4]) == [0x0c, 0xb0, 0xce, 0xfa] }, "magic 0xfaceb00c first")
            // Python: skb_event.raw[54] == 128 (the ICMPv6 type after Ethernet and IPv6).
            #expect(samples.filter { $0.count > 58 && $0[4 + 54] == 128 }.count == 5, "\(samples.map { $0.count > 58 ? $0[58] : 0 })")
        }
    }

    // MARK: neighbor_sharing

    /// tc_neighbor_sharing.py on the neighbor-sharing topology: `classify_neighbor` on the
    /// neighbors' bridge ports learns each IPv4 source into `learned_ips`, `pass` on the LAN
    /// clients' ports, `classify_wan` on the WAN port reads the same map (one BCC module: the
    /// attaches after the first share its maps with --maps-from). Pinging .100 and .101 from
    /// wan0 learns exactly those two (host order, as BCC's cursor reads give); .102 and the
    /// LAN clients stay out. (The 128 kbit police action BCC puts on the WAN filter needs
    /// act_police, which this kernel lacks.)
    @Test func neighborSharingLearnsTheNeighbors() throws {
        try run("neighbor-sharing", "bneigh", examples: ["tc_neighbor_sharing"]) { r in
            try r.quietIPv6()
            // BCC loads all three as SCHED_CLS (load_func); the first --func is the one attached.
            let all = ["--func", "classify_wan", "--func", "pass", "--func", "classify_neighbor"]
            let first = try r.attach("tc", "neighbor0-eth0", on: "br100", "tc_neighbor_sharing", ["--func", "classify_neighbor"] + all)
            let maps = first.pinDirectory + "/maps"
            for n in ["neighbor1-eth0", "neighbor2-eth0"] {
                try r.attach("tc", n, on: "br100", "tc_neighbor_sharing", ["--func", "classify_neighbor"] + all + ["--maps-from", maps])
            }
            for l in ["local0-eth0", "local1-eth0"] {
                try r.attach("tc", l, on: "br100", "tc_neighbor_sharing", ["--func", "pass"] + all + ["--maps-from", maps])
            }
            try r.attach("tc", "wan0-eth0", on: "br100", "tc_neighbor_sharing", ["--func", "classify_wan"] + all + ["--maps-from", maps])
            #expect(try r.dump(maps + "/learned_ips").isEmpty)
            for target in ["172.16.1.100", "172.16.1.101", "172.16.1.150"] {
                #expect(try SimLab.ping(r.ns("wan0"), target, count: 2), "wan0 -> \(target)")
            }
            let learned = Set(try r.dump(maps + "/learned_ips").compactMap { BCCSimRun.int(($0.key as? [String: Any])?["client_ip"]) })
            #expect(learned == [BCCSimRun.hostOrder("172.16.1.100"), BCCSimRun.hostOrder("172.16.1.101")], "learned: \(learned.map { String($0, radix: 16) })")
        }
    }

    // MARK: vlan_learning

    /// vlan_learning.py on the vlan-learning topology (sw-workers plays BCC's eth0b; the
    /// clients' VLAN tags come from sw-clients' access ports, as this kernel has no 8021q):
    /// `handle_phys2virt` on the trunk, `handle_virt2phys` on each worker port, sharing the
    /// module's maps; the Python's `ingress[mac] = Leaf(worker ifindex)` is `netbpf map update`.
    /// N pings from client1: its ingress entry counts N frames of 98 bytes (the script's
    /// "mac 020000000001 rx pkts = N"), the egress map learns worker1's port -> trunk with
    /// VLAN 20 and counts the N replies; then each client's curl reaches its own worker.
    @Test func vlanLearningDemultiplexesByMAC() throws {
        try run("vlan-learning", "bvlan", examples: ["vlan_learning"]) { r in
            try r.quietIPv6()
            let trunk = try r.link("sw-workers", "trunk").index
            let first = try r.attach("tc", "trunk", on: "sw-workers", "vlan_learning", ["--func", "handle_phys2virt", "--func", "handle_virt2phys"])
            let maps = first.pinDirectory + "/maps"
            var workerPort: [Int] = []
            for i in 0..<3 {
                try r.attach("tc", "w\(i)", on: "sw-workers", "vlan_learning", ["--func", "handle_virt2phys", "--func", "handle_phys2virt", "--maps-from", maps])
                let port = try r.link("sw-workers", "w\(i)").index
                workerPort.append(port)
                // struct ifindex_leaf_t { int out_ifindex; u16 vlan_tci, vlan_proto; u64 tx_pkts, tx_bytes; }
                let leaf = BCCSimRun.le(Int32(port)) + [UInt8](repeating: 0, count: 20)
                try r.netbpf(["map", "update", maps + "/ingress", "--key", "u64:\(BCCSimRun.macValue("02:00:00:00:00:0\(i)"))", "--value", BCCSimRun.hex(leaf)])
                try r.neighbour("client\(i)", "172.16.1.5", "02:00:00:00:01:0\(i)", dev: "eth0")
                try r.neighbour("worker\(i)", "172.16.1.100", "02:00:00:00:00:0\(i)", dev: "eth0")
            }
            #expect(try SimLab.ping(r.ns("client1"), "172.16.1.5", count: 4), "client1 -> worker1 through the learner")
            func leaf(_ v: Any) -> [String: Any] { v as? [String: Any] ?? [:] }
            let ingress = Dictionary(try r.dump(maps + "/ingress").map { ((($0.key as? NSNumber)?.uint64Value ?? 0), leaf($0.value)) }) { a, _ in a }
            let c1 = ingress[BCCSimRun.macValue("02:00:00:00:00:01")] ?? [:]
            #expect(BCCSimRun.int(c1["tx_pkts"]) == 4 && BCCSimRun.int(c1["tx_bytes"]) == 4 * 98, "client1: \(c1)")
            for i in [0, 2] {
                #expect(BCCSimRun.int(ingress[BCCSimRun.macValue("02:00:00:00:00:0\(i)")]?["tx_pkts"]) == 0, "client\(i) sent nothing yet")
            }
            let egress = Dictionary(try r.dump(maps + "/egress").map { (BCCSimRun.int($0.key) ?? -1, leaf($0.value)) }) { a, _ in a }
            #expect(egress.count == 1, "learned ports: \(egress)")
            let w1 = egress[Int64(workerPort[1])] ?? [:]
            #expect(BCCSimRun.int(w1["out_ifindex"]) == Int64(trunk), "\(w1)")
            #expect((BCCSimRun.int(w1["vlan_tci"]) ?? 0) & 0xfff == 20, "\(w1)")
            #expect(BCCSimRun.int(w1["tx_pkts"]) == 4 && BCCSimRun.int(w1["tx_bytes"]) == 4 * 98, "\(w1)")
            for i in [0, 2] {
                let c = try r.sh("client\(i)", ["curl", "-s", "--max-time", "5", "http://172.16.1.5/"])
                #expect(c.stdout == "worker\(i)\n", "client\(i): \(c.stdout) \(c.stderr)")
            }
        }
    }

    // MARK: tunnel_monitor

    /// monitor.py on the tunnel-mesh topology, host0's eth0: `handle_ingress` and
    /// `handle_egress` tail-call `handle_outer` and `handle_inner` through `parser` (the
    /// Python's `parser[c_int(1)] = outer_fn.fd`: --prog-array), both hooks sharing `stats`.
    /// N pings of 512 bytes host0 -> host1 over VNI 10000: one entry
    /// {192.168.0.1, 192.168.0.2, 172.16.1.100, 172.16.1.101, 10000} with N tx and N rx
    /// frames of 604 bytes each (the record tunnel.json would show).
    @Test func tunnelMonitorCountsOneFlow() throws {
        try run("tunnel-mesh", "btun", examples: ["monitor"]) { r in
            try r.quietIPv6()
            // All four as SCHED_CLS, as the Python loads them: a prog array takes programs of one type.
            let parse = ["--func", "handle_outer", "--func", "handle_inner"]
            let ingress = try r.attach("tc", "eth0", on: "host0", "monitor",
                                       ["--func", "handle_ingress", "--func", "handle_egress"] + parse + ["--prog-array", "parser:1=handle_outer", "--prog-array", "parser:2=handle_inner"])
            let maps = ingress.pinDirectory + "/maps"
            try r.attach("tc", "eth0", on: "host0", "monitor", ["--func", "handle_egress", "--func", "handle_ingress"] + parse + ["--egress", "--maps-from", maps])
            // Static neighbours and VXLAN forwarding entries: no flooded frames, exact counts.
            let m0 = try r.link("host0", "vxlan0").mac, m1 = try r.link("host1", "vxlan0").mac
            try r.neighbour("host0", "192.168.0.2", m1, dev: "vxlan0")
            try r.neighbour("host1", "192.168.0.1", m0, dev: "vxlan0")
            try r.neighbour("host0", "172.16.1.101", try r.link("host1", "eth0").mac, dev: "eth0")
            try r.neighbour("host1", "172.16.1.100", try r.link("host0", "eth0").mac, dev: "eth0")
            #expect(try r.sh("host0", ["bridge", "fdb", "replace", m1, "dev", "vxlan0", "dst", "172.16.1.101"]).status == 0)
            #expect(try r.sh("host1", ["bridge", "fdb", "replace", m0, "dev", "vxlan0", "dst", "172.16.1.100"]).status == 0)
            let out = try r.sh("host0", ["ping", "-n", "-c", "5", "-i", "0.2", "-s", "512", "-W", "2", "192.168.0.2"]).stdout
            #expect(out.contains("5 packets transmitted, 5 received"), "\(out)")
            let rows = try r.dump(maps + "/stats").map { ($0.key as? [String: Any] ?? [:], $0.value as? [String: Any] ?? [:]) }
            let flow = rows.first { row in
                let k = row.0
                return BCCSimRun.int(k["inner_sip"]) == BCCSimRun.hostOrder("192.168.0.1") && BCCSimRun.int(k["inner_dip"]) == BCCSimRun.hostOrder("192.168.0.2")
                    && BCCSimRun.int(k["outer_sip"]) == BCCSimRun.hostOrder("172.16.1.100") && BCCSimRun.int(k["outer_dip"]) == BCCSimRun.hostOrder("172.16.1.101")
                    && BCCSimRun.int(k["vni"]) == 10000
            }?.1
            try #require(flow != nil, "no entry for the flow: \(rows)")
            #expect(BCCSimRun.int(flow?["tx_pkts"]) == 5 && BCCSimRun.int(flow?["rx_pkts"]) == 5, "\(flow ?? [:])")
            #expect(BCCSimRun.int(flow?["tx_bytes"]) == 5 * 604 && BCCSimRun.int(flow?["rx_bytes"]) == 5 * 604, "\(flow ?? [:])")
            #expect(rows.count == 1, "other entries: \(rows)")
        }
    }

    // MARK: distributed_bridge

    /// tunnel.py (multicast mode) on the distributed-bridge topology. What the Python builds
    /// with pyroute2 is built with `ip` in each host: the route to 224.0.0.0/4, `vxlan0` in
    /// external (collect-metadata) mode on group 239.1.1.1, and per VNI 10000/10001 a bridge
    /// with BCC's dummy port (a veth here: this kernel has no dummy driver) and, as the
    /// tenant, the topology's ten0/ten1. `handle_ingress` on vxlan0, `handle_egress` on each
    /// dummy's egress (sharing the module's maps), and the Python's map writes (conf[1],
    /// vni2if[vni], the broadcast entries of mac2host) with `netbpf map update`.
    /// N pings host0-a -> host1-a (VNI 10000) give what the script prints on exit
    /// (EUI ifindex remote_ip tunnel_id rx_pkts tx_pkts): on host0, host1-a's MAC behind
    /// 172.16.1.101 with N rx and N-1 tx (the first request was flooded to the group); on
    /// host1, host0-a's MAC behind 172.16.1.100 with N rx and N tx; on host2 one flooded frame.
    @Test func distributedBridgeLearnsTheRemoteTenants() throws {
        try run("distributed-bridge", "bdbr", examples: ["tunnel"]) { r in
            try r.quietIPv6()
            func ip(_ host: String, _ args: String) throws {
                let res = try r.sh(host, ["ip"] + args.split(separator: " ").map(String.init))
                try #require(res.status == 0, "ip \(args) in \(host): \(res.stderr)")
            }
            var dummies: [String: [Int]] = [:]
            var mapsOf: [String: String] = [:]
            for h in 0..<3 {
                let host = "host\(h)"
                try ip(host, "route add 224.0.0.0/4 dev eth0")
                try ip(host, "link add vxlan0 type vxlan external group 239.1.1.1 dev eth0 dstport 4789 nolearning")
                try ip(host, "link set vxlan0 up")
                for j in 0..<2 {
                    try ip(host, "link add br\(j) type bridge")
                    try ip(host, "link add dmy\(j) type veth peer name dmy\(j)p")
                    try ip(host, "link set dmy\(j) master br\(j)")
                    try ip(host, "link set ten\(j) master br\(j)")
                    for d in ["dmy\(j)", "dmy\(j)p", "br\(j)"] { try ip(host, "link set \(d) up") }
                    dummies[host, default: []].append(try r.link(host, "dmy\(j)").index)
                }
                let vxlan = try r.link(host, "vxlan0").index
                let all = ["--func", "handle_ingress", "--func", "handle_egress"]
                let first = try r.attach("tc", "vxlan0", on: host, "tunnel", all)
                let maps = first.pinDirectory + "/maps"
                mapsOf[host] = maps
                try r.netbpf(["map", "update", maps + "/conf", "--key", "i32:1", "--value", "i32:\(vxlan)"])
                for j in 0..<2 {
                    let egressFirst = ["--func", "handle_egress", "--func", "handle_ingress"]
                    try r.attach("tc", "dmy\(j)", on: host, "tunnel", egressFirst + ["--egress", "--maps-from", maps])
                    let dummy = dummies[host]![j]
                    // struct vni_key { u64 mac; int ifindex; int pad; } -> struct host { u32 tunnel_id, remote_ipv4; u64 rx_pkts, tx_pkts; }
                    var key = BCCSimRun.le(UInt64(0xFFFF_FFFF_FFFF))
                    key += BCCSimRun.le(Int32(dummy)) + BCCSimRun.le(Int32(0))
                    var value = BCCSimRun.le(UInt32(10000 + j))
                    value += BCCSimRun.le(UInt32(BCCSimRun.hostOrder("239.1.1.1"))) + [UInt8](repeating: 0, count: 16)
                    try r.netbpf(["map", "update", maps + "/mac2host", "--key", BCCSimRun.hex(key), "--value", BCCSimRun.hex(value)])
                    try r.netbpf(["map", "update", maps + "/vni2if", "--key", "u32:\(10000 + j)", "--value", "i32:\(dummy)"])
                }
            }
            try r.neighbour("host0-a", "99.1.0.2", "02:00:00:00:00:01", dev: "eth0")
            try r.neighbour("host1-a", "99.1.0.1", "02:00:00:00:00:00", dev: "eth0")
            let out = try r.sh("host0-a", ["ping", "-n", "-c", "5", "-i", "0.2", "-W", "2", "99.1.0.2"]).stdout
            #expect(out.contains("5 packets transmitted, 5 received"), "\(out)")
            /// The learned tenant entries of mac2host on a host: (mac, ifindex) -> (tunnel_id, remote, rx, tx).
            func learned(_ host: String) throws -> [String: [Int64]] {
                let maps = try #require(mapsOf[host], "no handle_ingress attachment in \(host)")
                var out: [String: [Int64]] = [:]
                for row in try r.dump(maps + "/mac2host") {
                    let k = row.key as? [String: Any] ?? [:], v = row.value as? [String: Any] ?? [:]
                    let mac = BCCSimRun.int(k["mac"]) ?? -1
                    // The tenants' MACs (02:00:00:00:0j:0i). Some runs also learn one frame from a
                    // random (kernel-made) MAC of another host: not a tenant, left out here.
                    guard mac >> 16 == 0x0200_0000 else { continue }
                    out[String(format: "%012llx@%lld", mac, BCCSimRun.int(k["ifindex"]) ?? -1)] =
                        [v["tunnel_id"], v["remote_ipv4"], v["rx_pkts"], v["tx_pkts"]].map { BCCSimRun.int($0) ?? -1 }
                }
                return out
            }
            let h0 = try learned("host0"), h1 = try learned("host1"), h2 = try learned("host2")
            let v0 = Int64(10000)
            #expect(h0 == ["020000000001@\(dummies["host0"]![0])": [v0, BCCSimRun.hostOrder("172.16.1.101"), 5, 4]], "host0: \(h0)")
            #expect(h1 == ["020000000000@\(dummies["host1"]![0])": [v0, BCCSimRun.hostOrder("172.16.1.100"), 5, 5]], "host1: \(h1)")
            #expect(h2 == ["020000000000@\(dummies["host2"]![0])": [v0, BCCSimRun.hostOrder("172.16.1.100"), 1, 0]], "host2: \(h2)")
        }
    }
}
