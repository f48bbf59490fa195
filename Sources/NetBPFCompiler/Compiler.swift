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
    /// Use a precompiled header of vmlinux.h for programs that start with `#include "vmlinux.h"`
    /// (Prelude). The object is the same either way; only the time differs.
    public var usePrecompiledHeader = true
    /// Refuse objects with no programs or unknown sections (off only to make such objects for tests).
    public var checkObject = true
    /// BCC's C or libbpf's; `.auto` decides from the source (docs/bcc-c.md).
    public var dialect: SourceDialect = .auto
    /// BCC mode: the section of a program function its name and first parameter do not decide
    /// (what BCC's `load_func(name, BPF.SCHED_CLS)` says), e.g. ["handle_egress": "tc"].
    public var bccSections: [String: String] = [:]
    /// The defaults: cache and precompiled header on, object checked, dialect detected.
    public init() {}
}

/// A compiled BPF object in memory.
public struct CompiledObject: Sendable {
    /// The object's name: the file name without `.bpf.c` / `.c` (libbpf's object name).
    public let name: String
    /// The BPF ELF object, ready for `BPFObjectSpec.open(bytes:name:)` (bpf_object__open_mem).
    public let bytes: [UInt8]
    /// Warnings and notes (errors end in a thrown CompileError instead).
    public let diagnostics: [Diagnostic]
    /// True when the object came from the compile cache (netbpf-cc was not started).
    public let isCacheHit: Bool
    /// True when clang read vmlinux.h from a precompiled header (faster; the object is the same).
    public let usedPrecompiledHeader: Bool
    /// Functions that got a section from BCC's naming convention (kprobe__X -> "kprobe/X").
    public let autoAttached: [AutoAttachedFunction]

    /// Opens the object for configuration and loading.
    /// - Throws: `BPFError` when libbpf cannot parse the ELF (bpf_object__open_mem).
    public func open() throws -> BPFObjectSpec { try BPFObjectSpec.open(bytes: bytes, name: name) }
}

/// A function that BCC mode gave a section from its name (`kprobe__do_sys_open` ->
/// `kprobe/do_sys_open`), so `BPF.attachAll()` can attach it.
public struct AutoAttachedFunction: Sendable, Equatable, Encodable {
    /// The C function's name.
    public let function: String
    /// The ELF section it was put in (libbpf reads the program type and hook from it).
    public let section: String
    /// A pair as the compiler reports it (tests build expected values with it).
    public init(function: String, section: String) { self.function = function; self.section = section }
}

/// Compiles BPF C to an ELF object in memory with clang 14 (netbpf-cc, a process per compile,
/// loaded on the first real compile; a cache hit never loads it), with kernel types from BTF
/// (vmlinux.h generated once per kernel), netbpf.h, and a content-addressed cache.
/// Sendable: its only state is the cache directory (`let`); compiles on several threads share
/// the cache through atomic renames.
public final class BPFCompiler: Sendable {
    /// Sources larger than this are refused before clang sees them.
    public static let maximumSourceBytes = 8 << 20
    /// Where objects, vmlinux.h and precompiled headers are cached.
    public let cache: CacheDirectory

    /// A compiler over `cache` (nil: `CacheDirectory()`'s default). Starts nothing: netbpf-cc runs per
    /// compile, and only on a cache miss.
    /// - Throws: `CompileError(.input)` when the default cache directory is refused (see
    /// `CacheDirectory`).
    public init(cache: CacheDirectory? = nil) throws {
        self.cache = try cache ?? CacheDirectory()
    }

    /// Waits for the precompiled headers this process is building in the background (a compile
    /// that finds one missing starts it and goes on without it). Not needed before exiting (a
    /// builder finishes alone, and a PCH appears complete or not at all); for callers that want
    /// the PCH in place before they go on.
    public static func waitForBackgroundWork() {
        PrecompiledHeaders.waitForBackgroundBuilds()
    }

