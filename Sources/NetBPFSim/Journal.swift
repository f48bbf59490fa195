import Foundation
import Glibc
import NetBPF

/// The state of one simulation, kept in /run/netbpf/sim/NAME/journal.json. Every kernel object
/// whose life is not bound to a simulation namespace (the namespaces themselves, interfaces in
/// the root namespace, processes, bpffs pins) is written here *before* it is created, so
/// `sim down` can remove everything even after `up` was killed with SIGKILL half-way. Everything
/// else (veths, bridges, VXLAN devices, addresses, routes, qdiscs, tc filters, XDP programs)
/// lives inside a journaled namespace and goes away with it.
///
/// The file is replaced atomically (write to a temporary file, rename), so a reader never sees a
/// half-written journal, even if the writer dies mid-write.
package struct Journal: Codable, Sendable, Equatable {
    package enum State: String, Codable, Sendable {
        /// `up` is creating things (or was killed while doing so).
        case building
        /// `up` finished.
        case up
        /// `down` (or a failed `up`) is removing things.
        case tearingDown = "tearing-down"
    }

    package struct NamespaceEntry: Codable, Sendable, Equatable {
        /// /run/netns/NAME.
        package var name: String
        /// The host or bridge it is for.
        package var node: String
        package var kind: NodeKind
    }

    package struct RootLinkEntry: Codable, Sendable, Equatable {
        /// The interface in the root namespace (a veth end; deleting it deletes the peer).
        package var name: String
        /// The namespace holding the peer.
        package var peerNamespace: String?
    }

    package struct ProcessEntry: Codable, Sendable, Equatable {
        package var host: String
        package var name: String
        package var command: String
        /// nil while it is being started (written before the spawn).
        package var pid: Int32?
        /// /proc/PID/stat field 22, so a recycled pid is never killed by mistake.
        package var startTime: UInt64?
        package var log: String
    }

    /// A program the simulation attached (informational: it goes away with its namespace).
    package struct AttachmentEntry: Codable, Sendable, Equatable {
        package var node: String
        package var interface: String
        package var hook: String
        package var program: String
        package var object: String
    }

    package var version = 1
    package var name: String
    /// The topology file's absolute path and content hash.
    package var file: String
    package var topologyHash: String
    package var state: State
    /// The pid of the `up` that wrote it last.
    package var ownerPID: Int32
    package var createdAt: Double
    package var completedAt: Double?
    /// How many build steps `up` had done (for NETBPF_SIM_FAIL_AFTER and status).
    package var steps: Int = 0
    package var namespaces: [NamespaceEntry] = []
    package var rootLinks: [RootLinkEntry] = []
    package var processes: [ProcessEntry] = []
    /// Pinned objects (files in bpffs), and the directory holding them.
    package var pins: [String] = []
    package var pinDirectory: String?
    /// Hosts and switches (for `exec` and status), with their namespace.
    package var hosts: [String: String] = [:]
    /// Programs attached, for status.
    package var attachments: [AttachmentEntry] = []

    package init(name: String, file: String, topologyHash: String) {
        self.name = name
        self.file = file
        self.topologyHash = topologyHash
        self.state = .building
        self.ownerPID = getpid()
        self.createdAt = Date().timeIntervalSince1970
    }
}

/// The directory of one simulation's state: journal, lock and process logs.
package struct StateDirectory: Sendable {
    /// /run/netbpf/sim, or $NETBPF_SIM_STATE_DIR.
    package static var root: String {
        ProcessInfo.processInfo.environment["NETBPF_SIM_STATE_DIR"] ?? "/run/netbpf/sim"
    }

    package let name: String
    package var path: String { Self.root + "/" + name }
    package var journalPath: String { path + "/journal.json" }
    /// Outside the directory, so removing the directory never races with a waiting locker.
    package var lockPath: String { Self.root + "/.\(name).lock" }
    package var logDirectory: String { path + "/logs" }

    package init(name: String) { self.name = name }

    /// Names of every simulation with a state directory.
    package static func all() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        return names.filter { access(root + "/" + $0 + "/journal.json", F_OK) == 0 }.sorted()
    }

    package var exists: Bool { access(journalPath, F_OK) == 0 }

    func create() throws {
        for dir in ["/run/netbpf", Self.root, path, logDirectory] where !dir.isEmpty {
            if mkdir(dir, 0o755) != 0 && errno != EEXIST {
                throw SimError.system("mkdir", subject: dir, errno: errno)
            }
        }
    }

    package func readJournal() throws -> Journal? {
        guard let data = FileManager.default.contents(atPath: journalPath) else { return nil }
        do {
            return try JSONDecoder().decode(Journal.self, from: data)
        } catch {
            throw SimError(.badState, operation: "read journal", subject: journalPath, message: "unreadable: \(error)",
                           hint: "inspect it; remove \(path) by hand once its namespaces (ip netns list | grep nb-\(name)-) are gone")
        }
    }

    /// Replaces the journal atomically: temporary file + rename.
    func write(_ journal: Journal) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(journal)
        let tmp = journalPath + ".tmp"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw SimError.system("write journal", subject: tmp, errno: errno) }
        let failure = data.withUnsafeBytes { raw -> SystemCall.Failure? in
            do throws(SystemCall.Failure) { try SystemCall.writeAll(fd, raw); return nil } catch { return error }
        }
        close(fd)
        if let failure { throw SimError.system("write journal", subject: tmp, errno: failure.errno) }
        guard rename(tmp, journalPath) == 0 else { throw SimError.system("write journal", subject: journalPath, errno: errno) }
    }

    /// Removes the directory and everything in it (journal, lock, logs).
    func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// An exclusive flock on a simulation's lock file, so two netbpf processes never build or tear
/// down the same simulation at once. Released on deinit, or by the kernel when the process dies.
/// `down` removes the lock file while holding it; a waiter that then gets the lock on the removed
/// file notices (its inode is no longer the path's) and starts over, so no two holders overlap.
final class SimulationLock {
    private var fd: Int32 = -1
    private let path: String

    /// Takes the lock, waiting up to `timeout` seconds for another holder (`quiet`: without
    /// saying on stderr that it waits).
    init(_ dir: StateDirectory, timeout: Double = 30, quiet: Bool = false) throws {
        for d in ["/run/netbpf", StateDirectory.root] where mkdir(d, 0o755) != 0 && errno != EEXIST {
            throw SimError.system("mkdir", subject: d, errno: errno)
        }
        path = dir.lockPath
        do throws(LockFile.Failure) {
            fd = try LockFile.acquire(path, mode: 0o644, timeout: timeout, interval: 0.05) {
                if !quiet { FileHandle.standardError.write(Data("netbpf: waiting for another netbpf process working on simulation '\(dir.name)'\n".utf8)) }
            }
        } catch {
            switch error {
            case .open(let e): throw SimError.system("open", subject: path, errno: e)
            case .flock(let e): throw SimError.system("flock", subject: path, errno: e)
            case .timedOut:
                throw SimError(.busy, operation: "lock", subject: dir.name,
                               message: "another netbpf process is working on simulation '\(dir.name)'",
                               hint: "wait for it, or find it with: fuser \(path)")
            }
        }
    }

    /// Removes the lock file (the simulation is gone); the lock itself is released on deinit.
    func removeFile() { unlink(path) }

    /// Releases the lock before deinit. Idempotent.
    func release() {
        if fd >= 0 { close(fd) }
        fd = -1
    }

    deinit { release() }
}
