import Foundation
import Glibc
import NetBPF

/// How long an attachment lasts.
public enum AttachmentLifetime: String, Codable, Sendable {
    /// Until it is detached (`netbpf attach`, `ratelimit attach`): pinned, it outlives the process.
    case pinned
    /// As long as the attaching process (controllers such as `ratelimit run`): once that process
    /// is gone, the next command that meets the record, or `netbpf doctor --fix`, undoes it.
    case process
}

/// What netbpf attached, remembered under /run/netbpf/attach/ so that later commands (detach,
/// list, doctor) know which attachments are netbpf's and how to undo each one exactly.
public struct AttachmentRecord: Codable, Sendable, Equatable {
    /// How the program is attached, which decides how it is undone.
    public enum Kind: String, Codable, Sendable {
        /// A tcx BPF link (kernel 6.6), pinned so it outlives the CLI.
        case tcx
        /// A cls_bpf filter in direct-action (or classic) mode on a clsact hook (kernel 4.5).
        case clsact
        /// An XDP BPF link (kernel 5.9), pinned.
        case xdpLink = "xdp-link"
        /// XDP set over netlink (IFLA_XDP), kernel state without a link.
        case xdpNetlink = "xdp-netlink"
    }

    /// How the program is attached.
    public var kind: Kind
    /// The network namespace name (/run/netns/NAME), nil for the caller's.
    public var namespace: String?
    /// The interface's name at attach time.
    public var interface: String
    /// The interface's index in its namespace; 0 in a pending record made before it was looked up.
    public var ifindex: Int32
    /// "ingress"/"egress" for tc, "generic"/"driver" for XDP.
    public var hook: String
    /// The kernel's id of the attached program; detach checks it is still the one there.
    public var programID: UInt32
    /// The program's name (its C function).
    public var programName: String
    /// The program's tag, as bpftool prints it.
    public var programTag: String
    /// Where the program, its maps and (for links) the link are pinned.
    public var pinDirectory: String
    /// cls_bpf priority and handle (clsact only).
    public var priority: UInt16?
    /// cls_bpf handle (clsact only).
    public var handle: UInt32?
    /// True when this attach created the clsact qdisc: only then may detach remove it.
    public var createdClsact: Bool
    /// What else this attach made (an HTB root qdisc, a device, a route), removed with it;
    /// nil when nothing.
    public var created: [CreatedState]?
    /// When the attach started.
    public var attachedAt: Date
    /// Set while an attach is under way: the record is written before the kernel is touched,
    /// so a SIGKILL at any later step leaves a record that says what to undo (`netbpf doctor
    /// --fix`, the next attach to the hook, `netbpf detach`). nil in finished records.
    public var pending: Bool?
    /// Whether the attach is (or was, if its process died) under way.
    public var isPending: Bool { pending == true }
    /// nil (older records) means `.pinned`.
    public var lifetime: AttachmentLifetime?
    /// The process the attachment belongs to (pid and its start time in clock ticks, field 22
    /// of /proc/PID/stat, so a reused pid is not mistaken for it): the attaching process while
    /// the record is pending, and for `.process` lifetimes for as long as the attachment lasts.
    public var ownerPID: Int32?
    /// The owner's start time (clock ticks since boot), which tells it from a later process with its pid.
    public var ownerStartTime: UInt64?

    /// True while the owning process is still running.
    public var ownerIsRunning: Bool {
        guard let pid = ownerPID, let start = ownerStartTime else { return false }
        return ProcessIdentity.isRunning(pid, startTime: start)
    }

    /// The hook lock (`HookLock`) that guards this attachment: the tc direction, or "xdp".
    public var lockedHook: String { kind == .xdpLink || kind == .xdpNetlink ? "xdp" : hook }

    /// A finished record of a `.pinned` attachment; each parameter sets the property of the same name.
    public init(kind: Kind, namespace: String?, interface: String, ifindex: Int32, hook: String, programID: UInt32,
                programName: String, programTag: String, pinDirectory: String, priority: UInt16?, handle: UInt32?,
                createdClsact: Bool, attachedAt: Date) {
        self.kind = kind
        self.namespace = namespace
        self.interface = interface
        self.ifindex = ifindex
        self.hook = hook
        self.programID = programID
        self.programName = programName
        self.programTag = programTag
        self.pinDirectory = pinDirectory
        self.priority = priority
        self.handle = handle
        self.createdClsact = createdClsact
        self.attachedAt = attachedAt
    }

    /// Marks the record as an attach in progress by this process.
    mutating func startPending(lifetime: AttachmentLifetime) {
        pending = true
        self.lifetime = lifetime == .pinned ? nil : lifetime
        ownerPID = getpid()
        ownerStartTime = ProcessIdentity.startTime(of: getpid())
    }

    /// Marks the attach as done: a pinned attachment no longer belongs to this process.
    mutating func finishPending() {
        pending = nil
        if lifetime != .process {
            ownerPID = nil
            ownerStartTime = nil
        }
    }

    /// File name of the record: one per interface, hook and program.
    var fileName: String {
        "\(namespace ?? "-")__\(interface)__\(kind.rawValue)-\(hook)__\(programName).json"
    }

