import CNetBPFClangABI
import Foundation
import Glibc
import NetBPF

/// The in-process compiler library (libNetBPFClang.so: clang 14 + LLVM 14), opened with dlopen
/// the first time something is compiled. Commands that never compile never map LLVM.
final class ClangLibrary: @unchecked Sendable {
    let compile: nb_clang_compile_fn
    let buildPCH: nb_clang_build_pch_fn
    let freeResult: nb_clang_free_result_fn
    let version: String

    private static let lock = NSLock()
    nonisolated(unsafe) private static var loaded: Result<ClangLibrary, CompileError>?

    /// Where to look, in order: $NETBPF_CLANG_LIBRARY; next to the running executable (SwiftPM
    /// puts it there when the NetBPFClang product is built) or one level up; an installed
    /// layout (../lib/netbpf beside the executable, /usr/local/lib/netbpf, /usr/lib/netbpf); and
    /// the netbpf checkout this module was built from (`#filePath`), whose .build/release or
    /// .build/debug holds it once netbpf itself has been built. The last one is what lets a
    /// binary of a package that depends on netbpf find the compiler with no configuration.
    /// The first that exists is loaded if TrustedPath accepts it, else refused.
    static var candidates: [String] {
        var out: [String] = []
        if let env = ProcessInfo.processInfo.environment["NETBPF_CLANG_LIBRARY"] { out.append(env) }
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            let dir = (exe as NSString).deletingLastPathComponent
            out.append(dir + "/libNetBPFClang.so")
            out.append((dir as NSString).deletingLastPathComponent + "/libNetBPFClang.so")
            out.append(dir + "/../lib/netbpf/libNetBPFClang.so")
        }
        out += ["/usr/local/lib/netbpf/libNetBPFClang.so", "/usr/lib/netbpf/libNetBPFClang.so"]
        out += ["release", "debug"].map { sourceCheckout + "/.build/\($0)/libNetBPFClang.so" }
        return out
    }

    /// The root of the netbpf checkout this file was compiled from (ROOT/Sources/NetBPFCompiler/).
    static let sourceCheckout = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path

    static func shared() throws -> ClangLibrary {
        lock.lock(); defer { lock.unlock() }
        if let loaded { return try loaded.get() }
        let result = Result { try open() }.mapError { $0 as! CompileError }
        loaded = result
        return try result.get()
    }

    private static func open() throws -> ClangLibrary {
        var errors: [String] = []
        for path in candidates where FileManager.default.fileExists(atPath: path) {
            // Code this process runs, often as root: only from where root or this user alone can write.
            if case .failure(let refusal) = TrustedPath.check(path) {
                throw CompileError(kind: .toolchain, message: "the in-process compiler: \(refusal.message)",
                                   hint: "the compiler library must be writable only by root or the user running netbpf")
            }
            // clang and LLVM are linked into the library statically with their symbols local
            // (Package.swift), so opening it resolves little beyond libstdc++ and libc; lazy
            // binding defers even that to first use.
            guard let handle = dlopen(path, RTLD_LAZY | RTLD_LOCAL) else {
                errors.append(String(cString: dlerror()))
                continue
            }
            func symbol<T>(_ name: String, as: T.Type) throws -> T {
                guard let p = dlsym(handle, name) else {
                    throw CompileError(kind: .toolchain, message: "\(path) has no symbol \(name)")
                }
                return unsafeBitCast(p, to: T.self)
            }
            let abi = try symbol("nb_clang_abi_version", as: nb_clang_abi_version_fn.self)()
            guard abi == NB_CLANG_ABI_VERSION else {
                throw CompileError(kind: .toolchain, message: "\(path) speaks compiler ABI \(abi), netbpf expects \(NB_CLANG_ABI_VERSION)",
                                   hint: "rebuild: swift build --product NetBPFClang")
            }
            let versionText = try symbol("nb_clang_version", as: nb_clang_version_fn.self)()
            return ClangLibrary(
                compile: try symbol("nb_clang_compile", as: nb_clang_compile_fn.self),
                buildPCH: try symbol("nb_clang_build_pch", as: nb_clang_build_pch_fn.self),
                freeResult: try symbol("nb_clang_free_result", as: nb_clang_free_result_fn.self),
                version: versionText.map { String(cString: $0) } ?? "unknown clang")
        }
        throw CompileError(kind: .toolchain,
                           message: "the in-process compiler (libNetBPFClang.so) was not found" + (errors.isEmpty ? "" : ": " + errors.joined(separator: "; ")),
                           hint: "build it once with `swift build --product NetBPFClang` in \(sourceCheckout) (needs Debian's llvm-14-dev and libclang-14-dev), or set NETBPF_CLANG_LIBRARY")
    }

    private init(compile: @escaping nb_clang_compile_fn, buildPCH: @escaping nb_clang_build_pch_fn,
                 freeResult: @escaping nb_clang_free_result_fn, version: String) {
        self.compile = compile
        self.buildPCH = buildPCH
        self.freeResult = freeResult
        self.version = version
    }

    /// True once the library is mapped into this process (for tests of lazy loading).
    static var isLoaded: Bool {
        lock.lock(); defer { lock.unlock() }
        return (try? loaded?.get()) != nil
    }
}
