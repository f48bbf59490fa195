import Foundation
import Testing
import NetBPF
import NetBPFAttach
import NetBPFTestSupport

/// `netbpf doctor` finds what a killed attach leaves (pins without a record, records whose
/// program is gone) and --fix removes exactly that.
@Suite(.serialized, .enabled(if: TestEnvironment.isRoot, "requires root: pins BPF objects"))
struct DoctorTests {
    @Test func orphanPinsAndStaleRecordsAreFoundAndFixed() throws {
        let state = FileManager.default.temporaryDirectory.appendingPathComponent("nbdoc-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: state) }
        let store = AttachmentStore(directory: state + "/attach")
        // A private pin root: the doctor must not judge (or remove) anything else on the machine.
        let pinRoot = "/sys/fs/bpf/netbpf-doctor-test-\(getpid())"
        defer { PinTree.remove(pinRoot) }
        let orphanDir = pinRoot + "/root/nbdoc\(getpid())/ingress/count_tc"
        // A program pinned the way attach pins it, as if the CLI was killed before recording it.
        let object = try BPFObject.load(path: try TestPrograms.object("count_packets"))
        try object.program(named: "count_tc").pin(at: orphanDir + "/prog")
        // A record whose program no longer exists.
        let stale = AttachmentRecord(kind: .clsact, namespace: nil, interface: "nbdoc-gone", ifindex: 9999, hook: "ingress",
                                     programID: 0xFFFF_FFF0, programName: "gone", programTag: "", pinDirectory: pinRoot + "/root/nbdoc-gone/ingress/gone",
                                     priority: 1, handle: 1, createdClsact: false, attachedAt: Date())
        try store.save(stale)

        let found = Doctor(store: store, pinRoot: pinRoot).examine(fix: false)
        #expect(found.contains { $0.kind == "orphan-pin" && $0.what == orphanDir && !$0.fixed })
        #expect(found.contains { $0.kind == "stale-record" && $0.what.contains("program 4294967280 is gone") })
        #expect(FileManager.default.fileExists(atPath: orphanDir + "/prog")) // looking changes nothing

        let fixed = Doctor(store: store, pinRoot: pinRoot).examine(fix: true)
        let allFixed = fixed.filter { $0.kind != "attached" }.allSatisfy { $0.fixed }
        #expect(allFixed)
        #expect(!FileManager.default.fileExists(atPath: orphanDir))
        #expect(store.all().isEmpty)
        #expect(Doctor(store: store, pinRoot: pinRoot).examine(fix: false).filter { $0.kind != "attached" }.isEmpty)
    }


    /// A pending record whose process still runs is an attach in progress: listed, never undone.
    /// Once that process is gone it is an interrupted attach and --fix removes it. A --netns that
    /// would lead out of the pin tree finds and touches nothing, and the CLI refuses it.
    @Test func attachInProgressIsLeftAloneAndBadNamespacesTouchNothing() throws {
        let state = FileManager.default.temporaryDirectory.appendingPathComponent("nbdoc2-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: state) }
        let store = AttachmentStore(directory: state + "/attach")
        let pinRoot = "/sys/fs/bpf/netbpf-doctor-test2-\(getpid())"
        defer { PinTree.remove(pinRoot) }
        var record = AttachmentRecord(kind: .clsact, namespace: nil, interface: "nbdoc-busy", ifindex: 9998, hook: "ingress",
                                      programID: 0xFFFF_FFF1, programName: "busy", programTag: "", pinDirectory: pinRoot + "/root/nbdoc-busy/ingress/busy",
                                      priority: 1, handle: 1, createdClsact: false, attachedAt: Date())
        record.pending = true
        record.ownerPID = getpid()
        record.ownerStartTime = ProcessIdentity.startTime(of: getpid())
        try store.save(record)
        let busy = Doctor(store: store, pinRoot: pinRoot).examine(fix: true)
        #expect(busy.map(\.kind) == ["attaching"], "\(busy)")
        #expect(store.all().count == 1, "an attach in progress was removed")

        record.ownerStartTime = (record.ownerStartTime ?? 0) &+ 1 // the same pid, another process
        try store.save(record)
        let interrupted = Doctor(store: store, pinRoot: pinRoot).examine(fix: true)
        #expect(interrupted.contains { $0.kind == "stale-record" && $0.what.contains("the attach was interrupted") && $0.fixed })
        #expect(store.all().isEmpty)

        // Pins outside <pinRoot>/NS are not looked at through a bad --netns.
        let object = try BPFObject.load(path: try TestPrograms.object("count_packets"))
        let elsewhere = pinRoot + "/root/nbdoc-else/ingress/count_tc"
        try object.program(named: "count_tc").pin(at: elsewhere + "/prog")
        for bad in ["..", ".", "", "a/../..", "root/"] {
            #expect(Doctor(store: store, pinRoot: pinRoot + "/root", namespace: bad).examine(fix: true).isEmpty, "--netns '\(bad)'")
        }
        #expect(FileManager.default.fileExists(atPath: elsewhere + "/prog"))
        let cli = try TestPrograms.run(CLI.binary, ["doctor", "--fix", "--netns", ".."])
        #expect(cli.status != 0 && cli.stderr.contains("is not a namespace name"), "\(cli)")
    }
}

enum PinTree {
    static func remove(_ path: String) {
        if let entries = try? FileManager.default.contentsOfDirectory(atPath: path) {
            for e in entries { remove(path + "/" + e) }
            rmdir(path)
        } else {
            unlink(path)
        }
    }
}
