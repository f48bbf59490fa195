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

    /// Where to look: $NETBPF_CLANG_LIBRARY, next to the running executable (SwiftPM puts it
    /// there), then ../lib/netbpf/ for an installed layout.
    static var candidates: [String] {
        var out: [String] = []
        if let env = ProcessInfo.processInfo.environment["NETBPF_CLANG_LIBRARY"] { out.append(env) }
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            let dir = (exe as NSString).deletingLastPathComponent
            out.append(dir + "/libNetBPFClang.so")
            out.append((dir as NSString).deletingLastPathComponent + "/libNetBPFClang.so")
            out.append(dir + "/../lib/netbpf/libNetBPFClang.so")
        }
        return out
    }

    /// False under ASan/TSan/MSan (their dlopen interceptor aborts on RTLD_DEEPBIND) or when
    /// NETBPF_NO_DEEPBIND is set.
    static var deepBindAllowed: Bool {
        if ProcessInfo.processInfo.environment["NETBPF_NO_DEEPBIND"] != nil { return false }
        let process = dlopen(nil, RTLD_LAZY)
        defer { if let process { dlclose(process) } }
        let runtimes: [String] = ["__asan_init", "__tsan_init", "__msan_init"]
        return runtimes.allSatisfy { dlsym(process, $0) == nil }
    }

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
            // Lazy: resolving all of LLVM's functions up front costs ~20 ms. Deep binding: LLVM's
            // references to its own symbols are looked up in its own dependency scope first,
            // instead of after the ~30 libraries of a Swift process (dlopen 53 -> 48 ms of a
            // 50-ms compile; docs/benchmarks.md). Not under a sanitizer runtime, which refuses
            // RTLD_DEEPBIND, nor with NETBPF_NO_DEEPBIND set (e.g. an LD_PRELOADed allocator,
            // which deep binding would bypass for LLVM's own malloc calls).
            guard let handle = dlopen(path, RTLD_LAZY | RTLD_LOCAL | (deepBindAllowed ? RTLD_DEEPBIND : 0)) else {
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
                           hint: "build it with `swift build --product NetBPFClang`, or set NETBPF_CLANG_LIBRARY; it needs Debian's libclang-cpp14 and libllvm14")
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
