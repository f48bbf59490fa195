import CNetBPFClangABI
import Foundation
import Glibc
import NetBPF

/// netbpf-cc, the compiler helper (clang 14 + LLVM 14): started with posix_spawn for each
/// compile and each PCH build, so LLVM is never mapped into netbpf, a second compile never
/// meets the first's LLVM state, and a crash or LLVM fatal error ends only the helper
/// (netbpf_clang.h). A cache hit never looks for it.
struct CompilerHelper: Sendable {
    /// The helper's real path, checked by TrustedPath.
    let path: String

    /// Where to look, in order: $NETBPF_CC; next to the running executable (SwiftPM puts it
    /// there when netbpf is built) or one level up; an installed layout (../lib/netbpf beside
    /// the executable, /usr/local/lib/netbpf, /usr/lib/netbpf); and the netbpf checkout this
    /// module was built from (`#filePath`), whose .build/release or .build/debug holds it once
    /// netbpf itself has been built. The last one is what lets a binary of a package that
    /// depends on netbpf find the compiler with no configuration. The first that exists is
    /// used if TrustedPath accepts it, else refused.
    static var candidates: [String] {
        var out: [String] = []
        if let env = ProcessInfo.processInfo.environment["NETBPF_CC"] { out.append(env) }
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            let dir = (exe as NSString).deletingLastPathComponent
            out.append(dir + "/netbpf-cc")
            out.append((dir as NSString).deletingLastPathComponent + "/netbpf-cc")
            out.append(dir + "/../lib/netbpf/netbpf-cc")
        }
        out += ["/usr/local/lib/netbpf/netbpf-cc", "/usr/lib/netbpf/netbpf-cc"]
        out += ["release", "debug"].map { sourceCheckout + "/.build/\($0)/netbpf-cc" }
        return out
    }

    /// The root of the netbpf checkout this file was compiled from (ROOT/Sources/NetBPFCompiler/).
    static let sourceCheckout = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path

    /// The helper's FileIdentity, for cache keys (not its path: every binary that finds the
    /// same helper shares cache entries). Cheap: a stat, no exec.
    static var identity: String {
        for path in candidates where FileManager.default.fileExists(atPath: path) {
            return FileIdentity.of(path)
        }
        return "no-compiler"
    }

    /// The first candidate that exists, if TrustedPath accepts it: code netbpf runs, often as
    /// root, comes only from where root or this user alone can write.
    static func find() throws -> CompilerHelper {
        guard let path = candidates.first(where: { FileManager.default.fileExists(atPath: $0) }) else {
            throw CompileError(kind: .toolchain, message: "the compiler (netbpf-cc) was not found",
                               hint: "build it once with `swift build --product netbpf-cc` in \(sourceCheckout) (needs Debian's llvm-14-dev and libclang-14-dev), or set NETBPF_CC")
        }
        switch TrustedPath.check(path) {
        case .success(let real): return CompilerHelper(path: real)
        case .failure(let refusal):
            throw CompileError(kind: .toolchain, message: "the compiler: \(refusal.message)",
                               hint: "the compiler (netbpf-cc) must be writable only by root or the user running netbpf")
        }
    }

    /// Compiles `source` (named `file`) in a new helper process; free the result with nb_free_result.
    func compile(_ source: [UInt8], file: String, args: [String], pch: String?) -> nb_compile_result {
        var result = nb_compile_result()
        withCStrings(args) { argv in
            source.withUnsafeBufferPointer { src in
                src.withMemoryRebound(to: CChar.self) { csrc in
                    _ = nb_cc_compile(path, csrc.baseAddress, csrc.count, file, argv, args.count, pch, &result)
                }
            }
        }
        return result
    }

    /// Builds a PCH of `header` at `pch` in a new helper process; whether it succeeded.
    func buildPCH(header: String, args: [String], pch: String) -> Bool {
        var result = nb_compile_result()
        let rc = withCStrings(args) { nb_cc_build_pch(path, header, $0, args.count, pch, &result) }
        nb_free_result(&result)
        return rc == 0
    }
}
