import Foundation
import Glibc
import Testing
import NetBPF
import NetBPFControllers
import NetBPFNetlink
import NetBPFTestSupport

/// The `pair` topology (topologies/pair.yaml) brought up under a name of this test process:
/// h1 (eth0: 10.0.0.1/24, fd00::1/64) is the server and runs python3's http.server on port 8000
/// (all addresses) over a directory with /a/b and /secret; h2 (eth0: 10.0.0.2/24, fd00::2/64)
/// runs curl. Everything is removed afterwards, also on failure: the server process, the
/// simulation (`sim down`, checked by SimLab for leftovers), the attachment records; HTTPFilter
/// removes its pins on close, and `checkNothingLeft` checks none are left.
final class HTTPLab: @unchecked Sendable {
    let ns: [String]
    let server: NetlinkSocket
    let client: NetlinkSocket
    let webRoot: String
    let stateDirectory: String
    var children: [pid_t] = []
    /// Filters started through `filter(_:)`, stopped on teardown if a test failed before it did.
    var filters: [RunningFilter] = []

    var serverNS: String { ns[0] }
    var clientNS: String { ns[1] }
    /// The veth ends (h1:eth0 and h2:eth0 in the topology).
    let serverInterface = "eth0"
    let clientInterface = "eth0"

    static let python = "/usr/bin/python3"

    /// Builds the lab, runs `body`, tears everything down whatever happens.
    static func with<T>(serve: Bool = true, _ body: (HTTPLab) throws -> T) throws -> T {
        // Compile both programs (and map LLVM) before the descriptor count starts.
        _ = try HTTPPrograms.open("http_filter", directory: programs)
        _ = try HTTPPrograms.open("http_block", directory: programs)
        let name = SimLab.name("http")
        return try SimLab.withSimulation(SimLab.topology("pair"), name: name) { _ in
            let lab = try HTTPLab(ns: ["nb-\(name)-h1", "nb-\(name)-h2"])
            defer { lab.teardown() }
            try lab.build()
            if serve { try lab.startServer() }
            let result = try body(lab)
            try lab.checkNothingLeft()
            return result
        }
    }

    static var programs: String { TestPrograms.repositoryRoot.appendingPathComponent("programs").path }

    init(ns: [String]) throws {
        self.ns = ns
        server = try NetlinkSocket(namespace: ns[0])
        client = try NetlinkSocket(namespace: ns[1])
        let base = "/tmp/netbpf-http-\(getpid())-\(UInt32.random(in: 0...0xFFFFFF))"
        webRoot = base + "/www"
        stateDirectory = base + "/state"
        try FileManager.default.createDirectory(atPath: webRoot + "/a", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: stateDirectory, withIntermediateDirectories: true)
        try Data("hello\n".utf8).write(to: URL(fileURLWithPath: webRoot + "/a/b"))
        try Data("top secret\n".utf8).write(to: URL(fileURLWithPath: webRoot + "/secret"))
    }

    /// The topology made the link and addresses; loopback is up too (the server answers on it
    /// for the loopback test), which the checks below confirm rather than assume.
    func build() throws {
        for (nl, link) in [(server, serverInterface), (client, clientInterface)] {
            let addresses = try nl.addresses(on: .name(link)).map(\.prefix.description)
            guard addresses.contains(where: { $0.hasPrefix("fd00::") }) else {
                throw ControllerError("topologies/pair.yaml gave \(link) no IPv6 address: \(addresses)")
            }
        }
        for nl in [server, client] { try nl.setLinkUp("lo") }
    }

    /// python3 -m http.server 8000 --bind :: (dual stack) in the server namespace.
    func startServer() throws {
        let pid = try spawnBackground(["/usr/sbin/ip", "netns", "exec", serverNS, Self.python, "-m", "http.server", "8000",
                                       "--bind", "::", "--directory", webRoot])
        children.append(pid)
        // Ready when it answers (before any filter runs, so these requests are never seen).
        for _ in 0..<100 {
            if try curl("http://10.0.0.1:8000/", timeout: 1).code == "200" { return }
            usleep(50_000)
        }
        throw ControllerError("python3 http.server did not come up in the server namespace")
    }

