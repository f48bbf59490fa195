/// The one error type of NetBPFFleet: what failed, against which subject, and a hint.
public struct FleetError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var hint: String?
    public init(_ message: String, hint: String? = nil) { self.message = message; self.hint = hint }
    public var description: String { hint.map { "\(message) (hint: \($0))" } ?? message }
}