    /// Compiles a .c file.
    /// - Throws: `CompileError(.input)` for a file that is missing, not regular or over
    ///   `maximumSourceBytes`; `.source` with clang's diagnostics; `.toolchain` when netbpf-cc is missing
    ///   or crashed; `.object` for an object with no programs or an unknown section.
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
    /// - Throws: as `compile(file:options:)`.
    public func compile(source: String, path: String, options: CompileOptions = CompileOptions()) throws -> CompiledObject {
        guard source.utf8.count <= Self.maximumSourceBytes else {
            throw CompileError(kind: .input, message: "source is larger than \(Self.maximumSourceBytes >> 20) MB")
        }
        var name = (path as NSString).lastPathComponent
        for suffix in [".bpf.c", ".c"] where name.hasSuffix(suffix) { name.removeLast(suffix.count); break }
        return try compile(bytes: Array(source.utf8), path: path, name: name, options: options)
    }

    private func compile(bytes original: [UInt8], path: String, name: String, options: CompileOptions) throws -> CompiledObject {
        var options = options
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
            // Asks netbpf-cc for BCC's implicit kernel reads (CNetBPFClang/bcc_kernel_reads.h).
            options.defines.append(BCCMode.kernelReadsDefine)
        }
        // --- end of BCC mode
        if let t = text {
            let (rewritten, added) = AutoAttach.rewrite(t)
            if !added.isEmpty {
                bytes = Array(rewritten.utf8)
                autoAttached += added.map { AutoAttachedFunction(function: $0.function, section: $0.section) }
            }
        }

