import Foundation

/// Runs the built `netbpf` binary the way a user would, for black-box CLI tests.
public enum CLI {
    /// .build/debug/netbpf (built by `swift build --build-tests`).
    public static var binary: String {
        TestPrograms.repositoryRoot.appendingPathComponent(".build/debug/netbpf").path
    }

    public static func run(_ arguments: [String], asUser uid: Int? = nil) throws -> (status: Int32, stdout: String, stderr: String) {
        if let uid {
            return try TestPrograms.run("/usr/bin/setpriv", ["--reuid=\(uid)", "--regid=\(uid)", "--clear-groups",
                                                              "--inh-caps=-all", binary] + arguments)
        }
        return try TestPrograms.run(binary, arguments)
    }
}
