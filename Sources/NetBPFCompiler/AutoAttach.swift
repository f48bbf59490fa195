import Foundation

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
