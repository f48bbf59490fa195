import ArgumentParser
import Foundation
import NetBPF
import NetBPFCompiler

/// Compile options every command that takes a program accepts. `-DNAME=VALUE` and `-IDIR`, as
/// compilers take them, are split into two arguments in `main` (`CompileArguments.splitJoined`):
/// ArgumentParser reads `-DNAME=VALUE` as an unknown option `-DNAME`.
struct CompileArguments: ParsableArguments {
    @Option(name: .customShort("D"), help: ArgumentHelp("Define a macro for .c programs (NAME or NAME=VALUE).", valueName: "NAME[=VALUE]"))
    var defines: [String] = []
    @Option(name: .customShort("I"), help: ArgumentHelp("Add an include directory for .c programs.", valueName: "DIR"))
    var includes: [String] = []
    @Flag(help: "Compile .c programs again even if the cache has them.")
    var noCache = false

    @Flag(help: "Compile .c programs as BCC's C (docs/bcc-c.md); by default BCC's C is recognised by its macros.")
    var bcc = false
    @Flag(help: "Compile .c programs as libbpf C, even when they look like BCC's.")
    var libbpf = false
    @Option(help: ArgumentHelp("BCC mode: the section of a program function (BCC's load_func program type), e.g. handle=tc.", valueName: "FUNCTION=SECTION"))
    var bccSection: [String] = []
    @Option(name: .customLong("func"), help: ArgumentHelp("BCC mode: a program function BCC's Python would load (load_func), with its program type (SCHED_CLS, XDP, SOCKET_FILTER, KPROBE, TRACEPOINT, PERF_EVENT, ...); `netbpf attach` takes the type from its hook and attaches this function. Without a type, the type of its first parameter decides (struct xdp_md * -> XDP).", valueName: "NAME[:TYPE]"))
    var functions: [String] = []

    var options: CompileOptions { options(hook: nil) }

    /// The options; `hook` ("tc", "xdp", "socket") is the section of `--func` functions given
    /// without a type.
    func options(hook: String?) -> CompileOptions {
        var o = Self.options(defines: defines, includes: includes, noCache: noCache)
        o.dialect = bcc ? .bcc : libbpf ? .libbpf : .auto
        for s in bccSection {
            guard let eq = s.firstIndex(of: "=") else { continue }
            o.bccSections[String(s[..<eq])] = String(s[s.index(after: eq)...])
        }
        for f in functions {
            let parts = f.split(separator: ":", maxSplits: 1).map(String.init)
            if parts.count == 2, let section = Self.section(forProgramType: parts[1]) {
                o.bccSections[parts[0]] = section
            } else if parts.count == 1, let hook {
                o.bccSections[parts[0]] = hook
            }
        }
        return o
    }

    /// The function `--func` names (the first one), for choosing the program to attach.
    var functionName: String? { functions.first.map { String($0.split(separator: ":", maxSplits: 1)[0]) } }

    mutating func validate() throws {
        for f in functions {
            let parts = f.split(separator: ":", maxSplits: 1).map(String.init)
            guard !(parts.first ?? "").isEmpty else { throw ValidationError("--func needs a function name: NAME or NAME:TYPE") }
            if parts.count == 2, Self.section(forProgramType: parts[1]) == nil {
                throw ValidationError("--func \(f): unknown program type '\(parts[1])'; one of \(Self.programTypes.keys.sorted().joined(separator: ", ")) (BCC's BPF.SCHED_CLS is sched_cls)")
            }
        }
    }

    /// BCC's program types (BPF.SCHED_CLS ...) and netbpf's section names -> the section.
    static let programTypes: [String: String] = [
        "socket_filter": "socket", "socket": "socket", "sched_cls": "tc", "sched_act": "tc", "tc": "tc", "xdp": "xdp",
        "kprobe": "kprobe", "tracepoint": "tracepoint", "raw_tracepoint": "raw_tracepoint", "perf_event": "perf_event",
        "sock_ops": "sockops", "sockops": "sockops", "sk_skb": "sk_skb", "sk_msg": "sk_msg", "cgroup_skb": "cgroup_skb",
        "lwt_in": "lwt_in", "lwt_out": "lwt_out", "lwt_xmit": "lwt_xmit", "flow_dissector": "flow_dissector",
    ]

    static func section(forProgramType type: String) -> String? {
        var t = type.lowercased()
        if t.hasPrefix("bpf.") { t.removeFirst(4) }
        return programTypes[t]
    }

    /// The commands whose options include these.
    static let commands: Set = ["attach", "compile", "object", "prog", "demo"]

    /// `arguments` (a whole argv) with `-DX` and `-IX` split into `-D X` and `-I X`, up to a
    /// `--`, for the commands that take compile options (trace tools have a `-D` of their own).
    static func splitJoined(_ arguments: [String]) -> [String] {
        guard arguments.count > 1, commands.contains(arguments[1]) else { return arguments }
        var out: [String] = []
        var rest = arguments[...]
        while let a = rest.popFirst() {
            if a == "--" { out.append(a); out += rest; break }
            if (a.hasPrefix("-D") || a.hasPrefix("-I")) && a.count > 2 && !a.hasPrefix("-D=") && !a.hasPrefix("-I=") {
                out += [String(a.prefix(2)), String(a.dropFirst(2))]
            } else {
                out.append(a)
            }
        }
        return out
    }

    /// What these arguments ask of the compiler.
    static func options(defines: [String], includes: [String], noCache: Bool) -> CompileOptions {
        var o = CompileOptions()
        o.defines = defines
        o.includeDirectories = includes.map { $0.hasPrefix("/") ? $0 : FileManager.default.currentDirectoryPath + "/" + $0 }
        o.useCache = !noCache
        return o
    }
}

/// A program given on the command line: a .c file (compiled in-process, through the cache) or
/// a compiled .o. Compiler warnings go to stderr; errors print like clang's and end the command.
enum ProgramInput {
    /// `hook`: the attach command's hook, the section of `--func NAME` (BCC's load_func).
    static func open(_ path: String, compile: CompileArguments, hook: String? = nil) throws -> BPFObjectSpec {
        guard path.hasSuffix(".c") else { return try BPFObjectSpec.open(path: path) }
        let compiled = try compileFile(path, compile: compile, hook: hook)
        return try compiled.open()
    }

    static func compileFile(_ path: String, compile: CompileArguments, hook: String? = nil) throws -> CompiledObject {
        do {
            let options = compile.options(hook: hook)
            let compiled = try BPFCompiler().compile(file: path, options: options)
            printDiagnostics(compiled.diagnostics)
            return compiled
        } catch let error as CompileError {
            printDiagnostics(error.diagnostics)
            throw error
        }
    }

    static func printDiagnostics(_ diagnostics: [Diagnostic]) {
        guard !diagnostics.isEmpty else { return }
        let text = diagnostics.map(\.description).joined(separator: "\n") + "\n"
        StandardStreams.err(text)
    }
}
