import Foundation
import Glibc
import Testing
import NetBPF
import NetBPFNetlink
import NetBPFSim
import NetBPFTestSupport

/// Simulations against the real kernel, mostly through the `netbpf` binary as a user runs it.
/// Every test uses simulation names of its own (t<PID>-...) and brings them down in a `defer`,
/// then checks that no namespace, root interface, pin, state or process is left.
@Suite(.serialized, .enabled(if: geteuid() == 0, "requires root: builds namespaces, links and BPF programs"))
struct SimKernelTests {

    // MARK: Shipped topologies

    @Test func pairThroughTheLibrary() throws {
        let name = SimLab.name("pair")
        _ = try? Simulation.down(name)
        let text = try String(contentsOfFile: SimLab.topology("pair"), encoding: .utf8)
        let topology = try Topology.parse(text, file: SimLab.topology("pair"), nameOverride: name)
        defer {
            _ = try? Simulation.down(name)
            let left = SimLab.leftovers(name)
            #expect(left.isEmpty, "left behind: \(left)")
        }
        try NetlinkLab.expectNoFDLeak {
            let up = try Simulation.up(topology)
            #expect(up.outcome == .created)
            #expect(up.report.nodes.map(\.namespace) == ["nb-\(name)-h1", "nb-\(name)-h2"])
            #expect(up.report.nodes.first?.interfaces.first { $0.name == "eth0" }?.addresses == ["10.0.0.1/24", "fd00::1/64"])
            // Reachable, and `ip netns exec` works on the namespaces.
            #expect(try SimLab.ping("nb-\(name)-h1", "10.0.0.2"))
            #expect(try SimLab.ping("nb-\(name)-h2", "10.0.0.1"))
            // Up again: nothing to do.
            let again = try Simulation.up(topology)
            #expect(again.outcome == .alreadyUp)
            #expect(again.steps == 0)
        }
        // `sim exec` runs inside the host and passes the exit status through.
        let exec = try SimLab.netbpf(["sim", "exec", "--sim", name, "h2", "--", "sh", "-c", "ip -br addr show eth0; exit 3"])
        #expect(exec.status == 3)
        #expect(exec.stdout.contains("10.0.0.2/24"))
        let missing = try SimLab.netbpf(["sim", "exec", "--sim", name, "h1", "--", "no-such-command-here"])
        #expect(missing.status == 127)
        let removed = try Simulation.down(name)
        #expect(removed.namespacesRemoved == 2)
        #expect(SimLab.leftovers(name).isEmpty)
        let gone = #expect(throws: SimError.self) { try Simulation.down(name) }
        #expect(gone?.code == .notFound)
    }

    @Test func routerForwardsBetweenSubnets() throws {
        let name = SimLab.name("router")
        try SimLab.withSimulation(SimLab.topology("router"), name: name) { _ in
            let ns = { (h: String) in "nb-\(name)-\(h)" }
            #expect(try SimLab.ping(ns("a1"), "10.2.0.11"), "a1 -> b1 through the router (IPv4)")
            #expect(try SimLab.ping(ns("b1"), "10.1.0.12"), "b1 -> a2 through the router (IPv4)")
            #expect(try SimLab.ping(ns("a2"), "fd02::11"), "a2 -> b1 through the router (IPv6)")
            #expect(try SimLab.ping(ns("a1"), "10.1.0.12"), "a1 -> a2 across the bridge")
            let forward = try SimLab.netbpf(["sim", "exec", "--sim", name, "router", "--", "cat", "/proc/sys/net/ipv4/ip_forward"])
            #expect(forward.stdout == "1\n")
            let hostForward = try SimLab.netbpf(["sim", "exec", "--sim", name, "a1", "--", "cat", "/proc/sys/net/ipv4/ip_forward"])
            #expect(hostForward.stdout == "0\n")
        }
    }

