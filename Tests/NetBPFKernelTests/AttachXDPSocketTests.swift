import Foundation
import Glibc
import Testing
import NetBPF
import NetBPFAttach
import NetBPFNetlink
import NetBPFTestSupport

/// XDP (link and netlink, generic and driver mode) and socket filters, with real traffic.
extension AttachTests {

    // MARK: XDP

    /// An echo request on the wire: 14 (Ethernet) + 20 (IPv4) + 8 (ICMP) + 56 (ping's data).
    static let echoFrameBytes: UInt64 = 98

    @Test(arguments: ["link", "netlink"])
    func xdpDropAndPassInGenericMode(via: String) throws {
        try AttachLab.with { lab in
            let extra = via == "netlink" ? ["--netlink"] : []
            let drop = try lab.attachXDP("count_packets", ["--program-name", "xdp_drop"] + extra)
            #expect(drop.kind == (via == "netlink" ? .xdpNetlink : .xdpLink))
            #expect(drop.hook == "generic")
            #expect(try lab.right.interface("b").xdp.programID(in: .generic) == drop.programID)
            let shown = try NetlinkLab.exec(lab.server, ["ip", "link", "show", "dev", "b"]).stdout
            #expect(shown.contains("xdpgeneric") && shown.contains("prog/xdp id \(drop.programID) name xdp_drop"), "ip link: \(shown)")
            #expect(FileManager.default.fileExists(atPath: drop.pinDirectory + "/link") == (via == "link"))

            #expect(try !lab.ping(2), "ping got through xdp_drop")
            try lab.netbpfOK(["detach", "xdp", "b", "--netns", lab.server])
            #expect(try lab.right.interface("b").xdp.programID == nil)
            #expect(try lab.ping(1), "ping still fails after detaching xdp_drop")

            let pass = try lab.attachXDP("count_packets", ["--program-name", "xdp_count"] + extra)
            #expect(try lab.ping(3))
            // Static neighbours and no IPv6: b receives exactly the three echo requests.
            #expect(try AttachLab.readCounters(pass.pinDirectory + "/maps/counters") == [3, 3 * Self.echoFrameBytes])
            try lab.netbpfOK(["detach", "xdp", "b", "--netns", lab.server, "--name", "xdp_count"])
            try lab.expectNothingLeft()
        }
    }

    /// veth has native XDP (since 4.19): `--mode driver` works. A
    /// failure is one clear line and leaves nothing, and fails the test.
    @Test(arguments: ["link", "netlink"])
    func xdpDriverModeOnVeth(via: String) throws {
        try AttachLab.with { lab in
            let extra = via == "netlink" ? ["--netlink"] : []
            let r = try lab.netbpf(["attach", "xdp", "b", AttachLab.source("count_packets"), "--program-name", "xdp_count",
                                    "--netns", lab.server, "--mode", "driver", "--json"] + extra)
            guard r.status == 0 else {
                Issue.record("driver-mode XDP on a veth failed: \(r.stderr)")
                AttachLab.expectOneLineError(r, "xdp")
                try lab.expectNothingLeft()
                return
            }
            let record = try AttachLab.decodeRecord(r.stdout)
            #expect(record.hook == "driver")
            let status = try lab.right.interface("b").xdp
            #expect(status.programID(in: .native) == record.programID)
            #expect(status.programID(in: .generic) == nil)
            let shown = try NetlinkLab.exec(lab.server, ["ip", "link", "show", "dev", "b"]).stdout
            #expect(shown.contains(" xdp ") && !shown.contains("xdpgeneric"), "ip link: \(shown)")
            #expect(try lab.bpftoolNet().xdp.map(\.mode) == ["driver"])
            #expect(try lab.list().contains { $0["hook"] as? String == "xdp/native" && UInt32($0["programID"] as? Int ?? 0) == record.programID })

            #expect(try lab.ping(3))
            #expect(try AttachLab.readCounters(record.pinDirectory + "/maps/counters") == [3, 3 * Self.echoFrameBytes])
            try lab.netbpfOK(["detach", "xdp", "b", "--netns", lab.server])
            try lab.expectNothingLeft()
        }
    }

