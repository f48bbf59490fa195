import Foundation
import Glibc
import NetBPFNetlink

/// A small VXLAN network for the tunnel monitor tests, built with NetBPFNetlink in temporary
/// namespaces and always deleted: hosts h0..hN on one underlay bridge (namespace "sw"), eth0 =
/// 172.16.1.(100+i)/24, and per host one VXLAN device per VNI (10000+v, multicast group
/// 239.1.1.(1+v), UDP 4789, underlay eth0) addressed 192.168.v.(i+1)/24; IPv6 off. It is the
/// shape of topologies/tunnel-mesh (branch sim), small enough for a test; once `netbpf sim`
/// lands this is the one place to swap for `netbpf sim up topologies/tunnel-mesh`.
/// `ipv6Underlay`: two hosts with fd00::1/fd00::2 on eth0 and one unicast VXLAN (VNI 20000,
/// 10.200.0.(i+1)/24) over IPv6.
struct TunnelLab {
    let switchNamespace: String
    let hosts: [String]

    static func with<T>(hosts count: Int = 3, vnis: Int = 3, mtu: UInt32 = 1500, ipv6Underlay: Bool = false,
                        _ body: (TunnelLab) throws -> T) throws -> T {
        let tag = "\(getpid() % 100_000)-\(UInt16.random(in: 0...0xFFFF))"
        let sw = "nbtm-\(tag)-sw"
        var created: [String] = []
        defer { for n in created.reversed() { try? NetworkNamespace.delete(n) } }
        try NetworkNamespace.create(sw); created.append(sw)
        try NetlinkLab.disableIPv6(in: sw)
        let swl = try NetlinkSocket(namespace: sw)
        try swl.createBridge("br0", mtu: mtu)
        try swl.setLinkUp("br0")
        var hosts: [String] = []
        for i in 0..<count {
            let h = "nbtm-\(tag)-h\(i)"
            try NetworkNamespace.create(h); created.append(h)
            hosts.append(h)
            if !ipv6Underlay { try NetlinkLab.disableIPv6(in: h) }
            try swl.createVeth("p\(i)", peer: "eth0", peerNamespace: try NetworkNamespace.open(h), mtu: mtu)
            try swl.setMaster(.name("p\(i)"), "br0")
            try swl.setLinkUp(.name("p\(i)"))
            let hl = try NetlinkSocket(namespace: h)
            try hl.setLinkUp("lo")
            if ipv6Underlay {
                // IPv6 on the underlay only: the VXLAN devices made after this get none (no
                // router solicitations or MLD reports inside the tunnel).
                try hl.addAddress(IPPrefix("fd00::\(i + 1)/64")!, to: "eth0")
                try hl.setLinkUp("eth0")
                try withNamespace(h) {
                    let fd = open("/proc/sys/net/ipv6/conf/default/disable_ipv6", O_WRONLY | O_CLOEXEC)
                    if fd >= 0 { _ = write(fd, "1", 1); close(fd) }
                }
                try hl.createVXLAN("vxlan0", VXLANOptions(vni: 20000, remote: IPAddress("fd00::\(2 - i)"), local: IPAddress("fd00::\(i + 1)"), port: 4789, underlay: "eth0"))
                try hl.addAddress(IPPrefix("10.200.0.\(i + 1)/24")!, to: "vxlan0")
                try hl.setLinkUp("vxlan0")
                continue
            }
            try hl.addAddress(IPPrefix("172.16.1.\(100 + i)/24")!, to: "eth0")
            try hl.setLinkUp("eth0")
            for v in 0..<vnis {
                try hl.createVXLAN("vxlan\(v)", VXLANOptions(vni: UInt32(10000 + v), group: IPAddress("239.1.1.\(1 + v)"), port: 4789, underlay: "eth0"))
                try hl.addAddress(IPPrefix("192.168.\(v).\(i + 1)/24")!, to: .name("vxlan\(v)"))
                try hl.setLinkUp(.name("vxlan\(v)"))
            }
        }
        if ipv6Underlay { usleep(300_000) } // let the underlay's neighbour discovery settle
        return try body(TunnelLab(switchNamespace: sw, hosts: hosts))
    }

    /// `ping -c COUNT -s SIZE` from host `from` (every reply must come back).
    func ping(from: Int, _ address: String, count: Int, size: Int, interval: String = "0.2") throws {
        let r = try NetlinkLab.exec(hosts[from], ["ping", "-n", "-q", "-c", "\(count)", "-s", "\(size)", "-i", interval, "-W", "2", address])
        guard r.status == 0 else { throw LabError("ping \(address) from \(hosts[from]) failed: \(r.stdout) \(r.stderr)") }
    }

    struct LabError: Error, CustomStringConvertible {
        let description: String
        init(_ d: String) { description = d }
    }
}
