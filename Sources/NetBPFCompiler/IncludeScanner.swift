import Foundation
import Glibc

/// Finds the files a source includes, transitively, without running the preprocessor, so the
/// compile cache can tell when any of them changed. It over-approximates (includes inside #if
/// blocks count too), which can only cause an unneeded recompile, never a stale object.
struct IncludeScanner {
    /// Directories searched for `#include <...>` (and for "..." after the including file's dir).
    let searchPath: [String]
    /// Headers that the cache identifies by other means (vmlinux.h: by the kernel's BTF) when
    /// the search path has no file of that name (a program's own vmlinux.h is a file like any).
    let skip: Set<String>

    struct Result {
        /// Every file included, transitively, resolved to paths, in discovery order.
        var files: [String] = []
        /// Each file's identity (FileIdentity) as read, from the descriptor its bytes came from.
        var identities: [String] = []
        /// Each file's last modification or status change, in seconds (the later of the two).
        var changedAt: [Int] = []
        /// The skipped names that were included somewhere (e.g. "vmlinux.h").
        var skippedIncluded: Set<String> = []
        /// Paths looked at and not found while resolving (earlier search directories): a file
        /// created at one of them would change what an include resolves to (IncludeManifest).
        var absent: [String] = []
        /// False if a file that was found could not be read, so its own includes are unknown:
        /// such a result is not kept as a manifest.
        var complete = true
    }

    func dependencies(ofSource text: [UInt8], at path: String) -> Result {
        var seen = Set<String>(), seenAbsent = Set<String>()
        var result = Result()
        var queue: [([UInt8], String)] = [(text, Self.directory(of: path))]
        while let (body, dir) = queue.popLast() {
            for (name, quoted) in Self.includes(in: body) {
                var missed: [String] = []
                let resolved = resolve(name, quoted: quoted, from: dir, absent: &missed)
                for path in missed where seenAbsent.insert(path).inserted { result.absent.append(path) }
                let base = Self.lastComponent(name)
                if resolved == nil && skip.contains(base) { result.skippedIncluded.insert(base); continue }
                guard let resolved, seen.insert(resolved).inserted else { continue }
                result.files.append(resolved)
                if let (next, st) = Self.read(resolved) {
                    result.identities.append(FileIdentity.of(st))
                    result.changedAt.append(max(st.st_mtim.tv_sec, st.st_ctim.tv_sec))
                    queue.append((next, Self.directory(of: resolved)))
                } else {
                    result.identities.append(FileIdentity.of(resolved))
                    result.changedAt.append(Int.max)
                    result.complete = false
                }
            }
        }
        return result
    }

    /// Where `#include "name"` (quoted) or `<name>` in a file in `dir` resolves to; each path
    /// tried and not found is appended to `absent`.
    func resolve(_ name: String, quoted: Bool, from dir: String, absent: inout [String]) -> String? {
        let candidates = name.hasPrefix("/") ? [name] : (quoted ? [dir + "/" + name] : []) + searchPath.map { $0 + "/" + name }
        for candidate in candidates {
            if access(candidate, F_OK) == 0 { return candidate }
            absent.append(candidate)
        }
        return nil
    }

    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return String(path[..<slash])
    }

    static func lastComponent(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }

    /// A file's bytes and its stat, from one descriptor.
    static func read(_ path: String) -> ([UInt8], stat)? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_size < 64 << 20 else { return nil }
        var bytes = [UInt8](repeating: 0, count: Int(st.st_size))
        let n = bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        return n == bytes.count ? (bytes, st) : nil
    }

    /// `#include "x.h"` and `#include <x.h>` directives: (name, quoted). Works on bytes: headers
    /// such as bpf_helper_defs.h are large, and this runs on every compile, cached or not.
    static func includes(in text: [UInt8]) -> [(String, Bool)] {
        var out: [(String, Bool)] = []
        let n = text.count
        var i = 0
        let include: [UInt8] = Array("include".utf8)
        text.withUnsafeBufferPointer { b in
            while i < n {
                // At a line start: skip blanks, look for '#'.
                var j = i
                while j < n && (b[j] == 0x20 || b[j] == 0x09) { j += 1 }
                if j < n && b[j] == 0x23 {
                    j += 1
                    while j < n && (b[j] == 0x20 || b[j] == 0x09) { j += 1 }
                    if j + include.count <= n && include.indices.allSatisfy({ b[j + $0] == include[$0] }) {
                        j += include.count
                        while j < n && (b[j] == 0x20 || b[j] == 0x09) { j += 1 }
                        if j < n && (b[j] == 0x22 || b[j] == 0x3c) {
                            let close: UInt8 = b[j] == 0x22 ? 0x22 : 0x3e
                            let start = j + 1
                            var k = start
                            while k < n && b[k] != close && b[k] != 0x0a { k += 1 }
                            if k < n && b[k] == close {
                                out.append((String(decoding: UnsafeBufferPointer(rebasing: b[start..<k]), as: UTF8.self), close == 0x22))
                            }
                        }
                    }
                }
                // Next line.
                while j < n && b[j] != 0x0a { j += 1 }
                i = j + 1
            }
        }
        return out
    }

    static func includes(in text: String) -> [(String, Bool)] { includes(in: Array(text.utf8)) }
}

