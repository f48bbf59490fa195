import Foundation
import Glibc
import Testing
import NetBPF
import NetBPFAttach
import NetBPFNetlink
import NetBPFTestSupport

/// One attach test's world: two fresh namespaces joined by a veth pair, "a" in `client`
/// (10.99.0.1) and "b" in `server` (10.99.0.2), IPv6 off and static neighbours (so the only
/// packets on the wire are the ones a test sends), and a private NETBPF_STATE_DIR for the
/// attachment records. `with` deletes everything afterwards, whether the test passed, failed
/// or threw, and records an issue for anything netbpf left behind: records, pins under
/// /sys/fs/bpf/netbpf/NS, clsact qdiscs, tcx or XDP programs.
struct AttachLab {
    let ns: [String]
    let left: NetlinkSocket
    let right: NetlinkSocket
    /// NETBPF_STATE_DIR for this test (records in STATE/attach).
    let stateDirectory: String

    var client: String { ns[0] }
    var server: String { ns[1] }
    var store: AttachmentStore { AttachmentStore(directory: stateDirectory + "/attach") }
    var attacher: Attacher { Attacher(store: store) }
    /// Where netbpf pins what it attaches to b in the server namespace.
    func pinDirectory(_ hook: String, _ program: String) -> String {
        "\(Pinning.root)/\(server)/b/\(hook)/\(program)"
    }

    static func with<T>(_ body: (AttachLab) throws -> T) throws -> T {
        try NetlinkLab.withVethPair { ns, left, right in
            var template = Array("/tmp/netbpf-attach-test-XXXXXX".utf8CString)
            guard let made = mkdtemp(&template) else { throw BPFError.system("mkdtemp", errno: errno) }
            let lab = AttachLab(ns: ns, left: left, right: right, stateDirectory: String(cString: made))
            defer {
                lab.sweep()
                try? FileManager.default.removeItem(atPath: lab.stateDirectory)
            }
            return try body(lab)
        }
    }

    // MARK: Running things

    typealias Output = (status: Int32, stdout: String, stderr: String)

    /// Runs the built netbpf binary with the lab's private state directory (or the default one,
    /// /run/netbpf, with `defaultState`).
    @discardableResult
    func netbpf(_ args: [String], defaultState: Bool = false, environment: [String: String] = [:]) throws -> Output {
        var env = environment
        if !defaultState && env["NETBPF_STATE_DIR"] == nil { env["NETBPF_STATE_DIR"] = stateDirectory }
        return try NetlinkLab.spawn([CLI.binary] + args, environment: env)
    }

    /// Runs netbpf and requires success; returns stdout.
    @discardableResult
    func netbpfOK(_ args: [String], defaultState: Bool = false, sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let r = try netbpf(args, defaultState: defaultState)
        try #require(r.status == 0, "netbpf \(args.joined(separator: " ")) failed (\(r.status)): \(r.stderr)", sourceLocation: sourceLocation)
        return r.stdout
    }

    /// `netbpf attach tc b PROGRAM --netns SERVER ... --json`, decoded.
    func attachTC(_ program: String, _ extra: [String] = [], sourceLocation: SourceLocation = #_sourceLocation) throws -> AttachmentRecord {
        let out = try netbpfOK(["attach", "tc", "b", Self.source(program), "--netns", server, "--json"] + extra, sourceLocation: sourceLocation)
        return try Self.decodeRecord(out)
    }

    func attachXDP(_ program: String, _ extra: [String] = [], sourceLocation: SourceLocation = #_sourceLocation) throws -> AttachmentRecord {
        let out = try netbpfOK(["attach", "xdp", "b", Self.source(program), "--netns", server, "--json"] + extra, sourceLocation: sourceLocation)
        return try Self.decodeRecord(out)
    }

    static func decodeRecord(_ json: String) throws -> AttachmentRecord {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try decoder.decode(AttachmentRecord.self, from: Data(json.utf8))
    }

    /// programs/NAME.bpf.c
    static func source(_ name: String) -> String {
        TestPrograms.repositoryRoot.appendingPathComponent("programs/\(name).bpf.c").path
    }

