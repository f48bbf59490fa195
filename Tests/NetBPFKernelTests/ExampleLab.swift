import Foundation
import Glibc
import Testing
import NetBPF
import NetBPFAttach
import NetBPFNetlink
import NetBPFTestSupport

/// Temporary namespaces joined by veth pairs for the traffic tests of BCC's examples
/// (ExampleTrafficTests): each test gets its own namespaces ("nbe-PID-RAND-x"), an attachment
/// store in a temporary directory, and on the way out (also on failure) everything recorded in
/// the store is undone and the namespaces are deleted.
struct ExampleLab {
    let tag: String
    let stateDir: String
    var store: AttachmentStore { AttachmentStore(directory: stateDir + "/attach") }
    var environment: [String: String] { ["NETBPF_STATE_DIR": stateDir] }

    /// The namespace called `short` in this lab.
    func ns(_ short: String) -> String { "nbe-\(tag)-\(short)" }

    static func with<T>(namespaces: [String], _ body: (ExampleLab) throws -> T) throws -> T {
        let tag = "\(getpid() % 100_000)-\(UInt16.random(in: 0...UInt16.max))"
        let lab = ExampleLab(tag: tag, stateDir: FileManager.default.temporaryDirectory.appendingPathComponent("nbe-\(tag)").path)
        defer {
            for r in lab.store.all() { try? Attacher(store: lab.store).undo(r) }
            for n in namespaces { _ = try? TestPrograms.run("/usr/sbin/ip", ["netns", "del", lab.ns(n)]) }
            try? FileManager.default.removeItem(atPath: lab.stateDir)
        }
        for n in namespaces { try lab.ip(["netns", "add", lab.ns(n)]) }
        return try body(lab)
    }

    /// `ip ARGS`, required to succeed.
    func ip(_ args: [String]) throws {
        let r = try TestPrograms.run("/usr/sbin/ip", args)
        try #require(r.status == 0, "ip \(args): \(r.stderr)")
    }

    @discardableResult
    func run(_ short: String, _ args: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        try SimLab.inNamespace(ns(short), args)
    }

    /// A veth from `a`:`devA` to `b`:`devB`, both up with `addrA`/`addrB` (IPv4 or IPv6 with
    /// nodad). With `ipv6: false`, IPv6 is off in both namespaces: no router solicitations or
    /// MLD reports, only the frames a test sends.
    func veth(_ a: String, _ devA: String, _ addrA: String?, _ b: String, _ devB: String, _ addrB: String?, ipv6: Bool = false) throws {
        try ip(["-n", ns(a), "link", "add", devA, "type", "veth", "peer", "name", devB, "netns", ns(b)])
        for (n, dev, addr) in [(a, devA, addrA), (b, devB, addrB)] {
            if !ipv6 {
                try run(n, ["sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1", "net.ipv6.conf.\(dev).disable_ipv6=1"])
            }
            if let addr { try ip(["-n", ns(n), "addr", "add", addr, "dev", dev] + (addr.contains(":") ? ["nodad"] : [])) }
            try ip(["-n", ns(n), "link", "set", dev, "up"])
        }
    }

    func mac(_ short: String, _ dev: String) throws -> MACAddress {
        try #require(try NetlinkSocket(namespace: ns(short)).interface(.name(dev)).macAddress)
    }

    func ifindex(_ short: String, _ dev: String) throws -> Int32 { try NetlinkSocket(namespace: ns(short)).interfaceIndex(.name(dev)) }

    /// A permanent neighbour entry, so IPv4 traffic needs no ARP.
    func neighbour(_ short: String, _ dev: String, _ address: String, _ mac: MACAddress) throws {
        try ip(["-n", ns(short), "neigh", "replace", address, "lladdr", mac.description, "dev", dev, "nud", "permanent"])
    }

    /// `count` one-byte UDP datagrams from namespace `short` to `address` port 9 (with
    /// `broadcast`, SO_BROADCAST is set: for a broadcast address such as 10.9.0.255).
    func udp(from short: String, to address: String, count: Int, broadcast: Bool = false) throws {
        let option = broadcast ? "; s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)" : ""
        let r = try run(short, ["python3", "-c", "import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\(option)\nfor _ in range(\(count)): s.sendto(b'x', ('\(address)', 9))"])
        try #require(r.status == 0, "udp: \(r.stderr)")
    }

    /// The frames matching `filter` (pcap syntax) that `dev` in `short` receives while `traffic`
    /// runs and up to `settle` seconds after the last one (outgoing frames are left out). An
    /// AF_PACKET socket opened inside the namespace and bound to the interface.
    func received(_ short: String, _ dev: String, _ filter: String, settle: Double = 0.5, traffic: () throws -> Void) throws -> [CapturedFrame] {
        let index = try ifindex(short, dev)
        let socket = try withNamespace(ns(short)) { try PacketSocket(classic: ClassicFilter.compile(pcap: filter), ifindex: index) }
        try traffic()
        var frames: [CapturedFrame] = []
        while let f = try socket.receive(timeoutMilliseconds: Int32(settle * 1000)) {
            if !f.isOutgoing { frames.append(f) }
        }
        return frames
    }

    /// Whether `dev` in `short` has any XDP program (netlink IFLA_XDP_ATTACHED).
    func hasXDP(_ short: String, _ dev: String) throws -> Bool {
        try NetlinkSocket(namespace: ns(short)).xdp(on: .name(dev)).attached != .none
    }
}
