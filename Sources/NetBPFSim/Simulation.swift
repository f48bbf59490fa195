import Foundation
import Glibc
import NetBPFNetlink
import Synchronization

/// How `Simulation.up` behaves.
public struct UpOptions: Sendable {
    /// Tear down a running copy and build again even if it is healthy.
    public var recreate = false
    /// Called with a line for each build step ("step 12: h1: address 10.0.0.1/24 on eth0").
    public var progress: (@Sendable (String) -> Void)?
    /// Polled before each step; a non-nil signal number stops the build, which is then torn down.
    /// The CLI passes `{ SimSignals.received }` after `SimSignals.install()`.
    public var cancelled: @Sendable () -> Int32? = { nil }

    /// Options; `cancelled` starts as "never" and is set on the value.
    public init(recreate: Bool = false, progress: (@Sendable (String) -> Void)? = nil) {
        self.recreate = recreate
        self.progress = progress
    }
}

/// What `up` did.
public struct UpResult: Sendable {
    /// What `up` found and did.
    public enum Outcome: Sendable, Equatable {
        /// Built from nothing.
        case created
        /// It was running and complete: nothing was changed.
        case alreadyUp
        /// It was running; these processes (HOST.NAME) had died and were started again.
        case restartedProcesses([String])
        /// A previous copy was torn down first, for this reason, then the topology was built.
        case recreated(String)
    }

    /// What `up` found and did.
    public var outcome: Outcome
    /// Wall time of the whole call.
    public var seconds: Double
    /// Kernel changes made (0 when it was already up).
    public var steps: Int
    /// The simulation as the kernel shows it afterwards.
    public var report: SimulationReport
}

/// Simulations: build a topology (`up`), inspect it (`status`), run commands in its hosts
/// (`exec`), and remove everything it created (`down`), even after `up` was killed.
/// State lives in /run/netbpf/sim/NAME (see `Journal`). Everything needs root.
public enum Simulation {
    /// Builds `topology`, or reports that it is already up (starting again any of its processes
    /// that died), or — when a previous `up` of the same name was interrupted, a namespace has gone
    /// missing, or `options.recreate` is set — tears the old copy down and builds it again.
    /// If building fails or is interrupted, everything made so far is removed before this throws.
    /// - Throws: `SimError`: `.invalidTopology` (a BPF program that does not load; nothing was
    ///   created), `.conflict` (a name is taken, or the simulation runs from another version of
    ///   the file), `.interrupted`, `.buildFailed`, `.busy`, `.permission`.
    public static func up(_ topology: Topology, options: UpOptions = UpOptions()) throws -> UpResult {
        let started = Date()
        try requireRoot("sim up")
        let dir = StateDirectory(name: topology.name)
        let lock = try SimulationLock(dir)
        defer { withExtendedLifetime(lock) {} }
        var outcome = UpResult.Outcome.created
        if let existing = try dir.readJournal() {
            var reason: String
            if existing.state == .up && !options.recreate {
                guard existing.topologyHash == topology.contentHash && existing.file == topology.absolutePath else {
                    throw SimError(.conflict, operation: "sim up", subject: topology.name,
                                   message: "simulation '\(topology.name)' is up from \(existing.file == topology.absolutePath ? "another version of \(existing.file)" : existing.file)",
                                   hint: "run `netbpf sim down \(topology.name)` first, or `netbpf sim up --recreate`, or pick another --name")
                }
                let missing = existing.namespaces.filter { !NetworkNamespace.exists($0.name) }
                if missing.isEmpty {
                    let restarted = try restartDeadProcesses(existing, topology: topology, dir: dir, options: options)
                    let journal = try dir.readJournal() ?? existing
                    return UpResult(outcome: restarted.isEmpty ? .alreadyUp : .restartedProcesses(restarted),
                                    seconds: Date().timeIntervalSince(started), steps: restarted.count,
                                    report: SimulationReport.make(journal, dir: dir, nodeOrder: topology.nodes.map(\.name)))
                }
                reason = "namespace\(missing.count == 1 ? "" : "s") \(missing.map(\.name).joined(separator: ", ")) had disappeared"
            } else if existing.state == .up {
                reason = "--recreate was given"
            } else {
                reason = "an earlier `up` (pid \(existing.ownerPID)) did not finish (\(existing.state.rawValue), \(existing.steps) steps)"
            }
            let t = Teardown.run(existing, dir: dir)
            guard t.leftovers.isEmpty else { throw incomplete(t) }
            outcome = .recreated(reason)
        }
        do {
            try checkConflicts(topology)
            let prepared = try BPFPreparation(topology)
            let builder = Builder(topology: topology, dir: dir, options: options, prepared: prepared)
            do {
                try builder.run()
            } catch {
                let journal = builder.journal
                let steps = builder.steps
                builder.release()
                let t = Teardown.run(journal, dir: dir)
                let cleanup = t.leftovers.isEmpty ? "everything it had made was removed"
                    : "could not remove: \(t.leftovers.joined(separator: "; ")) (run `netbpf sim down \(topology.name)`)"
                if var e = error as? SimError, e.code == .interrupted {
                    e.message += "; \(cleanup)"
                    throw e
                }
                throw SimError(.buildFailed, operation: "sim up", subject: topology.name,
                               message: "step \(steps) failed: \(error); \(cleanup)",
                               hint: (error as? NetlinkError)?.hint)
            }
            let journal = builder.journal
            let steps = builder.steps
            builder.release()
            return UpResult(outcome: outcome, seconds: Date().timeIntervalSince(started), steps: steps,
                            report: SimulationReport.make(journal, dir: dir, nodeOrder: topology.nodes.map(\.name)))
        } catch {
            if (try? dir.readJournal()) == nil {
                dir.remove()
                lock.removeFile()
            }
            throw error
        }
    }