    @Test func neighborSharingBridgeAndProcesses() throws {
        let name = SimLab.name("nbshare")
        try SimLab.withSimulation(SimLab.topology("neighbor-sharing"), name: name) { journal in
            let wan = "nb-\(name)-wan0"
            for address in ["172.16.1.100", "172.16.1.101", "172.16.1.102", "172.16.1.150", "172.16.1.151"] {
                #expect(try SimLab.ping(wan, address), "wan0 -> \(address) across br100")
            }
            #expect(journal.processes.count == 5)
            #expect(journal.processes.allSatisfy { $0.pid.map { SimProcesses.isAlive($0, startTime: nil) } ?? false })
            // The iperf3 servers run inside their hosts: reachable from wan0 over the bridge.
            var served = false
            for _ in 0..<50 where !served {
                served = try SimLab.inNamespace(wan, ["iperf3", "-c", "172.16.1.101", "-n", "256K"]).status == 0
                if !served { usleep(100_000) }
            }
            #expect(served, "iperf3 to neighbor1")
            let status = try SimLab.netbpf(["sim", "status", name, "--json"])
            let report = try JSONDecoder().decode(SimulationReport.self, from: Data(status.stdout.utf8))
            #expect(report.healthy)
            #expect(report.nodes.first { $0.name == "br100" }?.interfaces.filter { $0.master == "br100" }.count == 6)
        }
    }

    @Test func tunnelMeshOverVXLAN() throws {
        let name = SimLab.name("tmesh")
        try SimLab.withSimulation(SimLab.topology("tunnel-mesh"), name: name) { _ in
            let ns = { (k: Int) in "nb-\(name)-host\(k)" }
            // One pair per VXLAN network, including the far ends of the mesh.
            #expect(try SimLab.ping(ns(0), "192.168.0.2"), "host0 -> host1 on VNI 10000")
            #expect(try SimLab.ping(ns(0), "192.168.0.9"), "host0 -> host8 on VNI 10000")
            #expect(try SimLab.ping(ns(1), "192.168.1.3"), "host1 -> host2 on VNI 10001")
            #expect(try SimLab.ping(ns(2), "192.168.2.8"), "host2 -> host7 on VNI 10002")
            #expect(try SimLab.ping(ns(8), "192.168.3.1"), "host8 -> host0 on VNI 10003")
            // The overlay really is VXLAN on the underlay.
            // (Unicast from host5 to host4 only: IPv6 on the overlays floods other VNIs' multicast.)
            let seen = try SimLab.capture(ns(4), "eth0", ["udp", "port", "4789", "and", "src", "host", "172.16.1.105",
                                                           "and", "dst", "host", "172.16.1.104", "and", "greater", "100"], count: 1) {
                _ = try SimLab.ping(ns(5), "192.168.2.5", count: 2)
            }
            #expect(seen.contains("VXLAN") && seen.contains("vni 10002"), "capture on host4 eth0: \(seen)")
        }
    }

    @Test func vlanTrunkTagsAndIsolation() throws {
        let name = SimLab.name("vlan")
        try SimLab.withSimulation(SimLab.topology("vlan-trunk"), name: name) { journal in
            let ns = { (h: String) in "nb-\(name)-\(h)" }
            // Every client reaches "172.16.1.5", and it is its own worker answering.
            for i in 0..<3 {
                #expect(try SimLab.ping(ns("client\(i)"), "172.16.1.5"), "client\(i) -> worker\(i)")
                let neigh = try SimLab.inNamespace(ns("client\(i)"), ["ip", "neigh", "show", "172.16.1.5"])
                #expect(neigh.stdout.contains("02:00:00:00:01:0\(i)"), "client\(i) talks to worker\(i): \(neigh.stdout)")
            }
            // On the trunk the frames carry client1's VLAN tag; on the client's own link they do not.
            let trunk = try SimLab.capture(ns("sw-workers"), "trunk", ["icmp"], count: 2) {
                _ = try SimLab.ping(ns("client1"), "172.16.1.5", count: 2)
            }
            #expect(trunk.contains("802.1Q") && trunk.contains("vlan 20"), "trunk capture: \(trunk)")
            #expect(!trunk.contains("vlan 10") && !trunk.contains("vlan 30"))
            let access = try SimLab.capture(ns("client1"), "eth0", ["icmp"], count: 2) {
                _ = try SimLab.ping(ns("client1"), "172.16.1.5", count: 2)
            }
            #expect(access.contains("ICMP") && !access.contains("802.1Q"), "client1 eth0 capture: \(access)")
            // HTTP through the trunk reaches worker2's server, and only it.
            var code = ""
            for _ in 0..<50 where code != "200" {
                code = try SimLab.inNamespace(ns("client2"), ["curl", "-s", "-m", "2", "-o", "/dev/null", "-w", "%{http_code}", "http://172.16.1.5/"]).stdout
                if code != "200" { usleep(100_000) }
            }
            #expect(code == "200")
            let logs = Dictionary(uniqueKeysWithValues: journal.processes.map { ($0.host, (try? String(contentsOfFile: $0.log, encoding: .utf8)) ?? "") })
            #expect(logs["worker2"]?.contains("GET / HTTP/1.1") == true, "worker2 log: \(logs["worker2"] ?? "")")
            #expect(logs["worker0"]?.contains("GET /") == false)
            // The VLAN program's counters: tags pushed on the clients' side, popped on the workers' side.
            let pins = "/sys/fs/bpf/netbpf/sim/\(name)"
            let clientSide = try VLANSwitch.counters(try BPFMap.open(pinned: "\(pins)/sw-clients/vlan/vlan_stats"), vlan: 20)
            let workerSide = try VLANSwitch.counters(try BPFMap.open(pinned: "\(pins)/sw-workers/vlan/vlan_stats"), vlan: 20)
            #expect(clientSide.pushed >= 4 && clientSide.popped >= 4)
            #expect(workerSide.popped >= 4 && workerSide.pushed >= 4)
        }
    }

