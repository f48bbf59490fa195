/// Errors of the HTTP filter controller that are not the loader's (BPFError), netlink's,
/// attach's or the compiler's, which pass through as they are. One line: the message, then
/// "; hint: ..." when one is known.
public struct HTTPFilterError: Error, CustomStringConvertible, Sendable, Equatable {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(_ rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }
        public static let invalidArgument = Code("invalid-argument")
        public static let notFound = Code("not-found")
        public static let ambiguous = Code("ambiguous")
        public static let state = Code("state")
    }

    public var code: Code
    public var message: String
    public var hint: String?

    public init(_ code: Code, _ message: String, hint: String? = nil) {
        self.code = code
        self.message = message
        self.hint = hint
    }

    public var description: String { message + (hint.map { "; hint: \($0)" } ?? "") }
}
