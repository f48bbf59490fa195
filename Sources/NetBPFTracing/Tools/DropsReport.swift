import Foundation
import Glibc
import NetBPF
import Synchronization

/// Where a program sits: a namespace (inode), an interface index there, and a hook
/// ("ingress", "egress" or "xdp").
public struct HookPlace: Hashable, Sendable {
    /// The namespace's inode.
    public var netns: UInt32
    /// The interface's index in that namespace.
    public var ifindex: Int32
    /// "ingress", "egress" or "xdp".
    public var hook: String
    /// A place as given.
    public init(netns: UInt32, ifindex: Int32, hook: String) { self.netns = netns; self.ifindex = ifindex; self.hook = hook }
}

/// The names drops prints places with: namespaces by their /run/netns name (or their host name
/// in a running simulation), and the program attached at a tc or XDP hook. The tracing layer
/// fills what it can see itself (`scan()`); the CLI adds simulation hosts and netbpf's
/// attachment records, which live in modules this one does not depend on.
public struct DropsNames: Sendable {
    /// Namespace inode -> its name in /run/netns.
    public var namespaces: [UInt32: String] = [:]
    /// The inode of the namespace drops runs in (shown without a prefix).
    public var ownNamespace: UInt32 = 0
    /// Namespace name -> the simulation host living in it ("h2").
    public var hosts: [String: String] = [:]
    /// The program at a hook, described ("ratelimit (id 104) on web/vxlan100 tcx ingress").
    public var programs: [HookPlace: String] = [:]

    /// No names known (`scan()` fills what it can see).
    public init() {}

    /// The inode of a namespace file (/run/netns/NAME, /proc/self/ns/net), nil when absent.
    public static func inode(_ path: String) -> UInt32? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return UInt32(truncatingIfNeeded: st.st_ino)
    }

    /// Namespaces of /run/netns and this process's own.
    public static func scan() -> DropsNames {
        var n = DropsNames()
        n.ownNamespace = inode("/proc/self/ns/net") ?? 0
        for name in (try? FileManager.default.contentsOfDirectory(atPath: "/run/netns")) ?? [] {
            if let i = inode("/run/netns/" + name) { n.namespaces[i] = name }
        }
        return n
    }

    /// "h2" (simulation host), "ns1" (/run/netns), "" (our own), or "netns:4026532481".
    public func namespaceLabel(_ inode: UInt32) -> String {
        if inode == ownNamespace { return "" }
        guard let name = namespaces[inode] else { return inode == 0 ? "?" : "netns:\(inode)" }
        return hosts[name] ?? name
    }

    /// "h2/eth0", "eth0" in our own namespace, "ns1/-" without a device.
    public func place(netns: UInt32, ifname: String) -> String {
        let ns = namespaceLabel(netns)
        let dev = ifname.isEmpty ? "-" : ifname
        return ns.isEmpty ? dev : ns + "/" + dev
    }
}

/// One line of drops' report.
public struct DropRow: Sendable, Encodable, Equatable {
    /// The reason's name from the kernel's BTF ("NO_SOCKET").
    public var reason: String
    /// Its value in `enum skb_drop_reason`.
    public var reasonCode: UInt32
    /// The kernel function that dropped it ("__udp4_lib_rcv+0x8a3").
    public var location: String
    /// The namespace: a simulation host, a /run/netns name, "" for drops' own, "netns:INODE".
    public var namespace: String
    /// The namespace's inode.
    public var netnsInode: UInt32
    /// The device's name ("" without one).
    public var interface: String
    /// Namespace and interface: "h2/eth0".
    public var place: String
    /// The program netbpf attached at the hook that dropped it (TC_INGRESS, TC_EGRESS, XDP).
    public var program: String?
    /// "udp", "tcp", "icmp", "arp", ...
    public var proto: String
    /// Source address ("" for non-IP), with ":port" when kept (--by-flow).
    public var source: String
    /// Destination address, with ":port" for TCP and UDP.
    public var destination: String
    /// Packets dropped (the row's count).
    public var packets: UInt64
    /// Their bytes (skb->len when dropped).
    public var bytes: UInt64
}

/// Turns the kernel's table into rows, a table, and Prometheus text.
public enum DropsReport {
    /// nil until first use; then the symbols, or nil inside when /proc/kallsyms is unreadable.
    private static let symbols = Mutex<KernelSymbols??>(nil)

    /// "func+0x1c" for a kernel address; /proc/kallsyms is read on first use (not at start-up).
    public static func symbolize(_ address: UInt64) -> String {
        let loaded = symbols.withLock { cached -> KernelSymbols? in
            if cached == nil { cached = .some(try? KernelSymbols()) }
            return cached ?? nil
        }
        guard address != 0 else { return "-" }
        guard let s = loaded else { return "0x" + String(address, radix: 16) }
        let text = s.describe(address)
        return text == "[unknown]" ? "0x" + String(address, radix: 16) : text
    }

    /// Reads /proc/kallsyms on a thread of its own (about a second in a debug build), so the
    /// first report after a drop does not wait for it and start-up does not either.
    public static func preloadSymbols() {
        Thread.detachNewThread { _ = symbolize(0) }
    }

    /// The hook a reason names, for the program lookup.
    static func hook(_ reason: String) -> String? {
        switch reason {
        case "TC_INGRESS": return "ingress"
        case "TC_EGRESS": return "egress"
        case "XDP": return "xdp"
        default: return nil
        }
    }