    // MARK: Teardown guarantees

    @Test func killedHalfWayIsCleanedByDown() throws {
        let name = SimLab.name("kill")
        defer { _ = try? SimLab.netbpf(["sim", "down", name]) }
        // vlan-trunk builds namespaces, veths, pins and processes: die before, between and after each.
        for failAfter in [1, 2, 14, 40, 53, 62, 67] {
            let up = try SimLab.netbpf(["sim", "up", SimLab.topology("vlan-trunk"), "--name", name],
                                       environment: ["NETBPF_SIM_FAIL_AFTER": "\(failAfter)"])
            #expect(up.status == 128 + SIGKILL, "up with NETBPF_SIM_FAIL_AFTER=\(failAfter) should die of SIGKILL: \(up.stderr)")
            let journal = try Simulation.journal(name)
            #expect(journal?.state == .building)
            #expect(journal?.steps ?? 0 <= failAfter)
            let pids = journal?.processes.compactMap(\.pid) ?? []
            #expect(!SimLab.leftovers(name).isEmpty, "a killed up leaves state for down to use")
            let down = try SimLab.netbpf(["sim", "down", name])
            #expect(down.status == 0, "down after a kill at step \(failAfter): \(down.stderr)")
            let left = SimLab.leftovers(name, pids: pids)
            #expect(left.isEmpty, "after a kill at step \(failAfter), down left: \(left)")
        }
    }

    /// Eight `sim up` of one simulation at once, twenty rounds: one builds it, the seven others
    /// wait for its lock and find it up; then eight `sim down`: one removes it, the others say
    /// there is nothing to remove; nothing is left.
    @Test func parallelUpsAndDownsOfOneSimulation() throws {
        let name = SimLab.name("par")
        defer { _ = try? SimLab.netbpf(["sim", "down", name]) }
        for round in 1...20 {
            let ups = try (0..<8).map { _ in try SimLab.Spawned([CLI.binary, "sim", "up", SimLab.topology("pair"), "--name", name]) }
            let upStatus = ups.map { $0.wait(timeout: 120) }
            #expect(upStatus.allSatisfy { $0 == 0 }, "round \(round): \(upStatus)")
            #expect(try Simulation.journal(name)?.state == .up, "round \(round)")
            let downs = try (0..<8).map { _ in try SimLab.Spawned([CLI.binary, "sim", "down", name]) }
            let downStatus = downs.map { $0.wait(timeout: 120) }
            #expect(downStatus.filter { $0 == 0 }.count == 1, "round \(round): \(downStatus)")
            #expect(SimLab.leftovers(name).isEmpty, "round \(round): \(SimLab.leftovers(name))")
        }
    }

