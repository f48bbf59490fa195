import Foundation
import Glibc
import Testing
@testable import NetBPF

/// Output files: a failed write says why (the errno), and temporary files do not pile up.
@Suite(.serialized)
struct OutputFileTests {
    /// /dev/full fails every write with ENOSPC, as a full disk does.
    @Test func aFullDeviceKeepsTheErrno() throws {
        let e = try #require(throws: BPFError.self) { try OutputFile.write([1, 2, 3], to: "/dev/full") }
        #expect(e.errno == ENOSPC)
        #expect(e.description == "write '/dev/full': cannot write the output: no space left on device (ENOSPC)")
    }

    @Test func aMissingDirectoryKeepsTheErrno() throws {
        let e = try #require(throws: BPFError.self) { try OutputFile.write([1], to: "/nonexistent-netbpf-dir/out.o") }
        #expect(e.errno == ENOENT)
        #expect(e.description.hasSuffix("cannot create the output: no such file or directory (ENOENT)"), "\(e)")
    }

    /// A pid that is not running: a child that has exited and been reaped.
    static func deadPID() throws -> Int32 {
        var pid: pid_t = 0
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/true"), nil]
        defer { argv.forEach { free($0) } }
        guard posix_spawn(&pid, "/bin/true", nil, nil, argv, nil) == 0 else { throw BPFError.system("posix_spawn", errno: errno) }
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        return pid
    }

    static func files(in dir: String) -> Set<String> { Set((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []) }

    /// A writer killed between create and rename left `.snapshot.json.tmp-PID-START-N`; the next
    /// write to snapshot.json removes it, and only the temporaries of writers that are gone.
    @Test func aKilledWritersTemporaryIsRemovedByTheNextWrite() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nb-output-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let me = getpid(), myStart = try #require(ProcessIdentity.startTime(of: me))
        let initStart = try #require(ProcessIdentity.startTime(of: 1))
        let dead = try Self.deadPID()
        let stale = [".snapshot.json.tmp-\(dead)-4242-1",            // killed writer
                     ".snapshot.json.tmp-\(me)-\(myStart + 1)-3",    // an earlier process with this pid
                     ".snapshot.json.0badf00d"]                       // before writers were named, 2 min old
        let kept = [".snapshot.json.tmp-\(me)-\(myStart)-999",       // a writer in this process, mid-write
                    ".snapshot.json.tmp-1-\(initStart)-1",           // a live writer (pid 1)
                    ".snapshot.json.deadbeef",                        // before writers were named, just now
                    ".snapshot.json.bak", ".other.json.tmp-\(dead)-4242-1", "snapshot.json.tmp-\(dead)-1-1"]
        for f in stale + kept { #expect(FileManager.default.createFile(atPath: dir + "/" + f, contents: Data("[{\"half".utf8))) }
        let old = Date().addingTimeInterval(-120)
        try FileManager.default.setAttributes([.modificationDate: old], ofItemAtPath: dir + "/.snapshot.json.0badf00d")

        try OutputFile.write(Array("[]".utf8), to: dir + "/snapshot.json")
        #expect(Self.files(in: dir) == Set(kept + ["snapshot.json"]))
        #expect(FileManager.default.contents(atPath: dir + "/snapshot.json") == Data("[]".utf8))
    }

    @Test func temporaryNamesNameTheirWriter() throws {
        let start = try #require(ProcessIdentity.startTime(of: getpid()))
        let a = WriterTemporaryFile.path(for: "/run/x/snapshot.json"), b = WriterTemporaryFile.path(for: "/run/x/snapshot.json")
        #expect(a.hasPrefix("/run/x/.snapshot.json.tmp-\(getpid())-\(start)-") && a != b)
        #expect(WriterTemporaryFile.writer(of: String(a.dropFirst("/run/x/".count)), target: "snapshot.json")?.pid == getpid())
        // Bare and one-character names (NSString's deletingLastPathComponent traps on "x").
        #expect(WriterTemporaryFile.split("x") == (".", "x"))
        #expect(WriterTemporaryFile.split("/o") == ("/", "o"))
        #expect(WriterTemporaryFile.split("a/b/c.o") == ("a/b", "c.o"))
    }
}
