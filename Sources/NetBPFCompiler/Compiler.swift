import CNetBPFClangABI
import Foundation
import Glibc
import NetBPF

/// How to compile.
public struct CompileOptions: Sendable, Equatable {
    /// `NAME` or `NAME=VALUE`, as -D.
    public var defines: [String] = []
    /// Extra include directories, as -I (searched before the defaults).
    public var includeDirectories: [String] = []
    /// Any other clang driver arguments (-Wall, -O1, -mcpu=v3 ...).
    public var extraArguments: [String] = []
    /// Reuse and store objects in the compile cache.
    public var useCache = true
    /// Use a precompiled header of the `#include` lines the source starts with (Prelude):
    /// vmlinux.h for programs that start with it, the common UAPI and libbpf headers for
    /// networking programs. The object is the same either way; only the time differs.
    public var usePrecompiledHeader = true
    /// Refuse objects with no programs or unknown sections (off only to make such objects for tests).
    public var checkObject = true
    /// BCC's C or libbpf's; `.auto` decides from the source (docs/bcc-c.md).
    public var dialect: SourceDialect = .auto
    /// BCC mode: the section of a program function its name and first parameter do not decide
    /// (what BCC's `load_func(name, BPF.SCHED_CLS)` says), e.g. ["handle_egress": "tc"].
    public var bccSections: [String: String] = [:]
    public init() {}
}

/// A compiled BPF object in memory.
public struct CompiledObject: Sendable {
    public let name: String
    public let bytes: [UInt8]
    /// Warnings and notes (errors end in a thrown CompileError instead).
    public let diagnostics: [Diagnostic]
    public let cacheHit: Bool
    public let usedPrecompiledHeader: Bool
    /// Functions that got a section from BCC's naming convention (kprobe__X -> "kprobe/X").
    public let autoAttached: [AutoAttachedFunction]

    /// Opens the object for configuration and loading.
    public func open() throws -> BPFObjectSpec { try BPFObjectSpec.open(bytes: bytes, name: name) }
}

public struct AutoAttachedFunction: Sendable, Equatable, Encodable {
    public let function: String
    public let section: String
    public init(function: String, section: String) { self.function = function; self.section = section }
}

/// Compiles BPF C to an ELF object in memory with clang 14 in-process (libNetBPFClang.so,
/// loaded on the first real compile; a cache hit never loads it), with kernel types from BTF
/// (vmlinux.h generated once per kernel), netbpf.h, and a content-addressed cache.
public final class BPFCompiler: @unchecked Sendable {
    /// Sources larger than this are refused before clang sees them.
    public static let maximumSourceBytes = 8 << 20
    public let cache: CacheDirectory

    public init(cache: CacheDirectory? = nil) throws {
        self.cache = try cache ?? CacheDirectory()
    }

    /// Waits for the precompiled headers this process is building in the background (a compile
    /// that finds one missing starts it and goes on without it) and for a load of the compiler
    /// library in progress; call before exiting.
    public static func waitForBackgroundWork() {
        PrecompiledHeaders.waitForBackgroundBuilds()
        ClangLibrary.waitForPreload() // exiting while another thread is in dlopen is not safe
    }

    /// True once LLVM has been mapped into this process.
    public static var compilerLoaded: Bool { ClangLibrary.isLoaded }

    /// Compiles a .c file.
    public func compile(file path: String, options: CompileOptions = CompileOptions()) throws -> CompiledObject {
        let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        var st = stat()
        guard stat(absolute, &st) == 0 else {
            throw CompileError(kind: .input, message: "cannot read \(path): \(String(cString: strerror(errno)).lowercased())")
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw CompileError(kind: .input, message: "\(path) is not a regular file") }
        guard Int(st.st_size) <= Self.maximumSourceBytes else {
            throw CompileError(kind: .input, message: String(format: "%@ is %.1f MB; netbpf compiles sources of at most %d MB", path, Double(st.st_size) / 1e6, Self.maximumSourceBytes >> 20),
                               hint: "BPF programs are small: generated tables belong in maps, filled from user space")
        }
        guard let data = FileManager.default.contents(atPath: absolute) else {
            throw CompileError(kind: .input, message: "cannot read \(path)")
        }
        var name = (absolute as NSString).lastPathComponent
        for suffix in [".bpf.c", ".c"] where name.hasSuffix(suffix) { name.removeLast(suffix.count); break }
        return try compile(bytes: Array(data), path: absolute, name: name, options: options)
    }

