/// The one error type of NetBPFFleet: what failed, against which subject, and a hint.
public struct FleetError: Error, CustomStringConvertible, Sendable {
    /// What failed.
    public var message: String
    /// What to do about it, when known.
    public var hint: String?
    /// An error saying `message`, with an optional `hint`.
    public init(_ message: String, hint: String? = nil) { self.message = message; self.hint = hint }
    /// The message, followed by " (hint: ...)" when there is a hint.
    public var description: String { hint.map { "\(message) (hint: \($0))" } ?? message }
}
