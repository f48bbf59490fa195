import Foundation

/// Finds netbpf's own BPF C (programs/ for controllers and simulations, Tools/ for the tracing
/// tools), which netbpf compiles and loads, usually as root. So it is looked for only where
/// netbpf was built or installed, never in the working directory (a `programs/` in whatever
/// directory root runs from would be loaded into the kernel), and it must be trusted
/// (TrustedPath: owned by root or the effective user, not writable by group or others).
///
/// Where, in order, the first that holds the file:
/// - `$NETBPF_PROGRAMS` (for Tools/: `$NETBPF_TOOLS_DIR`), an explicit choice: only there;
/// - the checkout the executable was built in: `<checkout>/.build/<triple>/debug/netbpf` ->
///   `<checkout>/programs`;
/// - beside an installed executable: `<prefix>/bin/netbpf` -> `<prefix>/share/netbpf/programs`;
/// - `/usr/share/netbpf/programs`.
/// The location found is checked, not skipped: an untrusted one is an error, never a reason to
/// look further.
package enum BundledPrograms {
    /// The path of programs/`file`, symlinks resolved.
    /// - Throws: `CompileError` (.input) when no location has it, or the one that has it is not trusted.
    package static func path(_ file: String) throws -> String {
        try path(file, in: "programs", override: "NETBPF_PROGRAMS")
    }

    /// The path of `relative` (e.g. "execsnoop/execsnoop.bpf.c") inside netbpf's folder
    /// `folder` ("Tools"), with `$override` as the explicit location.
    package static func path(_ relative: String, in folder: String, override variable: String) throws -> String {
        if let explicit = ProcessInfo.processInfo.environment[variable] {
            return try path(relative, inDirectory: explicit)
        }
        let candidates = locations(of: folder, executable: executablePath())
        for dir in candidates where FileManager.default.fileExists(atPath: dir + "/" + relative) {
            return try path(relative, inDirectory: dir)
        }
        throw CompileError(kind: .input, message: "cannot find \(folder)/\(relative) (looked in \(candidates.joined(separator: ", ")))",
                           hint: "set \(variable) to the folder holding netbpf's \(folder)")
    }

    /// `relative` inside `directory`, once the directory, the file, the directory's `include/`
    /// (searched by the compile) and what it holds pass TrustedPath.
    package static func path(_ relative: String, inDirectory directory: String) throws -> String {
        let file = directory + "/" + relative
        guard FileManager.default.fileExists(atPath: file) else {
            throw CompileError(kind: .input, message: "cannot find \(file)")
        }
        var toCheck = [directory, file]
        let include = (file as NSString).deletingLastPathComponent + "/include"
        if FileManager.default.fileExists(atPath: include) {
            toCheck.append(include)
            toCheck += (FileManager.default.subpaths(atPath: include) ?? []).map { include + "/" + $0 }
        }
        var real = file
        for p in toCheck {
            switch TrustedPath.check(p, root: directory) {
            case .success(let r): if p == file { real = r }
            case .failure(let refusal):
                throw CompileError(kind: .input, message: refusal.message,
                                   hint: "netbpf's BPF programs must be writable only by root or the user running netbpf; fix the owner or mode, or install netbpf")
            }
        }
        return real
    }

    /// The folders that may hold `folder`, for an executable at `executable` (real path).
    static func locations(of folder: String, executable: String?) -> [String] {
        var out: [String] = []
        if let exe = executable {
            let components = exe.split(separator: "/", omittingEmptySubsequences: false)
            if let build = components.firstIndex(where: { $0.hasPrefix(".build") }), build > 0 {
                out.append(components[..<build].joined(separator: "/") + "/" + folder)
            } else {
                let bin = (exe as NSString).deletingLastPathComponent
                out.append((bin as NSString).deletingLastPathComponent + "/share/netbpf/" + folder)
            }
        }
        out.append("/usr/share/netbpf/" + folder)
        var seen = Set<String>()
        return out.filter { seen.insert($0).inserted }
    }

    static func executablePath() -> String? {
        try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
    }
}