    /// Compiles source held in memory; `path` names it in diagnostics and anchors `#include "..."`.
    public func compile(source: String, path: String, options: CompileOptions = CompileOptions()) throws -> CompiledObject {
        guard source.utf8.count <= Self.maximumSourceBytes else {
            throw CompileError(kind: .input, message: "source is larger than \(Self.maximumSourceBytes >> 20) MB")
        }
        var name = (path as NSString).lastPathComponent
        for suffix in [".bpf.c", ".c"] where name.hasSuffix(suffix) { name.removeLast(suffix.count); break }
        return try compile(bytes: Array(source.utf8), path: path, name: name, options: options)
    }

    private func compile(bytes original: [UInt8], path: String, name: String, options: CompileOptions) throws -> CompiledObject {
        if !options.useCache { ClangLibrary.preload() }
        // BCC naming -> sections (text sources only: bytes that are not UTF-8 are passed as they are).
        var bytes = original
        var autoAttached: [AutoAttachedFunction] = []
        var text = String(validating: original, as: UTF8.self)
        // --- BCC mode (Sources/NetBPFCompiler/BCC, docs/bcc-c.md): BCC's C rewritten for libbpf.
        if let t = text, BCCMode.applies(to: t, options: options) {
            let prepared = try BCCMode.prepare(t, options: options, cache: cache)
            text = prepared.source
            bytes = Array(prepared.source.utf8)
            autoAttached = prepared.sections
        }
        // --- end of BCC mode
        if let t = text {
            let (rewritten, added) = AutoAttach.rewrite(t)
            if !added.isEmpty {
                bytes = Array(rewritten.utf8)
                text = rewritten
                autoAttached += added.map { AutoAttachedFunction(function: $0.function, section: $0.section) }
            }
        }

        let includeDir = try netbpfIncludeDirectory()
        // A folder `include/` beside the source is searched too (programs/include/ here).
        var userIncludes = options.includeDirectories
        let besides = (path as NSString).deletingLastPathComponent + "/include"
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: besides, isDirectory: &isDir), isDir.boolValue { userIncludes.append(besides) }
        var args: [String] = []
        for d in userIncludes { args += ["-I", d] }
        args += ["-I", includeDir]

        // The include graph decides vmlinux.h or not and is part of the cache key. A manifest of
        // an earlier scan stands in for the scan while it still resolves the same (a miss with
        // it, other -D say, goes straight to the compile); without one this is a compile in all
        // likelihood, so the compiler library starts loading beside the scan.
        let searchPath = userIncludes + [includeDir, "/usr/include", "/usr/include/x86_64-linux-gnu"]
        let library = libraryIdentity()
        let manifests = IncludeManifests(directory: cache)
        let manifestKey = IncludeManifests.key(library: library, path: path, searchPath: searchPath, source: bytes)
        let manifest = options.useCache ? manifests.lookup(manifestKey) : nil
        if options.useCache && manifest == nil { ClangLibrary.preload() }
        let scanner = IncludeScanner(searchPath: searchPath, skip: ["vmlinux.h"])
        let dependencies = manifest?.result ?? scanner.dependencies(ofSource: bytes, at: path)
        if options.useCache && manifest == nil { manifests.store(manifestKey, scanned: dependencies) }
        var btf: String?
        var kernelDirectory: String?
        if dependencies.skippedIncluded.contains("vmlinux.h") {
            let sum = try KernelTypes.btfChecksum(cache: cache)
            btf = sum
            kernelDirectory = try KernelTypes.includeDirectory(cache: cache, btfChecksum: sum)
            args += ["-I", kernelDirectory!]
        }
        for d in options.defines { args.append("-D" + d) }
        args += options.extraArguments

