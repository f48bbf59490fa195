/// A failed attach, detach or listing, in one line, with a hint where one is known.
public struct AttachError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is.
    public enum Code: String, Sendable {
        /// No such program in the object, namespace, or netbpf attachment to detach.
        case notFound
        /// The program's type is not one the hook runs.
        case wrongProgram
        /// The hook holds this program already, or an XDP program, or a root qdisc netbpf did not make.
        case alreadyAttached
        /// The program named was attached by another tool; netbpf leaves it alone.
        case notOurs
        /// The kernel lacks what was asked (tcx before 6.6).
        case unsupported
        /// A file or directory of netbpf's state could not be written.
        case system
        /// Options that do not go together, or a choice left open (several programs, none named).
        case invalidArgument
        /// Another netbpf process held the hook's lock for the whole wait.
        case busy
    }
    /// What kind of failure this is.
    public var code: Code
    /// What happened, in one line.
    public var message: String
    /// A suggestion for what to do, when one is known.
    public var hint: String?

    /// An error with its one-line message.
    public init(_ code: Code, _ message: String, hint: String? = nil) {
        self.code = code
        self.message = message
        self.hint = hint
    }

    /// `message; hint: hint`.
    public var description: String { message + (hint.map { "; hint: " + $0 } ?? "") }
}
