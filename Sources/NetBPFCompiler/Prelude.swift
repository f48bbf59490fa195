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
    /// Whether the first compile that can use it builds it. The UAPI prelude waits for the
    /// second: it saves ~6 ms per compile, but building it next to the first compile slows that
    /// compile by about as much (both children compete for the two cores), and a cache that
    /// compiles one program never gets it back. vmlinux.h's saves ~150 ms per compile.
    var buildOnFirstUse = true

    /// The UAPI and libbpf headers networking programs start with: a source whose first
    /// includes are among these gets a PCH of exactly those lines, up to the first that is not.
    static let uapiHeaders: Set<String> = ["linux/bpf.h", "linux/pkt_cls.h", "linux/if_ether.h", "linux/ip.h", "linux/ipv6.h",
                                           "linux/icmpv6.h", "linux/tcp.h", "linux/udp.h", "linux/in.h", "linux/types.h",
                                           "stddef.h", "bpf/bpf_helpers.h", "bpf/bpf_endian.h"]

    /// The prelude for a source, or nil. `firstIncludeIsKernels`: whether the source's first
    /// include, if it names vmlinux.h, finds the kernel's (in `kernelDirectory`) and not a
    /// vmlinux.h of its own.
    static func forSource(_ source: [UInt8], kernelDirectory: String?, includeDirectory: String,
                          firstIncludeIsKernels: (Bool) -> Bool) -> Prelude? {
        let leading = leadingIncludes(source)
        guard let first = leading.first else { return nil }
        if first.name == "vmlinux.h" {
            guard let kernelDirectory, firstIncludeIsKernels(first.quoted) else { return nil }
            return Prelude(name: "vmlinux-prelude", directory: kernelDirectory, text: "#include \"vmlinux.h\"\n")
        }
        let uapi = leading.prefix { !$0.quoted && uapiHeaders.contains($0.name) }
        guard !uapi.isEmpty else { return nil }
        let text = uapi.map { "#include <\($0.name)>\n" }.joined()
        var h = Hasher256()
        h.add(text)
        return Prelude(name: "uapi-prelude-" + h.finish().prefix(12), directory: includeDirectory, text: text, buildOnFirstUse: false)
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
