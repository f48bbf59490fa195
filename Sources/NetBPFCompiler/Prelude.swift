import Foundation

/// What a precompiled header may hold for a source: the `#include` lines the source starts
/// with, and nothing else. clang includes a PCH before the first line of the source; when the
/// PCH is those very lines, that is what the source does first anyway, and its own `#include`s
/// of them then do nothing (their include guards are defined). So a compile with the PCH and
/// one without give the same object, or the same errors. (A PCH of more, such as vmlinux.h with
/// libbpf's tracing headers, made BPF_CORE_READ work in a program that never included
/// bpf_core_read.h, once the PCH existed: the same source failed on a fresh cache and compiled
/// on a warm one.)
struct Prelude {
    /// File name stem, unique per text within `directory`.
    let name: String
    let directory: String
    let text: String

    /// The prelude for a source, or nil: `#include "vmlinux.h"` when that is the source's first
    /// line of code and it finds the kernel's (in `kernelDirectory`). Parsing the kernel's
    /// 135,000 lines of types is most of a tracing program's compile; a PCH of them saves
    /// ~0.5 s of clang's front end. (A PCH of the UAPI and libbpf headers networking programs
    /// start with saved 6-7 ms per compile and was dropped: docs/benchmarks.md.)
    /// `firstIncludeIsKernels`: whether the source's first include, quoted or not, finds the
    /// kernel's vmlinux.h and not one of the program's own.
    static func forSource(_ source: [UInt8], kernelDirectory: String?, firstIncludeIsKernels: (Bool) -> Bool) -> Prelude? {
        guard let first = leadingIncludes(source).first, first.name == "vmlinux.h",
              let kernelDirectory, firstIncludeIsKernels(first.quoted) else { return nil }
        return Prelude(name: "vmlinux-prelude", directory: kernelDirectory, text: "#include \"vmlinux.h\"\n")
    }

    /// The `#include "..."` and `#include <...>` lines a source starts with, up to the first
    /// thing that is not one (another directive, code); blank lines and comments may come
    /// before and between them.
    static func leadingIncludes(_ source: [UInt8]) -> [(name: String, quoted: Bool)] {
        var out: [(name: String, quoted: Bool)] = []
        let b = source, n = source.count
        var i = 0
        func skipBlanksAndComments() {
            while i < n {
                if b[i] == 0x20 || b[i] == 0x09 || b[i] == 0x0a || b[i] == 0x0d || b[i] == 0x0c || b[i] == 0x0b {
                    i += 1
                } else if b[i] == 0x2f, i + 1 < n, b[i + 1] == 0x2f { // line comment
                    while i < n && b[i] != 0x0a { i += 1 }
                } else if b[i] == 0x2f, i + 1 < n, b[i + 1] == 0x2a { // block comment
                    i += 2
                    while i + 1 < n && !(b[i] == 0x2a && b[i + 1] == 0x2f) { i += 1 }
                    i = min(n, i + 2)
                } else {
                    return
                }
            }
        }
        func skipSpaces() { while i < n && (b[i] == 0x20 || b[i] == 0x09) { i += 1 } }
        while true {
            skipBlanksAndComments()
            guard i < n, b[i] == 0x23 else { return out } // '#'
            i += 1
            skipSpaces()
            let word = Array("include".utf8)
            guard i + word.count < n, Array(b[i..<i + word.count]) == word else { return out }
            i += word.count
            skipSpaces()
            guard i < n, b[i] == 0x22 || b[i] == 0x3c else { return out }
            let close: UInt8 = b[i] == 0x22 ? 0x22 : 0x3e
            let start = i + 1
            i = start
            while i < n && b[i] != close && b[i] != 0x0a { i += 1 }
            guard i < n, b[i] == close, i > start else { return out }
            out.append((String(decoding: b[start..<i], as: UTF8.self), close == 0x22))
            i += 1
            // The rest of the line: blanks and comments only (a block comment may go on).
            skipSpaces()
            if i + 1 < n, b[i] == 0x2f, b[i + 1] == 0x2f || b[i + 1] == 0x2a { continue }
            guard i >= n || b[i] == 0x0a || b[i] == 0x0d else { return out }
        }
    }
}
