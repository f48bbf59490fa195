import Foundation

/// Finds the files a source includes, transitively, without running the preprocessor, so the
/// compile cache can tell when any of them changed. It over-approximates (includes inside #if
/// blocks count too), which can only cause an unneeded recompile, never a stale object.
struct IncludeScanner {
    /// Directories searched for `#include <...>` (and for "..." after the including file's dir).
    let searchPath: [String]
    /// Headers that the cache identifies by other means (vmlinux.h: by the kernel's BTF).
    let skip: Set<String>

    struct Dependency: Hashable { let path: String }

    func dependencies(ofSource text: String, at path: String) -> [String] {
        var seen = Set<String>()
        var order: [String] = []
        var queue: [(text: String, dir: String)] = [(text, (path as NSString).deletingLastPathComponent)]
        while let (text, dir) = queue.popLast() {
            for (name, quoted) in Self.includes(in: text) where !skip.contains((name as NSString).lastPathComponent) {
                guard let resolved = resolve(name, quoted: quoted, from: dir), seen.insert(resolved).inserted else { continue }
                order.append(resolved)
                if let body = try? String(contentsOfFile: resolved, encoding: .isoLatin1) {
                    queue.append((body, (resolved as NSString).deletingLastPathComponent))
                }
            }
        }
        return order
    }

    func resolve(_ name: String, quoted: Bool, from dir: String) -> String? {
        let dirs = (quoted ? [dir] : []) + searchPath
        for d in dirs {
            let candidate = d + "/" + name
            if FileManager.default.fileExists(atPath: candidate) { return (candidate as NSString).standardizingPath }
        }
        return nil
    }

    /// `#include "x.h"` and `#include <x.h>` lines: (name, quoted).
    static func includes(in text: String) -> [(String, Bool)] {
        var out: [(String, Bool)] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            var s = line.drop(while: { $0 == " " || $0 == "\t" })
            guard s.first == "#" else { continue }
            s = s.dropFirst().drop(while: { $0 == " " || $0 == "\t" })
            guard s.hasPrefix("include") else { continue }
            s = s.dropFirst("include".count).drop(while: { $0 == " " || $0 == "\t" })
            guard let open = s.first, open == "\"" || open == "<" else { continue }
            let close: Character = open == "\"" ? "\"" : ">"
            let rest = s.dropFirst()
            guard let end = rest.firstIndex(of: close) else { continue }
            out.append((String(rest[..<end]), open == "\""))
        }
        return out
    }
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