    /// curl from the client namespace: (exit status, HTTP code).
    @discardableResult
    func curl(_ url: String, timeout: Double = 3, _ extra: [String] = []) throws -> (status: Int32, code: String) {
        let r = try NetlinkLab.exec(clientNS, ["curl", "-s", "-o", "/dev/null", "-m", String(timeout), "-w", "%{http_code}"] + extra + [url])
        return (r.status, r.stdout)
    }

    /// Starts a process with stdin, stdout and stderr on /dev/null (or files) and returns its pid.
    func spawnBackground(_ argv: [String], stdout: String = "/dev/null", stderr: String = "/dev/null",
                         environment: [String: String] = [:]) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, stderr, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        let cEnv = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { cEnv.forEach { free($0) } }
        let cArgs = argv.map { strdup($0) } + [nil]
        defer { cArgs.forEach { free($0) } }
        // The test runner's threads block signals and the mask is inherited: give the child an
        // empty mask and default handlers, or SIGTERM/SIGINT would never reach it.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t(), all = sigset_t()
        sigemptyset(&none)
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, argv[0], &actions, &attributes, cArgs, cEnv)
        guard rc == 0 else { throw ControllerError("posix_spawn \(argv[0]): \(String(cString: strerror(rc)))") }
        return pid
    }

    /// Sends `signal` and reaps; returns the exit status (128 + signal when killed).
    @discardableResult
    func stop(_ pid: pid_t, signal sig: Int32 = SIGTERM, timeout: Double = 10) -> Int32 {
        kill(pid, sig)
        var status: Int32 = 0
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid {
                children.removeAll { $0 == pid }
                return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
            }
            if r < 0 { break }
            usleep(20_000)
        }
        kill(pid, SIGKILL)
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        children.removeAll { $0 == pid }
        return -1
    }

    /// Sets TSO and GSO off on an interface of `namespace` (ETHTOOL_STSO/SGSO), so frames leave
    /// as MSS-sized segments and packet sockets see each one.
    func segmentationOff(_ interface: String, in namespace: String) throws {
        try withNamespace(namespace) {
            let s = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
            guard s >= 0 else { throw ControllerError("socket: \(errno)") }
            defer { close(s) }
            for command: UInt32 in [0x1f, 0x24] { // ETHTOOL_STSO, ETHTOOL_SGSO
                var value: (UInt32, UInt32) = (command, 0)
                var request = ifreq()
                withUnsafeMutableBytes(of: &request.ifr_ifrn.ifrn_name) { name in
                    for (i, c) in interface.utf8.prefix(15).enumerated() { name[i] = c }
                }
                let rc = withUnsafeMutablePointer(to: &value) { v -> Int32 in
                    request.ifr_ifru.ifru_data = UnsafeMutableRawPointer(v).assumingMemoryBound(to: CChar.self)
                    return ioctl(s, 0x8946, &request) // SIOCETHTOOL
                }
                guard rc == 0 else { throw ControllerError("SIOCETHTOOL \(command) on \(interface): errno \(errno)") }
            }
        }
    }

    /// Sends raw frames out of `interface` in `namespace` with an AF_PACKET socket.
    func send(frames: [[UInt8]], on interface: String, in namespace: String) throws {
        try withNamespace(namespace) {
            let ifindex = try NetlinkSocket().interfaceIndex(.name(interface))
            let s = socket(AF_PACKET, Int32(SOCK_RAW.rawValue), 0)
            guard s >= 0 else { throw ControllerError("socket(AF_PACKET): \(errno)") }
            defer { close(s) }
            // struct sockaddr_ll (20 bytes; not in Swift's Glibc module): family, protocol,
            // ifindex, hatype, pkttype, halen, addr[8].
            var address = [UInt8](repeating: 0, count: 20)
            address[0] = UInt8(AF_PACKET)
            withUnsafeBytes(of: ifindex.littleEndian) { for i in 0..<4 { address[4 + i] = $0[i] } }
            address[11] = 6
            for frame in frames {
                let n = address.withUnsafeBytes { a in
                    frame.withUnsafeBytes { sendto(s, $0.baseAddress, $0.count, 0, a.baseAddress!.assumingMemoryBound(to: sockaddr.self), 20) }
                }
                guard n == frame.count else { throw ControllerError("sendto(AF_PACKET): errno \(errno)") }
            }
        }
    }

    /// Nothing of ours stays behind: no pins under /sys/fs/bpf/netbpf/NS, no records.
    func checkNothingLeft() throws {
        for n in ns {
            #expect(!FileManager.default.fileExists(atPath: Pinning.root + "/" + n), "pins left under \(Pinning.root)/\(n)")
        }
        let records = (try? FileManager.default.contentsOfDirectory(atPath: stateDirectory + "/attach")) ?? []
        #expect(records.isEmpty, "attachment records left: \(records)")
    }

    /// Starts an HTTPFilter on its own thread; teardown stops it if the test does not.
    func filter(_ options: HTTPFilter.Options) throws -> RunningFilter {
        let f = try RunningFilter(options)
        filters.append(f)
        return f
    }

    func teardown() {
        for f in filters { try? f.stop() }
        filters.removeAll()
        for pid in children { stop(pid) }
        // Whatever a failed test left attached in the namespaces goes with them; pins do not.
        for n in ns { removeTree(Pinning.root + "/" + n) }
        removeTree((webRoot as NSString).deletingLastPathComponent)
    }

    func removeTree(_ path: String) {
        if let entries = try? FileManager.default.contentsOfDirectory(atPath: path) {
            for e in entries { removeTree(path + "/" + e) }
            rmdir(path)
        } else {
            unlink(path)
        }
    }

    /// Options for a filter on the server side.
    func serverOptions(blocking entries: [HTTPBlockEntry] = []) -> HTTPFilter.Options {
        var o = HTTPFilter.Options()
        o.interface = serverInterface
        o.namespace = serverNS
        o.blockEntries = entries
        o.programsDirectory = Self.programs
        o.recordDirectory = stateDirectory + "/attach"
        return o
    }
}

