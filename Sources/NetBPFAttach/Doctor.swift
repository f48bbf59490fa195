import Foundation
import Glibc
import NetBPF
import NetBPFNetlink

/// Finds what netbpf left behind (after a SIGKILL, a deleted interface or namespace, a crash)
/// and removes it: attachment records whose program is gone, pins under /sys/fs/bpf/netbpf that
/// no record owns, and attachments whose records are still valid are reported, not touched.
public struct Doctor: Sendable {
    public struct Finding: Sendable, Encodable {
        public var kind: String     // "stale-record", "orphan-pin", "attached", "attaching"
        public var what: String
        public var fixed: Bool
    }

    public let store: AttachmentStore
    /// Where attachments are pinned. Simulations pin under <root>/sim and keep their own
    /// journal (`netbpf sim down` cleans them), so that subtree is not examined here.
    public let pinRoot: String
    /// Only this network namespace's records and pins (<pinRoot>/NAMESPACE), so that one user's
    /// cleanup never judges what another user's run in another namespace is doing; nil: all.
    public let namespace: String?
    /// A `namespace` that is not a valid name (`NetworkNamespace.isValidName`: it would lead out
    /// of <pinRoot>) makes `examine` find and touch nothing; the CLI refuses it first.
    public init(store: AttachmentStore = AttachmentStore(), pinRoot: String = Pinning.root, namespace: String? = nil) {
        self.store = store
        self.pinRoot = pinRoot
        self.namespace = namespace
    }

    /// Examines (and with `fix`, cleans) netbpf's state.
    public func examine(fix: Bool) -> [Finding] {
        if let namespace, !NetworkNamespace.isValidName(namespace) { return [] }
        var findings: [Finding] = []
        let attacher = Attacher(store: store)
        let records = store.all().filter { namespace == nil || $0.namespace == namespace }
        for record in records {
            if record.isPending && record.ownerIsRunning {
                findings.append(Finding(kind: "attaching", what: "\(record.programName) on \(record.place): attach in progress (pid \(record.ownerPID ?? 0))", fixed: false))
                continue
            }
            let programAlive = (try? BPFProgram.open(id: record.programID)) != nil
            let pinsPresent = FileManager.default.fileExists(atPath: record.pinDirectory + "/prog")
            let nsPresent = record.namespace.map { FileManager.default.fileExists(atPath: "/run/netns/" + $0) } ?? true
            if programAlive && pinsPresent && nsPresent && !record.isPending {
                findings.append(Finding(kind: "attached", what: "\(record.programName) (id \(record.programID)) on \(record.place)", fixed: false))
                continue
            }
            var why: [String] = []
            if record.isPending { why.append("the attach was interrupted") }
            if !programAlive { why.append("program \(record.programID) is gone") }
            if !pinsPresent { why.append("pins are gone") }
            if !nsPresent { why.append("namespace is gone") }
            var fixed = false
            if fix {
                if nsPresent { try? attacher.undo(record) }
                PinSet.remove(record.pinDirectory)
                store.remove(record)
                fixed = true
            }
            findings.append(Finding(kind: "stale-record", what: "\(record.programName) on \(record.place): " + why.joined(separator: ", "), fixed: fixed))
        }
        let owned = Set(store.all().map { Self.standardized($0.pinDirectory) })
        let searched = namespace.map { pinRoot + "/" + $0 } ?? pinRoot
        for dir in Self.programDirectories(under: searched, skipping: pinRoot + "/sim") where !owned.contains(Self.standardized(dir)) {
            // Only netbpf's own tree is ever touched, whatever the records say.
            if fix && Self.standardized(dir).hasPrefix(Self.standardized(pinRoot) + "/") { PinSet.remove(dir) }
            findings.append(Finding(kind: "orphan-pin", what: dir, fixed: fix))
        }
        return findings
    }

    /// `path` with "//", "." and ".." resolved, so pin directories compare equal however they
    /// were spelled.
    static func standardized(_ path: String) -> String { (path as NSString).standardizingPath }

    /// Directories holding a pinned program (`prog`), at any depth below `root`.
    static func programDirectories(under root: String, skipping skipped: String) -> [String] {
        guard root != skipped, let entries = try? FileManager.default.contentsOfDirectory(atPath: root) else { return [] }
        if entries.contains("prog") { return [root] }
        return entries.sorted().flatMap { entry -> [String] in
            var isDir: ObjCBool = false
            let path = root + "/" + entry
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue else { return [] }
            return programDirectories(under: path, skipping: skipped)
        }
    }
}