    static func requireRoot(_ operation: String) throws {
        guard geteuid() == 0 else {
            throw SimError(.permission, operation: operation, message: "simulations need root (namespaces, links, BPF)",
                           hint: "run it with sudo")
        }
    }

    /// Refuses to start when a namespace or root interface the topology needs already exists.
    static func checkConflicts(_ topology: Topology) throws {
        for (node, _) in topology.nodes {
            let ns = topology.namespace(of: node)
            if NetworkNamespace.exists(ns) {
                throw SimError(.conflict, operation: "sim up", subject: topology.name,
                               message: "network namespace '\(ns)' exists but belongs to no journal of simulation '\(topology.name)'",
                               hint: "remove it (ip netns delete \(ns)) or run the topology under another name (--name)")
            }
        }
        let rootNames = topology.links.flatMap { l -> [String] in
            let (a, b) = topology.resolve(l)
            return [a, b].filter { $0.node == nil }.map(\.interface)
        }
        if !rootNames.isEmpty {
            let nl = try NetlinkSocket()
            for n in rootNames where try nl.interfaceExists(.name(n)) {
                throw SimError(.conflict, operation: "sim up", subject: topology.name,
                               message: "interface '\(n)' already exists in the root namespace",
                               hint: "delete it (ip link del \(n)) or rename the link end")
            }
        }
    }

    static func restartDeadProcesses(_ journal: Journal, topology: Topology, dir: StateDirectory, options: UpOptions) throws -> [String] {
        let dead = journal.processes.filter { e in !(e.pid.map { SimProcesses.isAlive($0, startTime: e.startTime) } ?? false) }
        guard !dead.isEmpty else { return [] }
        let builder = Builder(topology: topology, dir: dir, options: options, prepared: BPFPreparation.empty)
        builder.journal = journal
        var restarted: [String] = []
        for e in dead {
            guard let config = topology.host(named: e.host)?.processes.first(where: { $0.name == e.name }),
                  let ns = journal.hosts[e.host] else { continue }
            try builder.start(config, host: e.host, namespace: try NetworkNamespace.open(ns))
            restarted.append("\(e.host).\(e.name)")
        }
        builder.release()
        return restarted
    }

