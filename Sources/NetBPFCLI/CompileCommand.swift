import ArgumentParser
import Foundation
import NetBPF
import NetBPFCompiler

/// `netbpf compile prog.c [-o prog.o] [-D NAME=VAL] [-I DIR]`: BPF C to an object (clang 14 in netbpf-cc).
struct CompileCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compile",
        abstract: "Compile BPF C to an object with netbpf's clang 14 (no kernel headers or clang binary needed).",
        discussion: """
        `#include "vmlinux.h"` gets the running kernel's types from BTF; `#include <netbpf.h>` gets \
        BCC-style map macros. Objects are cached by content (source, flags, compiler; a hit while the files the compile read and the kernel BTF are unchanged).
        """)

    @Argument(help: "The BPF C source.") var source: String?
    @Option(name: .shortAndLong, help: "Where to write the object (default: SOURCE with .o).") var output: String?
    @OptionGroup var compile: CompileArguments
    @Option(help: "Write netbpf.h into this directory (for other compilers) and exit.") var emitHeader: String?
    @OptionGroup var outputOptions: OutputOptions

    func run() throws {
        if let dir = emitHeader {
            try NetBPFHeader.text.write(toFile: dir + "/netbpf.h", atomically: true, encoding: .utf8)
            return
        }
        guard let source else { throw ValidationError("give a .c file to compile (or --emit-header DIR)") }
        do {
            let compiled = try ProgramInput.compileFile(source, compile: compile)
            var out = output ?? source
            if output == nil {
                if out.hasSuffix(".c") { out.removeLast(2) }
                out += ".o"
            }
            try OutputFile.write(compiled.bytes, to: out)
            if outputOptions.json {
                struct Out: Encodable { let object: String; let bytes: Int; let cacheHit: Bool; let precompiledHeader: Bool; let autoAttached: [AutoAttachedFunction]; let diagnostics: [Diagnostic] }
                try printJSON(Out(object: out, bytes: compiled.bytes.count, cacheHit: compiled.isCacheHit, precompiledHeader: compiled.usedPrecompiledHeader,
                                  autoAttached: compiled.autoAttached, diagnostics: compiled.diagnostics))
            } else if outputOptions.verbose {
                print("\(out): \(compiled.bytes.count) bytes\(compiled.isCacheHit ? " (cached)" : "")\(compiled.usedPrecompiledHeader ? " (precompiled headers)" : "")")
                for f in compiled.autoAttached { print("  \(f.function) -> SEC(\"\(f.section)\")") }
            }
        } catch let error as CompileError {
            StandardStreams.err("netbpf: \(error.description)\n")
            throw ExitCode(1)
        } catch let error as BPFError {
            StandardStreams.err("netbpf: \(error.description)\n") // writing the object failed
            throw ExitCode(1)
        }
    }
}
