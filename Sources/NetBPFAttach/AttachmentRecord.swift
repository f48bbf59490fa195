import Foundation
import NetBPF

/// What netbpf attached, remembered under /run/netbpf/attach/ so that later commands (detach,
/// list, doctor) know which attachments are netbpf's and how to undo each one exactly.
public struct AttachmentRecord: Codable, Sendable, Equatable {
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

    public var kind: Kind
    /// The network namespace name (/run/netns/NAME), nil for the caller's.
    public var namespace: String?
    public var interface: String
    public var ifindex: Int32
    /// "ingress"/"egress" for tc, "generic"/"driver" for XDP.
    public var hook: String
    public var programID: UInt32
    public var programName: String
    public var programTag: String
    /// Where the program, its maps and (for links) the link are pinned.
    public var pinDirectory: String
    /// cls_bpf priority and handle (clsact only).
    public var priority: UInt16?
    public var handle: UInt32?
    /// True when this attach created the clsact qdisc: only then may detach remove it.
    public var createdClsact: Bool
    public var attachedAt: Date
    /// Set while a clsact attach is under way: the record is written before the kernel is
    /// touched, so a SIGKILL between adding the filter and pinning leaves a record that says
    /// what to undo (`netbpf doctor --fix`, `netbpf detach`). nil in finished records.
    public var pending: Bool?
    public var isPending: Bool { pending == true }
    /// The attaching process of a pending record (pid and its start time in clock ticks, field
    /// 22 of /proc/PID/stat, so a reused pid is not mistaken for it): while it lives, the attach
    /// is in progress, not interrupted, and doctor leaves it alone.
    public var ownerPID: Int32?
    public var ownerStartTime: UInt64?

    /// True while the process that wrote this pending record is still running.
    public var ownerIsRunning: Bool {
        guard let pid = ownerPID, let start = ownerStartTime else { return false }
        return ProcessIdentity.isRunning(pid, startTime: start)
    }

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

    /// File name of the record: one per interface, hook and program.
    var fileName: String {
        "\(namespace ?? "-")__\(interface)__\(kind.rawValue)-\(hook)__\(programName).json"
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
public struct AttachmentStore: Sendable {
    public let directory: String

    public init(directory: String = ProcessInfo.processInfo.environment["NETBPF_STATE_DIR"].map { $0 + "/attach" } ?? "/run/netbpf/attach") {
        self.directory = directory
    }

    public func all() -> [AttachmentRecord] {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0.hasSuffix(".json") }.sorted().compactMap { name in
            FileManager.default.contents(atPath: directory + "/" + name).flatMap { try? decoder.decode(AttachmentRecord.self, from: $0) }
        }
    }

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
        let path = directory + "/" + record.fileName
        do {
            try OutputFile.replaceAtomically(Array(try encoder.encode(record)), at: path, mode: 0o600)
        } catch {
            throw AttachError(.system, "cannot write the attachment record \(path): \(error)")
        }
    }

    public func remove(_ record: AttachmentRecord) {
        unlink(directory + "/" + record.fileName)
    }
}