    static func incomplete(_ t: TeardownResult) -> SimError {
        SimError(.teardownIncomplete, operation: "sim down", subject: t.name,
                 message: "could not remove: \(t.leftovers.joined(separator: "; "))",
                 hint: "the journal was kept; fix the cause and run `netbpf sim down \(t.name)` again")
    }

    /// Removes everything simulation `name` created (processes, pins, root links, namespaces and
    /// all inside them) using its journal, then its state directory.
    /// - Throws: `.notFound` if there is no such simulation; `.teardownIncomplete` (journal kept).
    @discardableResult
    public static func down(_ name: String) throws -> TeardownResult {
        try requireRoot("sim down")
        let dir = StateDirectory(name: name)
        guard dir.exists else {
            let known = StateDirectory.all()
            throw SimError(.notFound, operation: "sim down", subject: name, message: "no simulation named '\(name)'",
                           hint: known.isEmpty ? "no simulation is running" : "running: \(known.joined(separator: ", "))")
        }
        let lock = try SimulationLock(dir, timeout: 120)
        defer { withExtendedLifetime(lock) {} }
        guard let journal = try dir.readJournal() else {
            // Another `down` removed it while this one waited; the lock file this one's wait
            // made again is ours to remove.
            if !dir.exists { lock.removeFile() }
            throw SimError(.notFound, operation: "sim down", subject: name, message: "simulation '\(name)' was just removed")
        }
        let t = Teardown.run(journal, dir: dir)
        guard t.leftovers.isEmpty else { throw incomplete(t) }
        lock.removeFile()
        return t
    }

    /// Names of the simulations that have state (running, or left half-built by a killed `up`).
    public static func list() -> [String] { StateDirectory.all() }

    /// The journal of one simulation, or nil.
    package static func journal(_ name: String) throws -> Journal? { try StateDirectory(name: name).readJournal() }

    /// Simulation `name` as the kernel shows it now: netlink dumps in each of its namespaces,
    /// /proc for its processes, bpffs for its pins. Needs root to enter the namespaces.
    /// - Throws: `SimError(.notFound)` when there is no such simulation; `.badState` for an
    ///   unreadable journal.
    public static func status(_ name: String) throws -> SimulationReport {
        let dir = StateDirectory(name: name)
        guard let journal = try dir.readJournal() else {
            let known = StateDirectory.all()
            throw SimError(.notFound, operation: "sim status", subject: name, message: "no simulation named '\(name)'",
                           hint: known.isEmpty ? "no simulation is running" : "running: \(known.joined(separator: ", "))")
        }
        return SimulationReport.make(journal, dir: dir)
    }

    /// The namespace of `host`, searched in `simulation` or, when nil, in every simulation.
    /// - Throws: `.notFound`, or `.conflict` when several simulations have such a host.
    public static func namespace(of host: String, simulation: String? = nil) throws -> (simulation: String, namespace: String) {
        let names = simulation.map { [$0] } ?? StateDirectory.all()
        var matches: [(String, String)] = []
        var hostsSeen: [String] = []
        for n in names {
            guard let j = try StateDirectory(name: n).readJournal() else {
                if simulation != nil { throw SimError(.notFound, operation: "sim exec", subject: n, message: "no simulation named '\(n)'") }
                continue
            }
            hostsSeen += j.hosts.keys.sorted()
            if let ns = j.hosts[host] { matches.append((n, ns)) }
        }
        if matches.count > 1 {
            throw SimError(.conflict, operation: "sim exec", subject: host,
                           message: "simulations \(matches.map(\.0).joined(separator: ", ")) all have a host '\(host)'",
                           hint: "choose one with --sim NAME")
        }
        guard let m = matches.first else {
            throw SimError(.notFound, operation: "sim exec", subject: host,
                           message: names.isEmpty ? "no simulation is running" : "no host '\(host)' in \(simulation.map { "simulation '\($0)'" } ?? "any running simulation")",
                           hint: hostsSeen.isEmpty ? "start one with `netbpf sim up FILE`" : "hosts: \(hostsSeen.joined(separator: ", "))")
        }
        return m
    }

