import Foundation
import Glibc
import Testing
import NetBPFAttach
import NetBPFNetlink
import NetBPFTestSupport

/// One BCC networking example run the way its Python would run it, with netbpf in BCC's
/// place: the example's C extracted from bpfcc-tools at run time (scripts/bcc-corpus.py, the
/// text BCC would compile, never kept in the repository), a simulation from topologies/, and
/// `netbpf attach` / `netbpf map` with a private NETBPF_STATE_DIR. `detachAll` removes every
/// attachment made through it (the simulation's namespaces go with `sim down`).
final class BCCSimRun {
    let sim: String
    let state: String
    let corpusDirectory: String
    let programs: [String: BCCCompatTests.CorpusProgram]
    private var attached: [(hook: String, interface: String, namespace: String)] = []

    init(sim: String, examples: [String]) throws {
        self.sim = sim
        var template = Array("/tmp/netbpf-bn5-state-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw POSIXError(.EIO) }
        state = String(cString: made)
        corpusDirectory = state + "/corpus"
        programs = Dictionary(uniqueKeysWithValues: try BCCCompatTests.extractCorpus(into: corpusDirectory, only: examples).map { ($0.name, $0) })
        let missing = examples.filter { programs[$0] == nil }
        if !missing.isEmpty {
            try? FileManager.default.removeItem(atPath: state)
            throw BCCSimError("bcc-corpus.py captured no program for \(missing) from bpfcc-tools")
        }
    }

    deinit { try? FileManager.default.removeItem(atPath: state) }

    /// The namespace of simulation host `host`.
    func ns(_ host: String) -> String { "nb-\(sim)-\(host)" }

    /// The example's C file and its `-D` flags as netbpf arguments.
    func source(_ example: String) -> [String] {
        guard let p = programs[example] else { return [] }
        return [p.path] + p.defines.flatMap { ["-D", $0] }
    }

    /// `netbpf ARGS`, required to succeed; its stdout.
    @discardableResult
    func netbpf(_ args: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let r = try SimLab.netbpf(args, environment: ["NETBPF_STATE_DIR": state])
        try #require(r.status == 0, "netbpf \(args.joined(separator: " ")) failed (\(r.status)): \(r.stderr)", sourceLocation: sourceLocation)
        return r.stdout
    }

    /// `netbpf attach HOOK IFACE EXAMPLE.c --func F ... --netns nb-SIM-HOST --json`, remembered
    /// for `detachAll`; the record (its pinDirectory holds maps/).
    @discardableResult
    func attach(_ hook: String, _ interface: String, on host: String, _ example: String, _ extra: [String],
                sourceLocation: SourceLocation = #_sourceLocation) throws -> AttachmentRecord {
        let out = try netbpf(["attach", hook, interface] + source(example) + extra + ["--netns", ns(host), "--json"], sourceLocation: sourceLocation)
        attached.append((hook == "xdp" ? "xdp" : "tc", interface, ns(host)))
        return try AttachLab.decodeRecord(out)
    }

    /// Detaches everything `attach` attached (every program of netbpf's on those hooks).
    func detachAll() {
        var done = Set<String>()
        for a in attached.reversed() where done.insert("\(a.hook) \(a.interface) \(a.namespace)").inserted {
            let r = try? SimLab.netbpf(["detach", a.hook, a.interface, "--all", "--netns", a.namespace], environment: ["NETBPF_STATE_DIR": state])
            #expect(r?.status == 0, "detach \(a.hook) \(a.interface) in \(a.namespace): \(r?.stderr ?? "did not run")")
        }
        attached.removeAll()
        let left = (try? FileManager.default.contentsOfDirectory(atPath: state + "/attach")) ?? []
        #expect(left.filter { $0.hasSuffix(".json") }.isEmpty, "attachment records left: \(left)")
    }

    /// `netbpf map dump PIN --json`: (key, value) as JSONSerialization decodes them.
    func dump(_ pin: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> [(key: Any, value: Any)] {
        let out = try netbpf(["map", "dump", pin, "--json"], sourceLocation: sourceLocation)
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [[String: Any]], "map dump JSON: \(out)", sourceLocation: sourceLocation)
        return rows.map { ($0["key"] ?? NSNull(), $0["value"] ?? NSNull()) }
    }

    /// A command in host `host`'s namespace.
    @discardableResult
    func sh(_ host: String, _ args: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        try SimLab.inNamespace(ns(host), args)
    }

    /// Turns IPv6 off in every namespace of the simulation, so the only frames on the wire are
    /// the ones a test sends (router solicitations and MLD reports would land in the counters).
    func quietIPv6() throws {
        for n in try NetworkNamespace.list() where n.hasPrefix("nb-\(sim)-") {
            _ = try SimLab.inNamespace(n, ["sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"])
        }
        usleep(500_000)
    }

    /// The interface's index and MAC address in host `host` (`ip -j link show`).
    func link(_ host: String, _ interface: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> (index: Int, mac: String) {
        let r = try sh(host, ["ip", "-j", "link", "show", "dev", interface])
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]], "ip -j link: \(r.stdout) \(r.stderr)", sourceLocation: sourceLocation)
        let row = try #require(rows.first, sourceLocation: sourceLocation)
        return (row["ifindex"] as? Int ?? -1, row["address"] as? String ?? "")
    }

    /// A permanent neighbour entry (no ARP on the wire, so counters are exact).
    func neighbour(_ host: String, _ address: String, _ mac: String, dev: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let r = try sh(host, ["ip", "neigh", "replace", address, "lladdr", mac, "dev", dev, "nud", "permanent"])
        try #require(r.status == 0, "ip neigh replace in \(host): \(r.stderr)", sourceLocation: sourceLocation)
    }

    /// A JSON number as Int64 (nil for anything else).
    static func int(_ v: Any?) -> Int64? { (v as? NSNumber)?.int64Value }

    /// A per-CPU value (an array of per-CPU numbers) summed, as BCC's `table.sum(k)`; a plain number as it is.
    static func sum(_ v: Any?) -> Int64? {
        if let a = v as? [Any] { return a.reduce(Int64(0)) { $0 + (int($1) ?? 0) } }
        return int(v)
    }

    /// An IPv4 address as the host-order integer BCC's cursor reads give (`ip->src`).
    static func hostOrder(_ dotted: String) -> Int64 {
        dotted.split(separator: ".").reduce(Int64(0)) { $0 << 8 | Int64($1)! }
    }

    /// A MAC address as the integer BCC's `ethernet->src` gives (48 bits, host order).
    static func macValue(_ mac: String) -> UInt64 {
        mac.split(separator: ":").reduce(UInt64(0)) { $0 << 8 | UInt64($1, radix: 16)! }
    }

    /// An integer's little-endian bytes (a map key or value as the kernel stores it here).
    static func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }

    /// Bytes as space-separated hex, for `netbpf map update --value`.
    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined(separator: " ") }
}

struct BCCSimError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}
