import Foundation
import Glibc
import Testing
import NetBPF
import NetBPFAttach
import NetBPFControllers
import NetBPFNetlink
import NetBPFTestSupport

/// Every long-running controller SIGKILLed while starting, once attached and under traffic
/// (ControllerSweep): `netbpf doctor --fix --netns NS` undoes all it made, programs and the
/// rest (the shaper's HTB root, the bridge's VXLAN device and route); traffic is as before it
/// ran; the same command runs again; and started again without doctor it heals the stale
/// records itself. Each controller runs in the lab its own tests use.
@Suite(.serialized, .enabled(if: TestEnvironment.isRoot, "requires root: namespaces, tc, XDP, VXLAN, the netbpf binary"))
struct ControllerKillTests {
    /// `ratelimit run` limiting 10.99.0.1 to 10 Mbit/s on b's egress, policing or shaping (HTB).
    @Test(arguments: [false, true])
    func rateLimitRun(shape: Bool) throws {
        try AttachLab.with { lab in
            let config = lab.stateDirectory + "/rl.yaml"
            try "interface: b\nnetns: \(lab.server)\ndirection: egress\nkey: destination\nshape: \(shape)\nlimits:\n  - {address: 10.99.0.1, rate: 10mbit}\n"
                .write(toFile: config, atomically: true, encoding: .utf8)
            func mbit() throws -> Double {
                let m = try #require(try iperfMbit(server: lab.client, client: lab.server, address: "10.99.0.1"), "iperf3 gave no result")
                print("kill: ratelimit: iperf3 \(Int(m)) Mbit/s")
                return m
            }
            let controller = SweptController(
                name: "ratelimit run" + (shape ? " (shape)" : ""), arguments: ["ratelimit", "run", "--config", config, "--interval", "0.2"],
                stateDirectory: lab.stateDirectory, namespace: lab.server, readyText: "10.99.0.1",
                // Unlimited veth traffic is hundreds of Mbit/s, but a loaded 2-core machine can slow one
                // 1-second iperf3 run to tens: plain is any of three runs well above the 10 Mbit/s limit.
                trafficIsPlain: { try (0..<3).contains { _ in try mbit() > 40 } }, works: { _ in try mbit() < 30 },
                traffic: {
                    let server = try BackgroundProcess(["/usr/sbin/ip", "netns", "exec", lab.client, "iperf3", "-s", "-1", "-B", "10.99.0.1"])
                    usleep(200_000)
                    return [try BackgroundProcess(["/usr/sbin/ip", "netns", "exec", lab.server, "iperf3", "-c", "10.99.0.1", "-t", "1"]), server]
                })
            try ControllerSweep(controller).run()
        }
    }

    /// `ratelimit attach --shape` (pinned): its record names the HTB root, so a plain
    /// `netbpf detach` removes it too; an HTB root netbpf did not make is refused and kept.
    @Test func rateLimitAttachShapeOwnsItsQdisc() throws {
        try AttachLab.with { lab in
            func htb() throws -> Bool { try lab.right.qdiscs(on: .name("b")).contains { $0.kind == "htb" } }
            _ = try lab.netbpfOK(["ratelimit", "attach", "b", "--netns", lab.server, "--shape"])
            #expect(try htb())
            #expect(lab.records().first?.created == [.htbRoot(major: 1)])
            _ = try lab.netbpfOK(["detach", "tc", "b", "--all", "--netns", lab.server])
            #expect(try !htb(), "detach left the htb root the attach made")
            try lab.right.addQdisc(.htb(HTBOptions()), on: .name("b"), parent: .root, handle: TCHandle(major: 1, minor: 0))
            let refused = try lab.netbpf(["ratelimit", "attach", "b", "--netns", lab.server, "--shape"])
            AttachLab.expectOneLineError(refused, "b already has an htb root qdisc that netbpf did not make")
            #expect(try htb(), "a refused attach removed someone else's qdisc")
            try lab.right.deleteQdisc(on: .name("b"), parent: .root, kind: "htb")
            try lab.expectNothingLeft()
        }
    }