    /// " (and the htb root qdisc 1: it made)", or "" when the attach made nothing else.
    package var madeAlso: String {
        guard let created, !created.isEmpty else { return "" }
        return " (and the " + created.map(\.description).joined(separator: ", ") + " it made)"
    }

    /// "veth0 ingress (tcx)" / "ns1/veth0 xdp generic (link)".
    public var place: String {
        let ns = namespace.map { "\($0)/" } ?? ""
        switch kind {
        case .tcx: return "\(ns)\(interface) \(hook) (tcx)"
        case .clsact: return "\(ns)\(interface) \(hook) (clsact prio \(priority ?? 0) handle \(handle ?? 0))"
        case .xdpLink: return "\(ns)\(interface) xdp \(hook) (link)"
        case .xdpNetlink: return "\(ns)\(interface) xdp \(hook) (netlink)"
        }
    }
}

/// The records of what netbpf attached: /run/netbpf/attach/*.json, mode 0600 in a 0700 directory.
///
/// Pins live in one tree (/sys/fs/bpf/netbpf) whatever the store, so every store other than the
/// default one registers itself under /run/netbpf/stores when it first saves: `doctor` then
/// knows a pin named by another store's record is not an orphan, and an attach knows what the
/// other stores hold on a hook.
public struct AttachmentStore: Sendable {
    /// The directory of the record files.
    public let directory: String
    /// Where records go unless NETBPF_STATE_DIR says otherwise.
    public static let defaultDirectory = "/run/netbpf/attach"
    static let registry = "/run/netbpf/stores"

    /// A store in `directory`: by default $NETBPF_STATE_DIR/attach, else `defaultDirectory`.
    /// Nothing is created until the first `save`.
    public init(directory: String = ProcessInfo.processInfo.environment["NETBPF_STATE_DIR"].map { $0 + "/attach" } ?? AttachmentStore.defaultDirectory) {
        self.directory = directory
    }

    /// Every store that exists: the default one and the registered ones (each once).
    /// - Parameter store: a store to include whether or not it registered yet (each store is
    ///   listed once).
    public static func known(including store: AttachmentStore? = nil) -> [AttachmentStore] {
        var directories = [defaultDirectory] + (store.map { [$0.directory] } ?? [])
        for name in (try? FileManager.default.contentsOfDirectory(atPath: registry)) ?? [] {
            guard let data = FileManager.default.contents(atPath: registry + "/" + name) else { continue }
            let dir = String(decoding: data, as: UTF8.self)
            if FileManager.default.fileExists(atPath: dir) { directories.append(dir) } else { unlink(registry + "/" + name) }
        }
        var seen = Set<String>()
        return directories.filter { seen.insert(($0 as NSString).standardizingPath).inserted }.map { AttachmentStore(directory: $0) }
    }

    /// The records of every known store (`known(including:)`).
    public static func allRecords(including store: AttachmentStore? = nil) -> [AttachmentRecord] {
        known(including: store).flatMap { $0.all() }
    }

    /// Writes this store's path under the registry (once; a file named by a hash of the path).
    private func register() {
        let absolute = ((directory.hasPrefix("/") ? directory : FileManager.default.currentDirectoryPath + "/" + directory) as NSString).standardizingPath
        guard absolute != Self.defaultDirectory else { return }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325 // FNV-1a
        for byte in absolute.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        let path = Self.registry + "/" + String(hash, radix: 16)
        guard !FileManager.default.fileExists(atPath: path) else { return }
        _ = mkdir("/run/netbpf", 0o700)
        _ = mkdir(Self.registry, 0o700)
        try? OutputFile.replaceAtomically(Array(absolute.utf8), at: path, mode: 0o600)
    }

    /// Every record in the store, by file name; files that do not decode are skipped.
    public func all() -> [AttachmentRecord] {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0.hasSuffix(".json") }.sorted().compactMap { name in
            FileManager.default.contents(atPath: directory + "/" + name).flatMap { try? decoder.decode(AttachmentRecord.self, from: $0) }
        }
    }

    /// Writes `record` (atomically, mode 0600), replacing the record of the same interface, hook
    /// and program, and registers the store (see the type's comment).
    /// - Throws: `AttachError(.system)` when the directory or the file cannot be written.
    public func save(_ record: AttachmentRecord) throws {
        // mkdir -p by hand: FileManager's error does not print as one line.
        var made = directory.hasPrefix("/") ? "" : "."
        for part in directory.split(separator: "/") {
            made += "/" + part
            if mkdir(made, 0o700) != 0 && errno != EEXIST {
                throw AttachError(.system, "cannot create the attachment record directory \(directory): \(String(cString: strerror(errno)))",
                                  hint: "NETBPF_STATE_DIR chooses where records go (default /run/netbpf)")
            }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        register()
        let path = directory + "/" + record.fileName
        do {
            try OutputFile.replaceAtomically(Array(try encoder.encode(record)), at: path, mode: 0o600)
        } catch {
            throw AttachError(.system, "cannot write the attachment record \(path): \(error)")
        }
    }

    /// Deletes the file of `record`; a missing one is not an error.
    public func remove(_ record: AttachmentRecord) {
        unlink(directory + "/" + record.fileName)
    }
}
