import Foundation
import NetBPF

/// Where the repository is, and the BPF programs of programs/ compiled for tests.
public enum TestPrograms {
    /// The repository root (three levels above this file).
    public static let repositoryRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Path of programs/NAME.bpf.c compiled to .build-programs/NAME.bpf.o, compiling it with
    /// clang-14 when the object is missing or older than its source.
    public static func object(_ name: String) throws -> String {
        let source = repositoryRoot.appendingPathComponent("programs/\(name).bpf.c").path
        let dir = repositoryRoot.appendingPathComponent(".build-programs")
        let object = dir.appendingPathComponent("\(name).bpf.o").path
        let fm = FileManager.default
        let srcDate = (try? fm.attributesOfItem(atPath: source)[.modificationDate] as? Date) ?? .distantFuture
        let objDate = (try? fm.attributesOfItem(atPath: object)[.modificationDate] as? Date) ?? .distantPast
        if objDate < srcDate {
            try fm.createDirectory(at: dir, withIntermediateDirectories: true)
            let result = try run("/usr/bin/clang-14", ["-O2", "-g", "-target", "bpf", "-D__TARGET_ARCH_x86",
                                                       "-I/usr/include/x86_64-linux-gnu",
                                                       "-I" + repositoryRoot.appendingPathComponent("programs/include").path,
                                                       "-c", source, "-o", object])
            guard result.status == 0 else {
                throw BPFError(.invalidObject, operation: "clang-14", subject: source, message: result.stderr)
            }
        }
        return object
    }

    /// Runs a command to completion and returns its exit status and output.
    public static func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil,
                           stdin: String? = nil) throws -> (status: Int32, stdout: String, stderr: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        if let environment { p.environment = environment }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        if let stdin {
            let input = Pipe()
            p.standardInput = input
            try p.run()
            input.fileHandleForWriting.write(Data(stdin.utf8))
            try input.fileHandleForWriting.close()
        } else {
            p.standardInput = FileHandle.nullDevice
            try p.run()
        }
        // Read both pipes fully before waiting, so a chatty child cannot block on a full pipe.
        var outData = Data(), errData = Data()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async { outData = out.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        errData = err.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        p.waitUntilExit()
        try? out.fileHandleForReading.close()
        try? err.fileHandleForReading.close()
        return (p.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
    }
}
