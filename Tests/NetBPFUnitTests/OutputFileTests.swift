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
}
