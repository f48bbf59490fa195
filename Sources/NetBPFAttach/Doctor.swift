import Foundation
import Glibc
import NetBPF
import NetBPFNetlink

/// Finds what netbpf left behind (after a SIGKILL, a deleted interface or namespace, a crash)
/// and removes it: attachment records that no longer describe something attached (including
/// those of a process that is gone, with what it attached), and pins under /sys/fs/bpf/netbpf
/// that no store's record names. Live attachments are reported, not touched.
///
/// Every record and pin is judged holding its hook's lock, taken without waiting: a hook whose
/// lock is held is being changed right now, so what is on it is reported as in progress.
public struct Doctor: Sendable {
    /// One thing `examine` found.
    public struct Finding: Sendable, Encodable {
        /// "stale-record", "orphan-pin", "attached", "attaching", "sim"
        public var kind: String
        /// What it is and, for a stale record, why: one line for people.
        public var what: String
        /// Whether `examine(fix: true)` removed it.
        public var fixed: Bool

        /// A finding; each parameter sets the property of the same name.
        public init(kind: String, what: String, fixed: Bool) {
            self.kind = kind
            self.what = what
            self.fixed = fixed
        }
    }

    /// The store whose records are judged (pins are checked against every store's records).
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

    /// Examines (and with `fix`, cleans) netbpf's state. Live attachments and hooks another
    /// process is changing are reported and left alone.
    public func examine(fix: Bool) -> [Finding] {
        if let namespace, !NetworkNamespace.isValidName(namespace) { return [] }
        let attacher = Attacher(store: store, notice: { _ in })
        var findings = store.all().filter { namespace == nil || $0.namespace == namespace }.map { examine($0, attacher: attacher, fix: fix) }
        findings += orphanPins(fix: fix)
        if fix { HookLock.removeStale() } // bookkeeping only: not reported
        return findings
    }

    private func examine(_ record: AttachmentRecord, attacher: Attacher, fix: Bool) -> Finding {
        guard let lock = HookLock.tryLock(namespace: record.namespace, interface: record.interface, hooks: [record.lockedHook]) else {
            return Finding(kind: "attaching", what: "\(record.programName) on \(record.place): another netbpf process is changing this hook", fixed: false)
        }
        defer { lock.release() }
        // Re-read under the lock: the record may have been finished or removed meanwhile.
        guard let current = store.all().first(where: { $0.fileName == record.fileName }) else {
            return Finding(kind: "attached", what: "\(record.programName) on \(record.place): detached meanwhile", fixed: false)
        }
        if current.isPending && current.ownerIsRunning {
            return Finding(kind: "attaching", what: "\(current.programName) on \(current.place): attach in progress (pid \(current.ownerPID ?? 0))", fixed: false)
        }
        let why = attacher.staleness(of: current)
        if why.isEmpty {
            let owner = current.lifetime == .process ? ", held by pid \(current.ownerPID ?? 0)" : ""
            return Finding(kind: "attached", what: "\(current.programName) (id \(current.programID)) on \(current.place)\(owner)", fixed: false)
        }
        if fix {
            try? attacher.undoHoldingLock(current)
            store.remove(current)
            PinSet.remove(current.pinDirectory)
        }
        return Finding(kind: "stale-record", what: "\(current.programName) on \(current.place)\(current.madeAlso): " + why.joined(separator: ", "), fixed: fix)
    }

    /// Pin directories no store's record names (every registered store counts: pins are shared).
    private func orphanPins(fix: Bool) -> [Finding] {
        let searched = namespace.map { pinRoot + "/" + $0 } ?? pinRoot
        var findings: [Finding] = []
        for dir in Self.programDirectories(under: searched, skipping: pinRoot + "/sim") {
            let path = Self.standardized(dir)
            guard path.hasPrefix(Self.standardized(pinRoot) + "/") else { continue } // only netbpf's own tree
            // <root>/NS/IFACE/HOOK/PROGRAM: the hook whose lock guards it.
            let parts = path.dropFirst(Self.standardized(pinRoot).count + 1).split(separator: "/").map(String.init)
            var lock: HookLock?
            if parts.count == 4 {
                lock = HookLock.tryLock(namespace: parts[0] == "root" ? nil : parts[0], interface: parts[1], hooks: [parts[2]])
                if lock == nil {
                    findings.append(Finding(kind: "attaching", what: "\(dir): another netbpf process is changing this hook", fixed: false))
                    continue
                }
            }
            let owned = AttachmentStore.allRecords(including: store).contains { Self.standardized($0.pinDirectory) == path }
            if !owned {
                if fix { PinSet.remove(dir) }
                findings.append(Finding(kind: "orphan-pin", what: dir, fixed: fix))
            }
            lock?.release()
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
