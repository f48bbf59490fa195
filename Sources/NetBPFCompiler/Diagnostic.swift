import CNetBPFClangABI

/// One compiler message, with its place in the source, printed the way clang prints it.
public struct Diagnostic: Sendable, Equatable, Codable, CustomStringConvertible {
    public enum Severity: String, Sendable, Codable, Comparable {
        case note, warning, error, fatal
        static let order: [Severity] = [.note, .warning, .error, .fatal]
        public static func < (a: Severity, b: Severity) -> Bool { order.firstIndex(of: a)! < order.firstIndex(of: b)! }
    }

    public var severity: Severity
    public var file: String?
    public var line: Int
    public var column: Int
    public var message: String
    /// The text of the line it points at, for the caret display.
    public var sourceLine: String?
    /// The warning flag that controls it ("-Wunused-variable").
    public var flag: String?

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