    /// `ping -c COUNT 10.99.0.2` from the client; true when every reply came back.
    func ping(_ count: Int) throws -> Bool {
        try NetlinkLab.ping(from: client, "10.99.0.2", count: count)
    }

    // MARK: Reading state

    /// An array map's u64 values through `netbpf map dump PIN --json`.
    func dumpCounters(_ pin: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> [UInt64] {
        let out = try netbpfOK(["map", "dump", pin, "--json"], sourceLocation: sourceLocation)
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [[String: Any]], "map dump JSON: \(out)")
        return rows.sorted { ($0["key"] as? Int ?? 0) < ($1["key"] as? Int ?? 0) }.map { UInt64($0["value"] as? Int ?? -1) }
    }

    /// The same through the library: BPFMap.open(pinned:) and a typed array view.
    static func readCounters(_ pin: String) throws -> [UInt64] {
        try ArrayMap<UInt64>(try BPFMap.open(pinned: pin)).values()
    }

    /// Program ids on b's tcx hook, in run order (BPF_PROG_QUERY inside the namespace).
    func tcxPrograms(_ direction: TCDirection, interface: String = "b") throws -> [UInt32] {
        let namespace = interface == "b" ? server : client
        return try withNamespace(namespace) {
            let index = try NetlinkSocket().interfaceIndex(.name(interface))
            return try TCXAttachments.query(ifindex: index, direction: direction).programIDs
        }
    }

    /// (program id, program name) of each bpf filter `tc filter show dev b HOOK` prints.
    func tcShow(_ hook: String) throws -> [(id: UInt32, name: String, line: String)] {
        let out = try NetlinkLab.exec(server, ["tc", "filter", "show", "dev", "b", hook]).stdout
        return out.split(separator: "\n").compactMap { line -> (UInt32, String, String)? in
            let words = line.split(separator: " ").map(String.init)
            guard let i = words.firstIndex(of: "id"), i + 3 < words.count, words[i + 2] == "name", let id = UInt32(words[i + 1]) else { return nil }
            return (id, words[i + 3], String(line))
        }
    }