/// An HTTPFilter running on its own thread, collecting events until stopped.
final class RunningFilter: @unchecked Sendable {
    let filter: HTTPFilter
    private let lock = NSLock()
    private var collected: [HTTPEvent] = []
    private var stopping = false
    private var failure: Error?
    private let done = DispatchSemaphore(value: 0)

    init(_ options: HTTPFilter.Options) throws {
        filter = try HTTPFilter(options)
        let ready = DispatchSemaphore(value: 0)
        let thread = Thread { [self] in
            do {
                try filter.run(pollMilliseconds: 20, ready: { ready.signal() }, until: { self.lock.withLock { self.stopping } }) { event in
                    self.lock.withLock { self.collected.append(event) }
                }
            } catch {
                self.lock.withLock { self.failure = error }
                ready.signal()
            }
            done.signal()
        }
        thread.start()
        if ready.wait(timeout: .now() + 10) == .timedOut { throw ControllerError("the filter did not start") }
        if let failure = lock.withLock({ self.failure }) { throw failure }
    }

    var events: [HTTPEvent] { lock.withLock { collected } }

    /// Waits until at least `count` events were seen (or the timeout), then returns them all.
    func wait(for count: Int, timeout: Double = 5) -> [HTTPEvent] {
        let deadline = Date().addingTimeInterval(timeout)
        while events.count < count && Date() < deadline { usleep(10_000) }
        return events
    }

    private var stopped = false

    /// Stops the loop, detaches the blocking program, returns the events (idempotent).
    @discardableResult
    func stop() throws -> [HTTPEvent] {
        let first = lock.withLock { () -> Bool in
            defer { stopping = true; stopped = true }
            return !stopped
        }
        if first { done.wait() }
        filter.close()
        if let failure = lock.withLock({ self.failure }) { throw failure }
        return events
    }
}

/// Runs the netbpf binary to completion (posix_spawn, so the descriptor check stays exact).
func netbpf(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
    try NetlinkLab.spawn([CLI.binary] + arguments)
}

/// An event as a line without what changes from run to run: the time, the client's port and
/// the latency. "response 10.0.0.2:* -> 10.0.0.1:8000 GET 10.0.0.1:8000 / 200 OK".
func shape(_ event: HTTPEvent) -> String {
    var line = String(HTTPEventFormat.text(event).dropFirst(16))
    if let r = line.range(of: #":[0-9]+ -> "#, options: .regularExpression) { line.replaceSubrange(r, with: ":* -> ") }
    if let r = line.range(of: #" \([0-9.]+ ms\)$"#, options: .regularExpression) { line.removeSubrange(r) }
    return line
}
