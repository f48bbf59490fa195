import CNetBPFClangABI

/// One compiler message, with its place in the source, printed the way clang prints it.
public struct Diagnostic: Sendable, Equatable, Codable, CustomStringConvertible {
    /// clang's levels, ordered note < warning < error < fatal.
    public enum Severity: String, Sendable, Codable, Comparable {
        /// A remark attached to another diagnostic; a warning; an error (no object); a fatal error
        /// (clang stopped).
        case note, warning, error, fatal
        static let order: [Severity] = [.note, .warning, .error, .fatal]
        /// Orders by seriousness (note first).
        public static func < (a: Severity, b: Severity) -> Bool { order.firstIndex(of: a)! < order.firstIndex(of: b)! }
    }

    /// How serious it is.
    public var severity: Severity
    /// The file it points into (nil for command-line and driver messages).
    public var file: String?
    /// 1-based line in `file` (0 when it points nowhere).
    public var line: Int
    /// 1-based column in `line` (0 when it points nowhere).
    public var column: Int
    /// clang's text, without location or severity.
    public var message: String
    /// The text of the line it points at, for the caret display.
    public var sourceLine: String?
    /// The warning flag that controls it ("-Wunused-variable").
    public var flag: String?

    /// A diagnostic from its parts (the compiler decodes netbpf-cc's; tests build them).
    public init(severity: Severity, file: String?, line: Int, column: Int, message: String,
                sourceLine: String? = nil, flag: String? = nil) {
        self.severity = severity
        self.file = file
        self.line = line
        self.column = column
        self.message = message
        self.sourceLine = sourceLine
        self.flag = flag
    }

    init(_ d: nb_diag) {
        severity = [Severity.note, .warning, .error, .fatal][Int(max(0, min(3, d.severity)))]
        file = d.file.map { String(cString: $0) }
        line = Int(d.line)
        column = Int(d.column)
        message = d.message.map { String(cString: $0) } ?? ""
        sourceLine = d.source_line.map { String(cString: $0) }
        flag = d.flag.map { String(cString: $0) }
    }

    /// `prog.c:5:3: error: message [-Wflag]`, the source line, and a caret under the column.
    public var description: String {
        var head = ""
        if let file { head = line > 0 ? "\(file):\(line):\(column): " : "\(file): " }
        head += "\(severity.rawValue): \(message)"
        if let flag { head += " [\(flag)]" }
        guard let sourceLine, column > 0 else { return head }
        // Keep tabs so the caret lines up under the same characters.
        let prefix = sourceLine.utf8.prefix(column - 1).map { $0 == 9 ? "\t" : " " }.joined()
        return head + "\n" + sourceLine + "\n" + prefix + "^"
    }

    /// The first line only: `prog.c:5:3: error: message`.
    public var summary: String { String(description.split(separator: "\n").first ?? "") }
}