    /// `bpftool net -j` in the server namespace: XDP (mode, id) and tc (kind, name, id) on b.
    func bpftoolNet() throws -> (xdp: [(mode: String, id: UInt32)], tc: [(kind: String, name: String, id: UInt32)]) {
        let r = try NetlinkLab.exec(server, ["bpftool", "net", "-j"])
        let top = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]], "bpftool net -j: \(r.stdout) \(r.stderr)")
        let root = top.first ?? [:]
        let xdp = (root["xdp"] as? [[String: Any]] ?? []).filter { $0["devname"] as? String == "b" }
            .map { (mode: $0["mode"] as? String ?? "?", id: UInt32($0["id"] as? Int ?? 0)) }
        let tc = (root["tc"] as? [[String: Any]] ?? []).filter { $0["devname"] as? String == "b" }
            .map { (kind: $0["kind"] as? String ?? "?", name: $0["name"] as? String ?? "?", id: UInt32($0["id"] as? Int ?? 0)) }
        return (xdp, tc)
    }

    /// `netbpf list --netns SERVER --json`, decoded loosely.
    func list() throws -> [[String: Any]] {
        let out = try netbpfOK(["list", "--netns", server, "--json"])
        return try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [[String: Any]], "list JSON: \(out)")
    }

    func hasClsact(_ interface: String = "b") throws -> Bool {
        try (interface == "b" ? right : left).qdiscs(on: .name(interface)).contains { $0.kind == "clsact" }
    }

    /// Every path pinned under /sys/fs/bpf/netbpf/NAMESPACE (relative), for both namespaces.
    func pins() -> [String] {
        ns.flatMap { n -> [String] in
            let root = "\(Pinning.root)/\(n)"
            guard let walker = FileManager.default.enumerator(atPath: root) else {
                return access(root, F_OK) == 0 ? ["\(n) (not a directory)"] : []
            }
            return walker.compactMap { $0 as? String }.map { "\(n)/\($0)" }
        }
    }

    /// Records naming this lab's namespaces, in the private store and in the default one.
    func records() -> [AttachmentRecord] {
        store.all() + AttachmentStore(directory: "/run/netbpf/attach").all().filter { ns.contains($0.namespace ?? "") }
    }

    /// Checks that nothing netbpf makes is left on the lab's interfaces or in bpffs.
    func expectNothingLeft(_ context: String = "", sourceLocation: SourceLocation = #_sourceLocation) throws {
        let what = context.isEmpty ? "" : " (\(context))"
        #expect(records().isEmpty, "records left\(what): \(records().map(\.place))", sourceLocation: sourceLocation)
        #expect(pins().isEmpty, "pins left\(what): \(pins())", sourceLocation: sourceLocation)
        for (sock, dev) in [(left, "a"), (right, "b")] {
            #expect(try !sock.qdiscs(on: .name(dev)).contains { $0.kind == "clsact" }, "clsact left on \(dev)\(what)", sourceLocation: sourceLocation)
            #expect(try sock.interface(.name(dev)).xdp.programID == nil, "XDP left on \(dev)\(what)", sourceLocation: sourceLocation)
            for d in TCDirection.allCases {
                #expect(try tcxPrograms(d, interface: dev).isEmpty, "tcx \(d) programs left on \(dev)\(what)", sourceLocation: sourceLocation)
            }
        }
    }

    /// A failed command: non-zero, nothing on stdout, one line on stderr that starts with
    /// "netbpf: " and contains `text`.
    static func expectOneLineError(_ r: Output, _ text: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(r.status != 0, "expected a failure, got success: \(r.stdout)", sourceLocation: sourceLocation)
        #expect(r.stdout.isEmpty, "stdout of a failed command: \(r.stdout)", sourceLocation: sourceLocation)
        let lines = r.stderr.split(separator: "\n", omittingEmptySubsequences: true)
        #expect(lines.count == 1, "error is not one line: \(r.stderr)", sourceLocation: sourceLocation)
        #expect(r.stderr.hasPrefix("netbpf: "), "error does not start with 'netbpf: ': \(r.stderr)", sourceLocation: sourceLocation)
        #expect(r.stderr.contains(text), "error does not say '\(text)': \(r.stderr)", sourceLocation: sourceLocation)
    }

    /// Removes whatever a test left (undoing records, removing pins) and records an issue for it.
    private func sweep() {
        for record in store.all() {
            Issue.record("attachment left behind: \(record.place)")
            try? attacher.undo(record)
        }
        let defaultStore = AttachmentStore(directory: "/run/netbpf/attach")
        for record in defaultStore.all() where ns.contains(record.namespace ?? "") {
            Issue.record("attachment left behind in /run/netbpf/attach: \(record.place)")
            try? Attacher(store: defaultStore).undo(record)
        }
        for n in ns where access("\(Pinning.root)/\(n)", F_OK) == 0 {
            Issue.record("pins left behind under \(Pinning.root)/\(n): \(pins())")
            removeTree("\(Pinning.root)/\(n)")
        }
        _ = rmdir(Pinning.root) // only if empty: other users' pins stay
    }

    func removeTree(_ path: String) {
        if let entries = try? FileManager.default.contentsOfDirectory(atPath: path) {
            for e in entries { removeTree(path + "/" + e) }
            rmdir(path)
        } else {
            unlink(path)
        }
    }
}

/// A UDP socket bound to 10.99.0.2:PORT inside the server namespace (opened on a namespace
/// thread, so it stays there), so datagrams sent to it get no ICMP port-unreachable back.
final class UDPReceiver {
    let fd: Int32

