/// A failed attach, detach or listing, in one line, with a hint where one is known.
public struct AttachError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is. A struct, not an enum, so a later release can add codes
    /// without breaking a caller's `switch` (as `BPFError.Code`).
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The code's name, e.g. "notFound".
        public let rawValue: String
        /// A code by name.
        public init(_ rawValue: String) { self.rawValue = rawValue }
        /// The code's name.
        public var description: String { rawValue }

        /// No such program in the object, namespace, or netbpf attachment to detach.
        public static let notFound = Code("notFound")
        /// The program's type is not one the hook runs.
        public static let wrongProgram = Code("wrongProgram")
        /// The hook holds this program already, or an XDP program, or a root qdisc netbpf did not make.
        public static let alreadyAttached = Code("alreadyAttached")
        /// The program named was attached by another tool; netbpf leaves it alone.
        public static let notOurs = Code("notOurs")
        /// The kernel lacks what was asked (tcx before 6.6).
        public static let unsupported = Code("unsupported")
        /// A file or directory of netbpf's state could not be written.
        public static let system = Code("system")
        /// Options that do not go together, or a choice left open (several programs, none named).
        public static let invalidArgument = Code("invalidArgument")
        /// Another netbpf process held the hook's lock for the whole wait.
        public static let busy = Code("busy")
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