    /// `netbpf doctor` sees a half-built simulation (a killed `sim up`) and `doctor --fix`
    /// tears it down from its journal; a simulation being built right now is left alone.
    @Test func doctorFindsAndRemovesAHalfBuiltSimulation() throws {
        let name = SimLab.name("doc")
        defer { _ = try? SimLab.netbpf(["sim", "down", name]) }
        let up = try SimLab.netbpf(["sim", "up", SimLab.topology("vlan-trunk"), "--name", name],
                                   environment: ["NETBPF_SIM_FAIL_AFTER": "14"])
        #expect(up.status == 128 + SIGKILL, "\(up.stderr)")
        let pids = try Simulation.journal(name)?.processes.compactMap(\.pid) ?? []
        let found = try SimLab.netbpf(["doctor"])
        #expect(found.status == 0 && found.stdout.contains("simulation \(name)") && found.stdout.contains("did not finish"), "\(found.stdout)")
        let fixed = try SimLab.netbpf(["doctor", "--fix"])
        #expect(fixed.status == 0, "\(fixed.stderr)")
        #expect(SimLab.leftovers(name, pids: pids).isEmpty, "doctor --fix left: \(SimLab.leftovers(name, pids: pids))")
        #expect(try Simulation.journal(name) == nil)
        #expect(!(try SimLab.netbpf(["doctor"])).stdout.contains("simulation \(name)"))
    }

    @Test func sigkillAtAnyMomentIsCleanedByDown() throws {
        let name = SimLab.name("kill9")
        defer { _ = try? SimLab.netbpf(["sim", "down", name]) }
        let up = try SimLab.Spawned([CLI.binary, "sim", "up", SimLab.topology("tunnel-mesh"), "--name", name],
                                    environment: ["NETBPF_SIM_STEP_DELAY_MS": "4"])
        usleep(400_000)
        up.signal(SIGKILL)
        #expect(up.wait(timeout: 10) == 128 + SIGKILL)
        let journal = try #require(try Simulation.journal(name), "killed after 0.4 s, up should have started building")
        #expect(journal.state == .building && journal.steps > 0)
        let down = try SimLab.netbpf(["sim", "down", name])
        #expect(down.status == 0, "\(down.stderr)")
        #expect(down.stdout.contains("removed"))
        #expect(SimLab.leftovers(name).isEmpty)
    }

    @Test(arguments: [SIGTERM, SIGINT])
    func signalDuringUpTearsDown(_ signal: Int32) throws {
        let name = SimLab.name("sig\(signal)")
        defer { _ = try? SimLab.netbpf(["sim", "down", name]) }
        let up = try SimLab.Spawned([CLI.binary, "sim", "up", SimLab.topology("vlan-trunk"), "--name", name],
                                    environment: ["NETBPF_SIM_STEP_DELAY_MS": "10"])
        usleep(400_000)
        #expect(try Simulation.journal(name)?.state == .building, "still building when signalled")
        up.signal(signal)
        #expect(up.wait(timeout: 20) == 128 + signal)
        #expect(up.stderr.contains("interrupted by signal \(signal)") && up.stderr.contains("everything it had made was removed"), "\(up.stderr)")
        #expect(SimLab.leftovers(name).isEmpty, "nothing left without running down")
    }

    // MARK: Idempotence, copies, bad input