    /// `http-filter --block-path /admin` on the server of HTTPLab: /admin answers again once
    /// the killed filter's blocking program is removed.
    @Test func httpFilter() throws {
        try HTTPLab.with { lab in
            try Data("admin\n".utf8).write(to: URL(fileURLWithPath: lab.webRoot + "/admin"))
            func admin(timeout: Double) throws -> String { try lab.curl("http://10.0.0.1:8000/admin", timeout: timeout).code }
            let controller = SweptController(
                name: "http-filter --block-path /admin",
                arguments: ["http-filter", "-i", lab.serverInterface, "--netns", lab.serverNS, "--block-path", "/admin"],
                stateDirectory: lab.stateDirectory, environment: ["NETBPF_PROGRAMS": HTTPLab.programs], namespace: lab.serverNS,
                readyText: "watching HTTP on", trafficIsPlain: { try admin(timeout: 2) == "200" },
                works: { _ in try lab.curl("http://10.0.0.1:8000/a/b").code == "200" && admin(timeout: 1) == "000" },
                traffic: {
                    [try BackgroundProcess(["/usr/sbin/ip", "netns", "exec", lab.clientNS, "sh", "-c",
                                            "for i in $(seq 20); do curl -s -o /dev/null -m 1 http://10.0.0.1:8000/a/b; done"])]
                })
            try ControllerSweep(controller).run()
        }
    }

    /// `vlan-learn` on the vlan-learning topology: client0 reaches worker0 only while learning
    /// runs (the network is cut without it). A second instance is refused naming all 4 hooks.
    @Test func vlanLearn() throws {
        try VLANLearningTests().withLab { lab in
            func reachesWorker0(timeout: Double) throws -> Bool {
                let r = try SimLab.inNamespace(lab.ns("client0"), ["curl", "-s", "-m", "\(timeout)", "http://172.16.1.5/"])
                return r.status == 0 && r.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "worker0"
            }
            let controller = SweptController(
                name: "vlan-learn",
                arguments: ["vlan-learn", "--netns", lab.learnerNS, "--trunk", "trunk", "--interval", "0.3"]
                    + (0..<3).flatMap { ["--map", "\(VLANLearningTests.clientMACs[$0])=w\($0)"] },
                stateDirectory: lab.stateDir, namespace: lab.learnerNS, readyText: "learning on trunk",
                trafficIsPlain: { try !reachesWorker0(timeout: 0.5) }, works: { _ in try reachesWorker0(timeout: 3) },
                traffic: { [try BackgroundProcess(["/usr/sbin/ip", "netns", "exec", lab.ns("client0"), "ping", "-q", "-i", "0.05", "-c", "30", "-W", "1", "172.16.1.5"])] })
            let sweep = try ControllerSweep(controller)
            try sweep.run()
            try sweep.expectSecondInstanceRefused(naming: ["trunk ingress", "w0 ingress", "w1 ingress", "w2 ingress"])
        }
    }

    /// `tunnel-monitor` on TunnelLab's h0: it only watches, so its work is the conversation it
    /// reports. A second instance is refused naming both hooks.
    @Test func tunnelMonitor() throws {
        let state = "/tmp/netbpf-kill-tm-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: state) }
        try TunnelLab.with(hosts: 2, vnis: 1) { lab in
            let controller = SweptController(
                name: "tunnel-monitor", arguments: ["tunnel-monitor", "eth0", "--netns", lab.hosts[0], "--interval", "0.2"],
                stateDirectory: state, namespace: lab.hosts[0], readyText: "Ctrl-C to stop",
                works: { run in
                    try lab.ping(from: 0, "192.168.0.2", count: 2, size: 56, interval: "0.1")
                    return waitForOutput(run, "192.168.0.2@172.16.1.101")
                },
                traffic: { [try BackgroundProcess(["/usr/sbin/ip", "netns", "exec", lab.hosts[0], "ping", "-q", "-i", "0.05", "-c", "30", "192.168.0.2"])] },
                again: ["--seconds", "0.5"])
            let sweep = try ControllerSweep(controller)
            try sweep.run()
            try sweep.expectSecondInstanceRefused(naming: ["eth0 ingress", "eth0 egress"])
        }
    }

