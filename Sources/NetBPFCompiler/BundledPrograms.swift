import Foundation

/// Finds the BPF C sources of programs/ that controllers and simulations compile at run time: $NETBPF_PROGRAMS,
/// else a `programs/` folder next to the executable or above it (a checkout's .build/*/netbpf),
/// else /usr/share/netbpf/programs.
public enum BundledPrograms {
    public static func path(_ file: String) throws -> String {
        var candidates: [String] = []
        if let env = ProcessInfo.processInfo.environment["NETBPF_PROGRAMS"] { candidates.append(env) }
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            var dir = (exe as NSString).deletingLastPathComponent
            for _ in 0..<6 {
                candidates.append(dir + "/programs")
                dir = (dir as NSString).deletingLastPathComponent
            }
        }
        candidates.append(FileManager.default.currentDirectoryPath + "/programs")
        candidates.append("/usr/share/netbpf/programs")
        for dir in candidates where FileManager.default.fileExists(atPath: dir + "/" + file) { return dir + "/" + file }
        throw CompileError(kind: .input, message: "cannot find programs/\(file)", hint: "set NETBPF_PROGRAMS to the folder holding netbpf's BPF programs")
    }
}