    init(namespace: String, port: UInt16) throws {
        fd = try withNamespace(namespace) { () throws -> Int32 in
            let s = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
            guard s >= 0 else { throw BPFError.system("socket(AF_INET, SOCK_DGRAM)", errno: errno) }
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_port = port.bigEndian
            addr.sin_addr.s_addr = 0 // INADDR_ANY
            let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(s, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            guard rc == 0 else { let e = errno; close(s); throw BPFError.system("bind(udp \(port))", errno: e) }
            return s
        }
    }

    deinit { close(fd) }

    /// How many datagrams are waiting (read and discarded).
    func drain() -> Int {
        var n = 0
        var buf = [UInt8](repeating: 0, count: 2048)
        while recv(fd, &buf, buf.count, 0) >= 0 { n += 1 }
        return n
    }

    /// Sends `count` datagrams from a socket opened in `namespace` to ADDRESS:PORT.
    static func send(from namespace: String, to address: String, port: UInt16, count: Int, payload: String = "netbpf") throws {
        try withNamespace(namespace) {
            let s = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard s >= 0 else { throw BPFError.system("socket(AF_INET, SOCK_DGRAM)", errno: errno) }
            defer { close(s) }
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_port = port.bigEndian
            inet_pton(AF_INET, address, &addr.sin_addr)
            for _ in 0..<count {
                let sent = payload.withCString { p in
                    withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        sendto(s, p, strlen(p), 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
                }
                guard sent >= 0 else { throw BPFError.system("sendto", subject: "\(address):\(port)", errno: errno) }
                usleep(20_000)
            }
        }
    }
}

/// A child process running in the background with its output in files, for commands that
/// stream (netbpf attach socket). Killed (by its pid) if it outlives `finish`'s timeout.
final class BackgroundProcess {
    let pid: pid_t
    let outPath: String
    let errPath: String

    init(_ argv: [String], environment: [String: String] = [:]) throws {
        let base = "/tmp/netbpf-attach-bg-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        outPath = base + ".out"
        errPath = base + ".err"
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        var env = ProcessInfo.processInfo.environment
        env.merge(environment) { $1 }
        let cEnv = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        let cArgs = argv.map { strdup($0) } + [nil]
        defer { cArgs.forEach { free($0) }; cEnv.forEach { free($0) } }
        var child: pid_t = 0
        let rc = posix_spawn(&child, argv[0], &actions, nil, cArgs, cEnv)
        guard rc == 0 else { throw BPFError.system("posix_spawn", subject: argv[0], errno: rc) }
        pid = child
    }

    private var status: Int32?

    /// Whether it is still running (reaps it if it ended).
    var isRunning: Bool {
        if status != nil { return false }
        var s: Int32 = 0
        if waitpid(pid, &s, WNOHANG) == pid { status = (s & 0x7f) == 0 ? (s >> 8) & 0xff : 128 + (s & 0x7f); return false }
        return true
    }

    var stdout: String { (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "" }
    var stderr: String { (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "" }

    /// Waits up to `timeout` seconds for it to exit (then SIGTERM, then SIGKILL), returns its
    /// exit status and output and removes the output files.
    func finish(timeout: Double) -> (status: Int32, stdout: String, stderr: String, timedOut: Bool) {
        let deadline = Date().addingTimeInterval(timeout)
        while isRunning && Date() < deadline { usleep(20_000) }
        var timedOut = false
        if isRunning {
            timedOut = true
            kill(pid, SIGTERM)
            let grace = Date().addingTimeInterval(2)
            while isRunning && Date() < grace { usleep(20_000) }
            if isRunning {
                kill(pid, SIGKILL)
                var s: Int32 = 0
                waitpid(pid, &s, 0)
                status = 137
            }
        }
        let result = (status ?? -1, stdout, stderr, timedOut)
        unlink(outPath)
        unlink(errPath)
        return result
    }

    deinit { if isRunning { _ = finish(timeout: 0) } }
}

/// Waits until a packet socket bound to ETH_P_ALL on `ifindex` shows in the namespace's
/// /proc/net/packet (netbpf attach socket binds only after its filter is attached), or the
/// process ends. True when the socket is ready.
func waitForPacketSocket(in namespace: String, ifindex: Int32, process: BackgroundProcess, timeout: Double = 30) throws -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline && process.isRunning {
        let table = try NetlinkLab.exec(namespace, ["cat", "/proc/net/packet"]).stdout
        for line in table.split(separator: "\n").dropFirst() {
            let cols = line.split(separator: " ")
            if cols.count > 4, cols[3] == "0003", cols[4] == Substring(String(ifindex)) { return true }
        }
        usleep(50_000)
    }
    return false
}
