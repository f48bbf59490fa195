/// A failed attach, detach or listing, in one line, with a hint where one is known.
public struct AttachError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case notFound, wrongProgram, alreadyAttached, notOurs, unsupported, system, invalidArgument, busy
    }
    public var code: Code
    public var message: String
    public var hint: String?

    public init(_ code: Code, _ message: String, hint: String? = nil) {
        self.code = code
        self.message = message
        self.hint = hint
    }

    public var description: String { message + (hint.map { "; hint: " + $0 } ?? "") }
}