    /// `bridge` on host0 of the distributed-bridge topology (host1 bridged by the library):
    /// host0's tenant reaches host1's only while it runs; its VXLAN device and 224.0.0.0/4 route
    /// go with it, killed or not.
    @Test func bridge() throws {
        try BridgeTests().withLab { lab in
            let host1 = try DistributedBridge.start(try lab.config(1), store: lab.store)
            defer { host1.stop() }
            func reaches(count: Int) throws -> Bool {
                try SimLab.inNamespace(lab.tenant(vni: 0, host: 0), ["ping", "-n", "-q", "-c", "\(count)", "-i", "0.1", "-W", "1", BridgeTests.tenantIP(vni: 0, host: 1)]).status == 0
            }
            let controller = SweptController(
                name: "bridge",
                arguments: ["bridge", "--netns", lab.host(0), "--underlay", "eth0", "--vni", "10000=ten0", "--vni", "10001=ten1", "--interval", "0.5"],
                stateDirectory: lab.stateDir, namespace: lab.host(0), readyText: "bridging over vxlan0",
                trafficIsPlain: { try !reaches(count: 1) }, works: { _ in try reaches(count: 2) },
                traffic: {
                    [try BackgroundProcess(["/usr/sbin/ip", "netns", "exec", lab.tenant(vni: 0, host: 0), "ping", "-q", "-i", "0.05", "-c", "30", "-W", "1",
                                            BridgeTests.tenantIP(vni: 0, host: 1)])]
                })
            try ControllerSweep(controller).run()
            host1.stop()
        }
    }

    /// `xdp-drop-count` on AttachLab's b: frames pass again once its program is removed.
    @Test func xdpDropCount() throws {
        try AttachLab.with { lab in
            let controller = SweptController(
                name: "xdp-drop-count", arguments: ["xdp-drop-count", "b", "--netns", lab.server, "--interval", "0.2"],
                stateDirectory: lab.stateDirectory, namespace: lab.server, readyText: "hit CTRL+C",
                trafficIsPlain: { try lab.ping(1) }, works: { _ in try !lab.ping(1) },
                traffic: { [try BackgroundProcess(["/usr/sbin/ip", "netns", "exec", lab.client, "ping", "-q", "-i", "0.01", "-c", "50", "-W", "1", "10.99.0.2"])] })
            try ControllerSweep(controller).run()
        }
    }

    /// A stale record of another XDP program does not block the hook (it holds one program):
    /// `attach xdp` after a killed xdp-drop-count removes it, with a notice.
    @Test func staleXDPRecordOfAnotherProgramHeals() throws {
        try AttachLab.with { lab in
            let run = try BackgroundProcess([CLI.binary, "xdp-drop-count", "b", "--netns", lab.server], environment: ["NETBPF_STATE_DIR": lab.stateDirectory])
            let deadline = Date().addingTimeInterval(30)
            while !lab.records().contains(where: { !$0.isPending }) && run.isRunning && Date() < deadline { usleep(10_000) }
            kill(run.pid, SIGKILL)
            _ = run.finish(timeout: 10)
            let attach = try lab.netbpf(["attach", "xdp", "b", AttachLab.source("xdp_pass"), "--netns", lab.server])
            #expect(attach.status == 0 && attach.stderr.contains("removed a stale record of xdp_drop_count"), "\(attach.stderr)")
            #expect(try lab.ping(1))
            _ = try lab.netbpfOK(["detach", "xdp", "b", "--all", "--netns", lab.server])
            try lab.expectNothingLeft()
        }
    }

    /// `tc-events` on ExampleTrafficTests' IPv6 pair (tcx, or a clsact filter): it only
    /// watches, so its work is the echo requests it prints.
    @Test(arguments: [false, true])
    func tcEvents(clsact: Bool) throws {
        try ExampleTrafficTests().withIPv6Pair { lab in
            let controller = SweptController(
                name: "tc-events" + (clsact ? " --clsact" : ""), arguments: ["tc-events", "va", "--netns", lab.ns("a")] + (clsact ? ["--clsact"] : []),
                stateDirectory: lab.stateDir, namespace: lab.ns("a"), readyText: "hit CTRL+C",
                works: { run in
                    _ = try lab.run("a", ["ping", "-6", "-n", "-q", "-c", "2", "-i", "0.1", "-W", "1", "fd00:9::2"])
                    return waitForOutput(run, "fd00:9::1 > fd00:9::2")
                },
                traffic: { [try BackgroundProcess(["/usr/sbin/ip", "netns", "exec", lab.ns("a"), "ping", "-6", "-q", "-i", "0.05", "-c", "30", "fd00:9::2"])] })
            try ControllerSweep(controller).run()
        }
    }
}

/// Waits up to 5 s for `text` on a background command's stdout.
func waitForOutput(_ run: BackgroundProcess, _ text: String) -> Bool {
    let deadline = Date().addingTimeInterval(5)
    while !run.stdout.contains(text) && Date() < deadline { usleep(50_000) }
    return run.stdout.contains(text)
}