    @Test func upIsIdempotentAndRepairs() throws {
        let name = SimLab.name("idem")
        try SimLab.withTemporaryDirectory { dir in
            let file = dir + "/sleepers.yaml"
            let text = """
            # two hosts and a long-running process
            hosts:
              h1:
                interfaces: {eth0: {addresses: [10.50.0.1/24]}}
                processes: [{name: sleeper, command: sleep 600}]
              h2:
                interfaces: {eth0: {addresses: [10.50.0.2/24]}}
            links: [[h1:eth0, h2:eth0]]

            """
            try text.write(toFile: file, atomically: true, encoding: .utf8)
            try SimLab.withSimulation(file, name: name) { journal in
                let again = try SimLab.netbpf(["sim", "up", file, "--name", name])
                #expect(again.status == 0 && again.stdout.contains("is already up"), "\(again.stdout + again.stderr)")
                // A process that died is started again.
                let sleeper = try #require(journal.processes.first?.pid)
                kill(-sleeper, SIGKILL)
                var waited = 0
                while SimProcesses.isAlive(sleeper, startTime: nil) && waited < 200 { usleep(10_000); waited += 1 }
                let restart = try SimLab.netbpf(["sim", "up", file, "--name", name])
                #expect(restart.stdout.contains("restarted h1.sleeper"), "\(restart.stdout + restart.stderr)")
                let newPID = try #require(try Simulation.journal(name)?.processes.first?.pid)
                #expect(newPID != sleeper && SimProcesses.isAlive(newPID, startTime: nil))
                // A namespace removed by hand: the simulation is rebuilt.
                #expect(try SimLab.inNamespace("nb-\(name)-h1", ["true"]).status == 0)
                _ = try SimLab.Spawned(["/usr/sbin/ip", "netns", "delete", "nb-\(name)-h2"]).wait()
                let rebuilt = try SimLab.netbpf(["sim", "up", file, "--name", name])
                #expect(rebuilt.stdout.contains("rebuilt (namespace nb-\(name)-h2 had disappeared)"), "\(rebuilt.stdout + rebuilt.stderr)")
                #expect(try SimLab.ping("nb-\(name)-h1", "10.50.0.2"))
                #expect(!SimProcesses.isAlive(newPID, startTime: nil), "the old copy's process was stopped")
                // A changed file is not silently mixed with the running copy.
                try (text + "# changed\n").write(toFile: file, atomically: true, encoding: .utf8)
                let changed = try SimLab.netbpf(["sim", "up", file, "--name", name])
                #expect(changed.status == 1 && changed.stderr.contains("is up from another version of"), "\(changed.stderr)")
                let recreated = try SimLab.netbpf(["sim", "up", file, "--name", name, "--recreate"])
                #expect(recreated.status == 0 && recreated.stdout.contains("rebuilt (--recreate was given)"), "\(recreated.stderr)")
            }
        }
    }

    @Test func twoCopiesSideBySide() throws {
        let a = SimLab.name("copya"), b = SimLab.name("copyb")
        try SimLab.withSimulation(SimLab.topology("pair"), name: a) { _ in
            try SimLab.withSimulation(SimLab.topology("pair"), name: b) { _ in
                #expect(try SimLab.ping("nb-\(a)-h1", "10.0.0.2"))
                #expect(try SimLab.ping("nb-\(b)-h1", "10.0.0.2"))
                let ambiguous = try SimLab.netbpf(["sim", "exec", "h1", "--", "true"])
                #expect(ambiguous.status == 1 && ambiguous.stderr.contains("choose one with --sim"))
            }
            // b is gone, a still works.
            #expect(try SimLab.ping("nb-\(a)-h1", "10.0.0.2"))
        }
    }