/// BCC's naming convention for auto-attached functions, turned into libbpf sections: a function
/// `int kprobe__tcp_v4_connect(...)` with no SEC() gets `SEC("kprobe/tcp_v4_connect")`, and
/// likewise kretprobe__X, tracepoint__CAT__EVENT and raw_tracepoint__X. The attribute is added
/// on the same line, so diagnostics keep their line numbers.
enum AutoAttach {
    static let pattern = #"(?m)^([ \t]*)((?:static[ \t]+)?(?:__always_inline[ \t]+)?int[ \t]+)(kprobe|kretprobe|tracepoint|raw_tracepoint)__([A-Za-z0-9_]+)[ \t]*\("#

    static func section(prefix: String, name: String) -> String? {
        switch prefix {
        case "kprobe", "kretprobe", "raw_tracepoint": return "\(prefix)/\(name)"
        case "tracepoint":
            let parts = name.components(separatedBy: "__")
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else { return nil }
            return "tracepoint/\(parts[0])/\(parts[1])"
        default: return nil
        }
    }

    /// The source with sections added, and the functions that got one.
    static func rewrite(_ source: String) -> (String, [(function: String, section: String)]) {
        // Most programs use SEC() and none of the prefixes: skip compiling the regex (ICU start-up
        // costs ~1 ms, a tenth of a cached `netbpf attach`).
        guard ["kprobe__", "kretprobe__", "tracepoint__"].contains(where: { source.contains($0) }) else {
            return (source, [])
        }
        guard let regex = try? NSRegularExpression(pattern: pattern) else { return (source, []) }
        let ns = source as NSString
        var result = source
        var added: [(String, String)] = []
        // Walk backwards so earlier ranges stay valid.
        for match in regex.matches(in: source, range: NSRange(location: 0, length: ns.length)).reversed() {
            let prefix = ns.substring(with: match.range(at: 3)), name = ns.substring(with: match.range(at: 4))
            guard let sec = section(prefix: prefix, name: name) else { continue }
            // Leave functions that already carry a SEC() on this line or the line above.
            let lineStart = ns.lineRange(for: NSRange(location: match.range.location, length: 0))
            let before = lineStart.location > 0 ? ns.lineRange(for: NSRange(location: lineStart.location - 1, length: 0)) : lineStart
            let context = ns.substring(with: NSRange(location: before.location, length: match.range.location + match.range.length - before.location))
            if context.contains("SEC(") || context.contains("section(") { continue }
            let insertAt = match.range(at: 2).location
            let r = Range(NSRange(location: insertAt, length: 0), in: result)!
            result.insert(contentsOf: "__attribute__((section(\"\(sec)\"), used)) ", at: r.lowerBound)
            added.append(("\(prefix)__\(name)", sec))
        }
        return (result, added.reversed())
    }
}
