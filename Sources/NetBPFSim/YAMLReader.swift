import Foundation
import Yams

/// Where something came from in a topology file: line, column and key path.
public struct SourceLocation: Sendable, Equatable, CustomStringConvertible {
    /// 1-based line; nil when unknown.
    public var line: Int?
    /// 1-based column; nil when unknown.
    public var column: Int?
    /// Dotted key path, e.g. `hosts.h1.interfaces.eth0`.
    public var path: String

    /// A location; each parameter sets the property of the same name.
    public init(line: Int? = nil, column: Int? = nil, path: String) {
        self.line = line
        self.column = column
        self.path = path
    }

    init(_ node: Node?, _ path: String) {
        self.init(line: node?.mark?.line, column: node?.mark?.column, path: path)
    }

    /// "LINE:COL: path", or the path alone.
    public var description: String {
        (line.map { "\($0)" + (column.map { ":\($0)" } ?? "") + ": " } ?? "") + path
    }
}

/// Collects every problem found while reading and checking a topology, so the user sees all of
/// them at once rather than one per run.
final class IssueLog {
    let file: String
    private(set) var issues: [TopologyIssue] = []

    init(file: String) { self.file = file }

    func add(_ at: SourceLocation, _ message: String, hint: String? = nil) {
        issues.append(TopologyIssue(file: file, line: at.line, column: at.column, path: at.path,
                                    message: message, hint: hint))
    }

    func add(_ node: Node?, _ path: String, _ message: String, hint: String? = nil) {
        add(SourceLocation(node, path), message, hint: hint)
    }

    var isEmpty: Bool { issues.isEmpty }

    /// In file order (problems without a line last), each reported once.
    var sortedIssues: [TopologyIssue] {
        var seen: Set<String> = []
        return issues.enumerated().sorted { a, b in
            let la = a.element.line ?? Int.max, lb = b.element.line ?? Int.max
            if la != lb { return la < lb }
            if (a.element.column ?? 0) != (b.element.column ?? 0) { return (a.element.column ?? 0) < (b.element.column ?? 0) }
            return a.offset < b.offset
        }.map(\.element).filter { seen.insert($0.description).inserted }
    }
}

/// Typed, strict access to Yams' node tree: every read records a located issue on a type
/// mismatch, and mappings reject keys they do not know (suggesting the closest known key) and
/// keys given twice. YAML merge keys (`<<: *anchor`) are honoured, explicit keys winning.
struct YAMLReader {
    let log: IssueLog

    static func path(_ base: String, _ key: String) -> String { base.isEmpty ? key : base + "." + key }
    static func path(_ base: String, index: Int) -> String { base + "[\(index)]" }

