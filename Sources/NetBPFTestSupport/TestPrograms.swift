import Foundation
import NetBPF
import NetBPFCompiler

/// Where the repository is, and the BPF programs of programs/ compiled for tests.
public enum TestPrograms {
    /// The repository root (three levels above this file).
    public static let repositoryRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Path of programs/NAME.bpf.c compiled to .build-programs/NAME.bpf.o through netbpf's own
    /// in-process compiler (its cache in /tmp/netbpf-test-cache keeps repeated runs fast).
    public static func object(_ name: String) throws -> String {
        let source = repositoryRoot.appendingPathComponent("programs/\(name).bpf.c").path
        let dir = repositoryRoot.appendingPathComponent(".build-programs")
        let object = dir.appendingPathComponent("\(name).bpf.o").path
        let compiler = try BPFCompiler(cache: CacheDirectory(path: "/tmp/netbpf-test-cache"))
        var options = CompileOptions()
        options.checkObject = false // maps_only.bpf.c exists to be refused by the loader
        let compiled = try compiler.compile(file: source, options: options)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        if FileManager.default.contents(atPath: object) != Data(compiled.bytes) {
            try Data(compiled.bytes).write(to: URL(fileURLWithPath: object), options: .atomic)
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
        final class Box: @unchecked Sendable { var data = Data() }
        let outBox = Box()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async { outBox.data = out.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        let outData = outBox.data
        p.waitUntilExit()
        try? out.fileHandleForReading.close()
        try? err.fileHandleForReading.close()
        return (p.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
    }
}
