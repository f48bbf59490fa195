import Foundation
import NetBPFCompiler

/// Where a topology argument points. A path that exists is used as given (the user named it);
/// a bare name that is no file ("pair", "demo.yaml") is one of netbpf's shipped topologies,
/// found where BundledPrograms finds programs: the checkout netbpf was built in, else
/// `<prefix>/share/netbpf/topologies` beside the installed binary, else
/// /usr/share/netbpf/topologies; `$NETBPF_TOPOLOGIES` overrides. Never the working directory.
enum TopologyLocation {
    /// The file to read for `argument`; `argument` itself when it exists or names a path.
    static func resolve(_ argument: String) -> String {
        if FileManager.default.fileExists(atPath: argument) || argument.contains("/") { return argument }
        let file = argument.hasSuffix(".yaml") ? argument : argument + ".yaml"
        return (try? BundledPrograms.path(file, in: "topologies", override: "NETBPF_TOPOLOGIES")) ?? argument
    }
}