    /// Replaces this process with `command` running inside `namespace`, as `ip netns exec` does:
    /// setns(CLONE_NEWNET), a private mount namespace with /sys remounted so it shows this
    /// namespace's devices (best effort), then execvp. Returns only by throwing.
    /// - Throws: `SimError(.notFound)` for an empty command, a missing namespace or a command not
    ///   found; `.permission` or `.system` when setns fails.
    public static func exec(namespace: String, command: [String], environment: [String: String] = [:]) throws -> Never {
        guard !command.isEmpty else {
            throw SimError(.notFound, operation: "sim exec", message: "no command given", hint: "netbpf sim exec HOST -- COMMAND [ARGS...]")
        }
        let path = NetworkNamespace.runDirectory + "/" + namespace
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT {
                throw SimError(.notFound, operation: "sim exec", subject: namespace, message: "network namespace '\(namespace)' is missing",
                               hint: "the simulation is damaged: `netbpf sim up FILE` rebuilds it")
            }
            throw SimError.system("open", subject: path, errno: errno)
        }
        let rc = Syscalls.setns(fd, Syscalls.CLONE_NEWNET)
        close(fd)
        guard rc == 0 else { throw SimError.system("setns", subject: namespace, errno: -rc) }
        if Syscalls.unshare(Syscalls.CLONE_NEWNS) == 0 {
            _ = Syscalls.mount("none", "/", nil, Syscalls.MS_REC | Syscalls.MS_SLAVE)
            if Syscalls.umount2("/sys", Syscalls.MNT_DETACH) == 0 {
                _ = Syscalls.mount(namespace, "/sys", "sysfs", 0)
            }
        }
        for (k, v) in environment { setenv(k, v, 1) }
        let argv = command.map { strdup($0) } + [nil]
        execvp(command[0], argv)
        let e = errno
        throw SimError(.notFound, operation: "sim exec", subject: command[0],
                       message: e == ENOENT ? "command not found" : String(cString: strerror(e)))
    }
}

/// SIGINT/SIGTERM/SIGHUP handling for `up`: the handler only records the signal; the builder
/// polls it between steps and tears down what it made. (A plain handler, not a dispatch source:
/// those rely on signalfd and the signal being blocked in every thread.)
package enum SimSignals {
    /// Written only by the signal handler, read by the builder. A lock-free atomic store is
    /// async-signal-safe.
    private static let slot = Atomic<Int32>(0)
    static let handled = [SIGINT, SIGTERM, SIGHUP]

    /// Installs the handlers, and ignores SIGPIPE so a closed output pipe cannot kill a build
    /// half-way (children started later get default dispositions back).
    package static func install() {
        _ = slot.load(ordering: .relaxed) // initialised before a handler can run
        var unblock = sigset_t()
        sigemptyset(&unblock)
        for s in handled {
            signal(s) { received in SimSignals.record(received) }
            sigaddset(&unblock, s)
        }
        // A parent may have started us with these blocked (the mask survives exec).
        pthread_sigmask(SIG_UNBLOCK, &unblock, nil)
        signal(SIGPIPE, SIG_IGN)
    }

    private static func record(_ signal: Int32) { slot.store(signal, ordering: .relaxed) }

    /// Restores the default dispositions.
    package static func restore() {
        for s in handled + [SIGPIPE] { signal(s, SIG_DFL) }
    }

    /// The signal received since `install`, if any.
    package static var received: Int32? {
        let v = slot.load(ordering: .relaxed)
        return v == 0 ? nil : v
    }
}