    /// Parses `text` into one document node (nil for an empty document).
    static func compose(_ text: String, log: IssueLog) -> Node? {
        do {
            return try Yams.compose(yaml: text)
        } catch let e as YamlError {
            switch e {
            case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _):
                let what = [context?.text, problem].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: ": ")
                log.add(SourceLocation(line: mark.line, column: mark.column, path: ""), "YAML syntax error: \(what)",
                        hint: "check indentation and quoting near this line")
            case .composer(let context, let problem, let mark, _):
                let what = [context?.text, problem].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: ": ")
                log.add(SourceLocation(line: mark.line, column: mark.column, path: ""), "YAML error: \(what)")
            default:
                log.add(SourceLocation(path: ""), "YAML error: \(e)")
            }
            return nil
        } catch {
            log.add(SourceLocation(path: ""), "YAML error: \(error)")
            return nil
        }
    }

    // MARK: Mappings

    /// A mapping's entries in file order, with merge keys resolved.
    struct Mapping {
        let node: Node
        let path: String
        let entries: [(key: String, keyNode: Node, value: Node)]

        func value(_ key: String) -> Node? { entries.first { $0.key == key }?.value }
        func has(_ key: String) -> Bool { value(key) != nil }
        func childPath(_ key: String) -> String { YAMLReader.path(path, key) }
        var location: SourceLocation { SourceLocation(node, path) }
    }

    /// Reads `node` as a mapping. `allowed` (when given) lists the keys it may have; others are
    /// reported with a did-you-mean hint. A null node is an empty mapping.
    func mapping(_ node: Node, _ path: String, allowed: [String]? = nil, what: String? = nil) -> Mapping? {
        if isNull(node) { return Mapping(node: node, path: path, entries: []) }
        guard case .mapping(let m) = node else {
            log.add(node, path, "expected a mapping (key: value lines)\(what.map { " for \($0)" } ?? ""), found \(kind(node))")
            return nil
        }
        var explicit: [(key: String, keyNode: Node, value: Node)] = []
        var merged: [(key: String, keyNode: Node, value: Node)] = []
        var seen: [String: Node] = [:]
        for (k, v) in m {
            guard case .scalar(let ks) = k else {
                log.add(k, path, "mapping keys must be plain names, found \(kind(k))")
                continue
            }
            if ks.string == "<<" && ks.style == .plain {
                let sources: [Node]
                if case .sequence(let s) = v { sources = Array(s) } else { sources = [v] }
                for source in sources {
                    if let sub = mapping(source, path, allowed: nil) {
                        for e in sub.entries where !merged.contains(where: { $0.key == e.key }) { merged.append(e) }
                    }
                }
                continue
            }
            let key = ks.string
            if let first = seen[key] {
                log.add(k, YAMLReader.path(path, key), "key given twice (first at line \(first.mark?.line ?? 0))",
                        hint: "remove one of them")
                continue
            }
            seen[key] = k
            explicit.append((key, k, v))
        }
        let entries = merged.filter { m in !explicit.contains { $0.key == m.key } } + explicit
        if let allowed {
            for e in entries where !allowed.contains(e.key) {
                let suggestion = YAMLReader.closest(e.key, in: allowed)
                log.add(e.keyNode, YAMLReader.path(path, e.key), "unknown key '\(e.key)'",
                        hint: suggestion.map { "did you mean '\($0)'? known keys: \(allowed.joined(separator: ", "))" }
                            ?? "known keys: \(allowed.joined(separator: ", "))")
            }
        }
        return Mapping(node: node, path: path, entries: entries.filter { allowed?.contains($0.key) ?? true })
    }

    /// The closest known key within edit distance 2, for "did you mean".
    static func closest(_ key: String, in known: [String]) -> String? {
        let scored = known.map { ($0, editDistance(key.lowercased(), $0.lowercased())) }.filter { $0.1 <= 2 }
        return scored.min { $0.1 < $1.1 }?.0
    }

    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var prev = Array(0...b.count)
        for i in 1...a.count {
            var cur = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            prev = cur
        }
        return prev[b.count]
    }

    // MARK: Sequences

    /// Reads `node` as a sequence; a null node is empty. With `single`, one scalar counts as a
    /// one-element list (`addresses: 10.0.0.1/24`).
    func sequence(_ node: Node, _ path: String, single: Bool = false, what: String? = nil) -> [(node: Node, path: String)]? {
        if isNull(node) { return [] }
        switch node {
        case .sequence(let s):
            return s.enumerated().map { ($1, YAMLReader.path(path, index: $0)) }
        case .scalar where single:
            return [(node, path)]
        default:
            log.add(node, path, "expected a list\(what.map { " of \($0)" } ?? ""), found \(kind(node))",
                    hint: "write it as [a, b] or as lines starting with '- '")
            return nil
        }
    }

    // MARK: Scalars

    func isNull(_ node: Node) -> Bool {
        guard case .scalar(let s) = node, s.style == .plain else { return false }
        return ["", "~", "null", "Null", "NULL"].contains(s.string)
    }

    func kind(_ node: Node) -> String {
        switch node {
        case .scalar(let s): return isNull(node) ? "nothing" : "'\(s.string)'"
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        }
    }

    func string(_ node: Node, _ path: String, what: String = "a string") -> String? {
        guard case .scalar(let s) = node, !isNull(node) else {
            log.add(node, path, "expected \(what), found \(kind(node))")
            return nil
        }
        return s.string
    }

    func int(_ node: Node, _ path: String, range: ClosedRange<Int>, what: String = "a number") -> Int? {
        guard let text = string(node, path, what: what) else { return nil }
        let cleaned = text.replacingOccurrences(of: "_", with: "")
        let value: Int?
        if cleaned.hasPrefix("0x") || cleaned.hasPrefix("0X") { value = Int(cleaned.dropFirst(2), radix: 16) } else { value = Int(cleaned) }
        guard let value else {
            log.add(node, path, "'\(text)' is not \(what)")
            return nil
        }
        guard range.contains(value) else {
            log.add(node, path, "\(value) is out of range for \(what) (\(range.lowerBound)...\(range.upperBound))")
            return nil
        }
        return value
    }

    func bool(_ node: Node, _ path: String) -> Bool? {
        guard let text = string(node, path, what: "true or false") else { return nil }
        switch text.lowercased() {
        case "true", "yes", "on", "1": return true
        case "false", "no", "off", "0": return false
        default:
            log.add(node, path, "'\(text)' is not true or false")
            return nil
        }
    }
}
