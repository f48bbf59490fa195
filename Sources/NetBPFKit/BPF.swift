import Foundation
import Synchronization

/// BCC's `BPF(text=...)` for Swift: C source in, compiled in-process (cached, kernel types from
/// BTF, no kernel headers), loaded, and every program attached that can be attached from its
/// section or its BCC-style name alone; maps, events and histograms by name; one `close()`.
///
/// ```swift
/// let bpf = try BPF(text: """
///     #include "vmlinux.h"
///     #include <bpf/bpf_helpers.h>
///     SEC("tracepoint/syscalls/sys_enter_execve")
///     int hello(void *ctx) { bpf_printk("hello"); return 0; }
///     char LICENSE[] SEC("license") = "GPL";
///     """)
/// ```
///
/// Programs that need a place to run (tc, XDP, socket filters, uprobes, perf events) are
/// attached with the explicit calls (`attachTC`, `attachXDP`, `attachUprobe`, ...). Every link
/// is kept here and detached by `close()` or when the `BPF` is released; each call also returns
/// its link, which can be detached on its own.
///
/// Thread-safe: the links are behind a `Mutex`; the object, programs and maps are immutable
/// handles. Kernel: what the programs need (ring buffers 5.8, tcx 6.6, ...).
public final class BPF: Sendable {
    /// The loaded object.
    public let object: BPFObject
    private let state = Mutex<[BPFLink]>([])

    /// Compiles `text` (as if it were the file `name`), loads it and, with `autoAttach`,
    /// attaches every program that names its own hook (see `attachAll`).
    /// - Throws: `CompileError` (with clang's diagnostics), `BPFError` (verifier, attach).
    public convenience init(text: String, name: String = "inline.bpf.c", defines: [String] = [], includeDirectories: [String] = [],
                            autoAttach: Bool = true) throws {
        var options = CompileOptions()
        options.defines = defines
        options.includeDirectories = includeDirectories
        let compiled = try BPFCompiler().compile(source: text, path: name, options: options)
        try self.init(object: try compiled.open().load(), autoAttach: autoAttach)
    }

    /// A BPF C file (compiled in-process, cached) or an object file (.o), loaded and, with
    /// `autoAttach`, attached as `init(text:)` does.
    /// - Throws: `CompileError` for C that does not compile; `BPFError` (open, verifier, attach).
    public convenience init(file path: String, defines: [String] = [], includeDirectories: [String] = [], autoAttach: Bool = true) throws {
        let spec: BPFObjectSpec
        if path.hasSuffix(".o") {
            spec = try BPFObjectSpec.open(path: path)
        } else {
            var options = CompileOptions()
            options.defines = defines
            options.includeDirectories = includeDirectories
            spec = try BPFCompiler().compile(file: path, options: options).open()
        }
        try self.init(object: try spec.load(), autoAttach: autoAttach)
    }

    /// An object already loaded (configured through `BPFObjectSpec` first).
    /// - Throws: the first auto-attach that fails (`BPFError`).
    public init(object: BPFObject, autoAttach: Bool = true) throws {
        self.object = object
        if autoAttach { try attachAll() }
    }

    deinit { try? close() }

    /// Detaches every link this `BPF` holds, newest first, trying all of them before it reports a
    /// failure. Idempotent; the object stays loaded until released.
    /// - Throws: the first `BPFLink.detach()` error (a pin that could not be removed).
    public func close() throws {
        let links = state.withLock { links in
            defer { links = [] }
            return links
        }
        try detachAll(links.reversed())
    }

    /// The links made so far (auto-attached and explicit), in order.
    public var links: [BPFLink] { state.withLock { $0 } }

    /// Keeps `link` so `close()` detaches it, and returns it.
    @discardableResult
    public func keep(_ link: BPFLink) -> BPFLink {
        state.withLock { $0.append(link) }
        return link
    }

    // MARK: Programs and maps

    /// The loaded program whose C function is `name`.
    /// - Throws: `BPFError(.notFound)` naming the programs there are.
    public func program(_ name: String) throws -> BPFProgram { try object.program(named: name) }

    /// BCC's `get_table(name)`: the map called `name`.
    /// - Throws: `BPFError(.notFound)` naming the maps there are.
    public func map(_ name: String) throws -> BPFMap { try object.map(named: name) }

    /// BCC's `b["name"]`: the map, or nil when there is none of that name.
    public subscript(_ name: String) -> BPFMap? { try? object.map(named: name) }
}
