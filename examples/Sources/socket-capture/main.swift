// BCC's attach_raw_socket, with a pcap expression instead of C: a classic filter compiled by
// libpcap (as tcpdump does) on an AF_PACKET socket in a temporary namespace, three pings on its
// loopback, and what the filter let through. Usage: socket-capture [EXPRESSION]
import Foundation
import NetBPFKit

let expression = CommandLine.arguments.dropFirst().first ?? "icmp"
let filter = try ClassicFilter.compile(pcap: expression)

try NetworkNamespace.withTemporary(prefix: "cap") { ns in
    try NetlinkSocket(namespace: ns).setLinkUp(.name("lo"))
    // The socket is opened on the namespace's thread and stays bound to that namespace.
    let socket = try withNamespace(ns) { try PacketSocket(classic: filter, ifindex: try NetlinkSocket().interfaceIndex(.name("lo"))) }
    let ping = Process()
    ping.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
    ping.arguments = ["netns", "exec", ns, "ping", "-c", "3", "-i", "0.2", "-q", "127.0.0.1"]
    ping.standardOutput = FileHandle.nullDevice
    try ping.run()
    ping.waitUntilExit()
    var frames = 0
    while let frame = try socket.receive(timeoutMilliseconds: 200) {
        frames += 1
        print("\(frame.isOutgoing ? "out" : "in ") \(PacketSummary.describe(frame.data))")
    }
    print("\(frames) frames matched '\(expression)'")
}