        // The cache key: everything that can change the object.
        var h = Hasher256()
        h.add("netbpf-compile-v1")
        h.add(library)
        h.add(path)
        h.add(args.joined(separator: "\u{1}"))
        h.add(options.checkObject ? "checked" : "unchecked")
        bytes.withUnsafeBytes { h.add($0) }
        if let btf { h.add(btf) }
        // Identities as the scan read the files (or as the manifest, just checked, says).
        for (dep, identity) in zip(dependencies.files, dependencies.identities) {
            h.add(dep)
            h.add(identity)
        }
        let key = h.finish()
        let store = CompileCache(directory: cache)
        if options.useCache, case .hit(let object, let warnings) = store.lookup(key) {
            // A library load started for what turned out to be a hit (no manifest yet) is let
            // finish: a process must not exit while another thread is in dlopen.
            if manifest == nil { ClangLibrary.waitForPreload() }
            return CompiledObject(name: name, bytes: object, diagnostics: warnings, cacheHit: true, usedPrecompiledHeader: false, autoAttached: autoAttached)
        }

        let clang = try ClangLibrary.shared()
        var pch: String?
        if options.usePrecompiledHeader,
           let prelude = Prelude.forSource(bytes, kernelDirectory: kernelDirectory, includeDirectory: includeDir,
                                           firstIncludeIsKernels: { quoted in
                                               var missed: [String] = []
                                               return scanner.resolve("vmlinux.h", quoted: quoted, from: IncludeScanner.directory(of: path), absent: &missed) == nil
                                           }) {
            pch = try PrecompiledHeaders.available(for: prelude, args: args, clang: clang, cache: cache)
        }
        var result = nb_compile_result()
        let rc = withCStrings(args) { argv in
            bytes.withUnsafeBufferPointer { src in
                src.withMemoryRebound(to: CChar.self) { csrc in
                    clang.compile(csrc.baseAddress, csrc.count, path, argv, args.count, pch, &result)
                }
            }
        }
        defer { clang.freeResult(&result) }
        var diagnostics = (0..<result.ndiags).map { Diagnostic(result.diags[$0]) }
        if result.pch_status == Int32(NB_PCH_REJECTED.rawValue), let pch { unlink(pch) }
        guard rc == 0, let objectPointer = result.object else {
            let errors = diagnostics.filter { $0.severity >= .error }
            let first = errors.first?.summary ?? (result.error.map { String(cString: $0) } ?? "compiler failed")
            let more = errors.count > 1 ? " (and \(errors.count - 1) more error\(errors.count > 2 ? "s" : ""))" : ""
            throw CompileError(kind: rc < 0 ? .toolchain : .source, message: first + more, hint: HeaderHints.hint(for: errors), diagnostics: diagnostics)
        }
        let object = Array(UnsafeBufferPointer(start: objectPointer, count: result.object_size))
        if options.checkObject {
            do {
                diagnostics += try ObjectChecks.check(object, name: name, path: path)
            } catch var e as CompileError {
                e.diagnostics = diagnostics + e.diagnostics // clang's warnings often say why
                throw e
            }
        }
        // What the source's compile said, without the note on a rejected PCH (this compile's
        // cache event, not the source's).
        if options.useCache { store.store(key, object: object, diagnostics: diagnostics.filter { !$0.message.hasPrefix("precompiled header '") }) }
        return CompiledObject(name: name, bytes: object, diagnostics: diagnostics, cacheHit: false,
                              usedPrecompiledHeader: result.pch_status == Int32(NB_PCH_USED.rawValue), autoAttached: autoAttached)
    }

    /// <cache>/include with netbpf.h written (once per content).
    private func netbpfIncludeDirectory() throws -> String {
        let dir = cache.path + "/include"
        let header = dir + "/netbpf.h"
        try cache.makeDirectory(dir)
        if let existing = cache.read(header), existing == Data(NetBPFHeader.text.utf8) { return dir }
        try cache.writeAtomically(Data(NetBPFHeader.text.utf8), to: header)
        return dir
    }

    /// Identity of the compiler library (its FileIdentity, not its path, so every binary that
    /// finds the same library shares cache entries): cheap, and needs no dlopen.
    private func libraryIdentity() -> String {
        for path in ClangLibrary.candidates where FileManager.default.fileExists(atPath: path) {
            return FileIdentity.of(path)
        }
        return "no-compiler-library"
    }

}

/// Calls `body` with a C array of C strings that lives for the call.
func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
    let copies = strings.map { strdup($0) }
    defer { copies.forEach { free($0) } }
    let pointers = copies.map { UnsafePointer<CChar>($0) }
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}
