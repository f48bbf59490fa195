/// What a controller (HTTP filter, rate limiter, VLAN learning, tunnel monitor, distributed
/// bridge) reports when its input or the system is not what it needs: one line, with a hint
/// where one is known. Errors of the layers underneath (BPFError, NetlinkError, AttachError,
/// CompileError) pass through as they are.
public struct ControllerError: Error, Sendable, CustomStringConvertible {
    /// What went wrong, naming the value or object.
    public var message: String
    /// What to do about it, where known.
    public var hint: String?

    /// An error with `message` and an optional hint.
    public init(_ message: String, hint: String? = nil) {
        self.message = message
        self.hint = hint
    }

    /// "MESSAGE; hint: HINT", as every netbpf error prints.
    public var description: String { message + (hint.map { "; hint: " + $0 } ?? "") }
}