    @Test func malformedTopologyCreatesNothing() throws {
        let name = SimLab.name("bad")
        try SimLab.withTemporaryDirectory { dir in
            let file = dir + "/bad.yaml"
            try """
            name: \(name)
            hosts:
              web:
                interfaces:
                  eth0: {addresses: [10.0.0.1/24], mtu: 9000000}
              db: {}
            links:
              - [web:eth0, dbb:eth0]
              - [web:eth1-with-a-long-name, db:eth0]

            """.write(toFile: file, atomically: true, encoding: .utf8)
            let up = try SimLab.netbpf(["sim", "up", file])
            #expect(up.status == 1)
            let lines = up.stderr.split(separator: "\n").map(String.init)
            #expect(lines.count == 3, "\(lines)")
            #expect(lines.allSatisfy { $0.hasPrefix("netbpf: \(file):") })
            #expect(lines.contains { $0.contains(":5:") && $0.contains("hosts.web.interfaces.eth0.mtu: 9000000 is out of range for an MTU") })
            #expect(lines.contains { $0.contains(":8:") && $0.contains("links[0]: link endpoint 'dbb:eth0' names host 'dbb', which is not defined; hint: did you mean 'db'?") })
            #expect(lines.contains { $0.contains(":9:") && $0.contains("interface name 'eth1-with-a-long-name' is 21 bytes") })
            #expect(SimLab.leftovers(name).isEmpty, "an invalid file creates nothing")

            // A program that does not fit its hook, and one the verifier rejects: also nothing created.
            let prog = dir + "/unchecked.bpf.c"
            try """
            #include <linux/bpf.h>
            #include <bpf/bpf_helpers.h>
            struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 4); __type(key, __u32); __type(value, __u64); } m SEC(".maps");
            SEC("tc") int unchecked(struct __sk_buff *skb) { __u32 k = 0; __u64 *v = bpf_map_lookup_elem(&m, &k); return *v; }
            char LICENSE[] SEC("license") = "GPL";

            """.write(toFile: prog, atomically: true, encoding: .utf8)
            let bpfFile = dir + "/bpf.yaml"
            try """
            name: \(name)
            hosts:
              a:
                interfaces:
                  eth0:
                    bpf:
                      - {file: \(SimLab.root)/programs/bad_stack.bpf.c, hook: tc-ingress}
                      - {file: unchecked.bpf.c, program: unchecked, hook: tc-egress}
              b: {}
            links: [[a:eth0, b:eth0]]

            """.write(toFile: bpfFile, atomically: true, encoding: .utf8)
            let bad = try SimLab.netbpf(["sim", "up", bpfFile])
            #expect(bad.status == 1)
            #expect(bad.stderr.contains("bpf.yaml:7:") && bad.stderr.contains("has no program for hook tc-ingress"), "\(bad.stderr)")
            #expect(bad.stderr.contains("bpf.yaml:8:") && bad.stderr.contains("cannot load 'unchecked.bpf.c'"), "\(bad.stderr)")
            #expect(SimLab.leftovers(name).isEmpty)
        }
    }

    @Test func bpfAttachmentsPinsAndRootLink() throws {
        let name = SimLab.name("bpf")
        try SimLab.withTemporaryDirectory { dir in
            let file = dir + "/bpf.yaml"
            try """
            hosts:
              h1:
                interfaces:
                  eth0:
                    addresses: [10.60.0.1/24]
                    bpf:
                      - {file: \(SimLab.root)/programs/count_packets.bpf.c, program: count_tc, hook: tc-ingress}
                      - {file: \(SimLab.root)/programs/count_packets.bpf.c, program: xdp_count, hook: xdp}
                  eth1: {addresses: [10.213.77.2/30]}
              h2:
                interfaces:
                  eth0: {addresses: [10.60.0.2/24], mtu: 1400}
            root:
              interfaces:
                up0: {addresses: [10.213.77.1/30]}
            links:
              - [h1:eth0, h2:eth0]
              - [root:up0, h1:eth1]

            """.write(toFile: file, atomically: true, encoding: .utf8)
            try SimLab.withSimulation(file, name: name) { journal in
                #expect(try SimLab.ping("nb-\(name)-h2", "10.60.0.1", count: 3))
                let counters = try BPFMap.open(pinned: "/sys/fs/bpf/netbpf/sim/\(name)/h1/count_packets/counters")
                let packets = try counters.lookup(key: [0, 0, 0, 0]).map { $0.withUnsafeBytes { $0.load(as: UInt64.self) } } ?? 0
                #expect(packets >= 6, "tc and XDP both counted the pings arriving at h1")
                let status = try SimLab.netbpf(["sim", "status", name])
                #expect(status.stdout.contains("tc-ingress count_tc, xdp xdp_count"), "\(status.stdout)")
                #expect(status.stdout.contains("1400"))
                // The root-namespace end: prefixed name, address, and the host is reachable from here.
                let rootName = Topology.rootInterfacePrefix(simulation: name) + "up0"
                #expect(journal.rootLinks.map(\.name) == [rootName])
                #expect(try NetlinkSocket().interface(.name(rootName)).isUp)
                let ping = try SimLab.Spawned(["ping", "-n", "-q", "-c", "2", "-i", "0.2", "-W", "2", "10.213.77.2"])
                #expect(ping.wait() == 0, "root -> h1 over the root link")
            }
        }
    }

    @Test func downOfAnUnknownSimulation() throws {
        let r = try SimLab.netbpf(["sim", "down", SimLab.name("nosuch")])
        #expect(r.status == 1)
        #expect(r.stderr.contains("no simulation named"))
    }
}