    // MARK: Socket filters

    struct SocketCase: Sendable, CustomTestStringConvertible {
        var testDescription: String
        /// The filter arguments: a program or --pcap EXPR.
        var filter: [String]
        /// Whether the filter is meant to pass UDP to port 9999 (else ICMP).
        var passesUDP: Bool
    }

    static let socketCases: [SocketCase] = [
        SocketCase(testDescription: "sock_icmp_only program", filter: [AttachLab.source("count_packets"), "--program-name", "sock_icmp_only"], passesUDP: false),
        SocketCase(testDescription: "--pcap icmp", filter: ["--pcap", "icmp"], passesUDP: false),
        SocketCase(testDescription: "--pcap 'udp port 9999'", filter: ["--pcap", "udp port 9999"], passesUDP: true),
    ]

    /// `netbpf attach socket` as a child process while ping and UDP traffic cross b: exactly the
    /// frames the filter keeps are printed, in both directions, with correct summaries.
    @Test(arguments: socketCases)
    func socketFilterPassesOnlyWhatItShould(_ c: SocketCase) throws {
        try AttachLab.with { lab in
            let receiver = try UDPReceiver(namespace: lab.server, port: 9999)
            let ifindex = try lab.right.interfaceIndex(.name("b"))
            let expected = c.passesUDP ? 3 : 4
            let child = try BackgroundProcess([CLI.binary, "attach", "socket", "b"] + c.filter
                                                + ["--netns", lab.server, "--count", String(expected), "--seconds", "30", "--json"],
                                              environment: ["NETBPF_STATE_DIR": lab.stateDirectory])
            let ready = try waitForPacketSocket(in: lab.server, ifindex: ifindex, process: child)
            guard ready else {
                let done = child.finish(timeout: 0)
                Issue.record("the packet socket never got bound (status \(done.status)): \(done.stderr)")
                return
            }
            if c.passesUDP {
                // What must not pass goes first: pings, and UDP to another port (whose ICMP
                // port-unreachable answer is not UDP either).
                #expect(try lab.ping(2))
                try UDPReceiver.send(from: lab.client, to: "10.99.0.2", port: 9998, count: 1)
                try UDPReceiver.send(from: lab.client, to: "10.99.0.2", port: 9999, count: 3)
            } else {
                try UDPReceiver.send(from: lab.client, to: "10.99.0.2", port: 9999, count: 3)
                #expect(try lab.ping(2))
            }
            let done = child.finish(timeout: 20)
            #expect(!done.timedOut, "netbpf attach socket did not stop after \(expected) frames: \(done.stdout) \(done.stderr)")
            #expect(done.status == 0, "netbpf attach socket: \(done.stderr)")
            #expect(done.stderr.isEmpty, "stderr: \(done.stderr)")
            #expect(receiver.drain() == 3, "the UDP datagrams did not all arrive")

            struct Line: Decodable, Equatable { var direction: String; var length: Int; var summary: String }
            let lines = try done.stdout.split(separator: "\n").map { try JSONDecoder().decode(Line.self, from: Data($0.utf8)) }
            #expect(lines.count == expected, "\(done.stdout)")
            if c.passesUDP {
                for l in lines {
                    #expect(l.direction == "in")
                    #expect(l.summary.hasPrefix("IPv4 10.99.0.1.") && l.summary.hasSuffix(" > 10.99.0.2.9999: UDP, length 34"), "\(l.summary)")
                    #expect(l.length == 48)
                }
            } else {
                let request = Line(direction: "in", length: 98, summary: "IPv4 10.99.0.1 > 10.99.0.2: ICMP echo request, length 84")
                let reply = Line(direction: "out", length: 98, summary: "IPv4 10.99.0.2 > 10.99.0.1: ICMP echo reply, length 84")
                #expect(lines == [request, reply, request, reply], "\(done.stdout)")
            }
            try lab.expectNothingLeft()
        }
    }
}
