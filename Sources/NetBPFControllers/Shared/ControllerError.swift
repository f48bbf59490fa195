/// What a controller (HTTP filter, rate limiter, VLAN learning, tunnel monitor, distributed
/// bridge) reports when its input or the system is not what it needs: one line, with a hint
/// where one is known. Errors of the layers underneath (BPFError, NetlinkError, AttachError,
/// CompileError) pass through as they are.
public struct ControllerError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var hint: String?

    public init(_ message: String, hint: String? = nil) {
        self.message = message
        self.hint = hint
    }

    /// "MESSAGE; hint: HINT", as every netbpf error prints.
    public var description: String { message + (hint.map { "; hint: " + $0 } ?? "") }
}