        let includeDir = try netbpfIncludeDirectory()
        // A folder `include/` beside the source is searched too (programs/include/ here).
        var userIncludes = options.includeDirectories
        let besides = (path as NSString).deletingLastPathComponent + "/include"
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: besides, isDirectory: &isDir), isDir.boolValue { userIncludes.append(besides) }
        // The clang arguments; the kernel's vmlinux.h directory, when given, is searched after
        // the others.
        func arguments(kernelDirectory: String?) -> [String] {
            var args: [String] = []
            for d in userIncludes { args += ["-I", d] }
            args += ["-I", includeDir]
            if let kernelDirectory { args += ["-I", kernelDirectory] }
            for d in options.defines { args.append("-D" + d) }
            return args + options.extraArguments
        }

        // The cache key: everything known before compiling. What the compile reads is in the
        // entry, checked on lookup (CompileCache).
        var h = Hasher256()
        h.add("netbpf-compile-v2")
        h.add(CompilerHelper.identity)
        h.add(NetBPFHeader.text)
        h.add(path)
        h.add(arguments(kernelDirectory: nil).joined(separator: "\u{1}"))
        h.add(options.checkObject ? "checked" : "unchecked")
        bytes.withUnsafeBytes { h.add($0) }
        let key = h.finish()
        let store = CompileCache(directory: cache)
        if options.useCache, let hit = store.lookup(key, kernelBTF: { try? KernelTypes.btfChecksum(cache: self.cache) }) {
            return CompiledObject(name: name, bytes: hit.object, diagnostics: hit.diagnostics, isCacheHit: true, usedPrecompiledHeader: false, autoAttached: autoAttached)
        }

        let started = time(nil)
        let helper = try CompilerHelper.find()
        // The kernel's types, for a source that names vmlinux.h; and for one that looked for it
        // without naming it (a header of its own includes it), found out from what the first
        // compile looked for, and compiled again with them.
        var kernel: (btf: String, directory: String)?
        func kernelTypes() throws -> (btf: String, directory: String) {
            let sum = try KernelTypes.btfChecksum(cache: cache)
            return (sum, try KernelTypes.includeDirectory(cache: cache, btfChecksum: sum))
        }
        if String(decoding: bytes, as: UTF8.self).contains("vmlinux.h") { kernel = try kernelTypes() }
        var run = try runClang(helper, bytes: bytes, path: path, args: arguments(kernelDirectory: kernel?.directory),
                               kernelDirectory: kernel?.directory, userIncludes: userIncludes, includeDirectory: includeDir, options: options)
        if kernel == nil, run.lookedForVmlinux {
            nb_free_result(&run.result)
            kernel = try kernelTypes()
            run = try runClang(helper, bytes: bytes, path: path, args: arguments(kernelDirectory: kernel?.directory),
                               kernelDirectory: kernel?.directory, userIncludes: userIncludes, includeDirectory: includeDir, options: options)
        }
        defer { nb_free_result(&run.result) }
        var diagnostics = (0..<run.result.ndiags).map { Diagnostic(run.result.diags[$0]) }
        guard run.result.status == 0, let objectPointer = run.result.object else {
            let all = (run.note.map { [$0] } ?? []) + diagnostics
            let error = run.result.error.map { String(cString: $0) } ?? "compiler failed"
            // The compiler failed (a crash, an LLVM fatal error): what it says is the verdict.
            guard run.result.status > 0 else { throw CompileError(kind: .toolchain, message: error, diagnostics: all) }
            let errors = diagnostics.filter { $0.severity >= .error }
            let more = errors.count > 1 ? " (and \(errors.count - 1) more error\(errors.count > 2 ? "s" : ""))" : ""
            throw CompileError(kind: .source, message: (errors.first?.summary ?? error) + more, hint: HeaderHints.hint(for: errors), diagnostics: all)
        }
        let object = Array(UnsafeBufferPointer(start: objectPointer, count: run.result.object_size))
        if options.checkObject {
            do {
                diagnostics += try ObjectChecks.check(object, name: name, path: path)
            } catch var e as CompileError {
                e.diagnostics = diagnostics + e.diagnostics // clang's warnings often say why
                throw e
            }
        }
        // What the source's compile said; the note on a rejected PCH is this compile's cache
        // event, not the source's, and is not kept.
        if options.useCache, let inputs = CompileInputs(run.result, kernelBTF: kernel?.btf, started: started,
                                                              ownDirectories: [includeDir + "/", cache.path + "/kernel-"]) {
            store.store(key, object: object, diagnostics: diagnostics, inputs: inputs)
        }
        return CompiledObject(name: name, bytes: object, diagnostics: (run.note.map { [$0] } ?? []) + diagnostics, isCacheHit: false,
                              usedPrecompiledHeader: run.result.pch_status == Int32(NB_PCH_USED.rawValue), autoAttached: autoAttached)
    }

    /// One clang run, with the PCH of the source's leading includes when there is one. A PCH
    /// clang finds stale or mismatched is removed (the next compile builds it again) and the
    /// source compiled without it, with a note saying why.
    private func runClang(_ helper: CompilerHelper, bytes: [UInt8], path: String, args: [String], kernelDirectory: String?,
                          userIncludes: [String], includeDirectory: String, options: CompileOptions) throws -> ClangRun {
        var pch: String?
        if options.usePrecompiledHeader,
           let prelude = Prelude.forSource(bytes, kernelDirectory: kernelDirectory, firstIncludeIsKernels: { quoted in
                                               // No vmlinux.h of the program's own comes first.
                                               let before = (quoted ? [(path as NSString).deletingLastPathComponent] : []) + userIncludes + [includeDirectory]
                                               return !before.contains { access($0 + "/vmlinux.h", F_OK) == 0 }
                                           }) {
            pch = try PrecompiledHeaders.available(for: prelude, args: args, helper: helper, cache: cache)
        }
        var result = helper.compile(bytes, file: path, args: args, pch: pch)
        guard result.pch_status == Int32(NB_PCH_REJECTED.rawValue), let pch else { return ClangRun(result: result) }
        let why = result.error.map { String(cString: $0) } ?? "rejected"
        nb_free_result(&result)
        unlink(pch)
        return ClangRun(result: helper.compile(bytes, file: path, args: args, pch: nil),
                        note: Diagnostic(severity: .note, file: nil, line: 0, column: 0, message: "precompiled header '\(pch)' not used: \(why)"))
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
}

/// What one clang run returned (free `result` with nb_free_result).
struct ClangRun {
    var result: nb_compile_result
    /// Why a PCH was not used, when clang rejected it.
    var note: Diagnostic?

    /// Whether the compile looked for a vmlinux.h and found none.
    var lookedForVmlinux: Bool {
        let named = UnsafeBufferPointer(start: result.inputs, count: result.ninputs).filter {
            (String(cString: $0.path) as NSString).lastPathComponent == "vmlinux.h"
        }
        return !named.isEmpty && named.allSatisfy { $0.identity == nil }
    }
}

/// Calls `body` with a C array of C strings that lives for the call.
func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
    let copies = strings.map { strdup($0) }
    defer { copies.forEach { free($0) } }
    let pointers = copies.map { UnsafePointer<CChar>($0) }
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}