    static func protoName(_ k: Drops.Key) -> String {
        if k.family != 0 {
            switch k.l4proto {
            case 1: return "icmp"
            case 2: return "igmp"
            case 6: return "tcp"
            case 17: return "udp"
            case 47: return "gre"
            case 58: return "icmp6"
            case 132: return "sctp"
            default: return "ip\(k.family == 6 ? "6" : "")/\(k.l4proto)"
            }
        }
        switch k.l3proto {
        case 0x0806: return "arp"
        case 0x88cc: return "lldp"
        case 0: return "-"
        default: return "0x" + String(format: "%04x", k.l3proto)
        }
    }

    static func address(_ bytes: [UInt8], family: UInt8, port: UInt16, showPort: Bool) -> String {
        guard family != 0 else { return "" }
        let text = bytes.withUnsafeBytes { addressText($0, family: family == 6 ? 10 : 2) }
        guard showPort else { return text }
        return family == 6 ? "[\(text)]:\(port)" : "\(text):\(port)"
    }

    /// Rows sorted by packets (most first), then reason and place.
    public static func rows(_ table: [Drops.Key: Drops.Count], names: DropsNames) -> [DropRow] {
        table.map { k, c in
            let reason = DropReasons.name(k.reason)
            let ported = k.family != 0 && (k.l4proto == 6 || k.l4proto == 17)
            let program = hook(reason).flatMap { names.programs[HookPlace(netns: k.netns, ifindex: k.ifindex, hook: $0)] }
            return DropRow(reason: reason, reasonCode: k.reason, location: symbolize(k.location), namespace: names.namespaceLabel(k.netns),
                           netnsInode: k.netns, interface: k.ifname, place: names.place(netns: k.netns, ifname: k.ifname), program: program,
                           proto: protoName(k), source: address(k.source, family: k.family, port: k.sport, showPort: ported && k.sport != 0),
                           destination: address(k.destination, family: k.family, port: k.dport, showPort: ported),
                           packets: c.packets, bytes: c.bytes)
        }.sorted { a, b in
            if a.packets != b.packets { return a.packets > b.packets }
            if a.reason != b.reason { return a.reason < b.reason }
            if a.place != b.place { return a.place < b.place }
            return (a.location, a.source, a.destination) < (b.location, b.source, b.destination)
        }
    }

    /// The column header.
    public static let header = pad("PACKETS", 8) + " " + pad("REASON", 20) + " " + pad("LOCATION", 32) + " " + pad("WHERE", 18) + " "
        + pad("PROTO", 5) + " " + pad("SOURCE", 22) + " " + pad("DESTINATION", 22) + " PROGRAM"

    /// One line under `header`.
    public static func line(_ r: DropRow) -> String {
        let count = String(r.packets)
        return String(repeating: " ", count: max(0, 8 - count.count)) + count + " " + pad(r.reason, 20) + " " + pad(r.location, 32) + " "
            + pad(r.place, 18) + " " + pad(r.proto, 5) + " " + pad(r.source.isEmpty ? "-" : r.source, 22) + " "
            + pad(r.destination.isEmpty ? "-" : r.destination, 22) + " " + (r.program ?? "")
    }

    /// Label value escaping of the Prometheus text format (backslash, quote, line feed).
    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n")
    }

    /// The Content-Type of `prometheus(_:tableFull:seen:)`'s text (format 0.0.4).
    public static let prometheusContentType = "text/plain; version=0.0.4; charset=utf-8"

    /// Prometheus text format 0.0.4, as the tunnel monitor's /metrics: every family with HELP and
    /// TYPE, series sorted so two scrapes of the same counts are byte-identical. Drops are summed
    /// by (reason, host, interface); `host` is the simulation host or namespace name, "root" for
    /// drops' own namespace.
    public static func prometheus(_ rows: [DropRow], tableFull: UInt64, seen: UInt64) -> String {
        struct Series: Hashable, Comparable {
            var reason: String, host: String, interface: String
            static func < (a: Series, b: Series) -> Bool { (a.reason, a.host, a.interface) < (b.reason, b.host, b.interface) }
        }
        var packets: [Series: UInt64] = [:], bytes: [Series: UInt64] = [:]
        for r in rows {
            let s = Series(reason: r.reason, host: r.namespace.isEmpty ? "root" : r.namespace, interface: r.interface)
            packets[s, default: 0] += r.packets
            bytes[s, default: 0] += r.bytes
        }
        var out = ""
        func family(_ name: String, _ type: String, _ help: String) { out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n" }
        func labels(_ s: Series) -> String { "{reason=\"\(escape(s.reason))\",host=\"\(escape(s.host))\",interface=\"\(escape(s.interface))\"}" }
        family("netbpf_drops_packets_total", "counter", "Packets the kernel dropped (skb:kfree_skb), by drop reason, host (simulation host or namespace) and interface.")
        for s in packets.keys.sorted() { out += "netbpf_drops_packets_total\(labels(s)) \(packets[s]!)\n" }
        family("netbpf_drops_bytes_total", "counter", "Bytes of those packets (skb->len when dropped).")
        for s in bytes.keys.sorted() { out += "netbpf_drops_bytes_total\(labels(s)) \(bytes[s]!)\n" }
        family("netbpf_drops_unrecorded_total", "counter", "Drops that matched but found the in-kernel table full (in no series above).")
        out += "netbpf_drops_unrecorded_total \(tableFull)\n"
        family("netbpf_drops_seen_total", "counter", "Every drop the program ran on, before the namespace and pcap filters.")
        out += "netbpf_drops_seen_total \(seen)\n"
        return out
    }
}
