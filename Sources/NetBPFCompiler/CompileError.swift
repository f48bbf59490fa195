/// A failed compile: clang's errors (structured), or a problem before clang ran.
public struct CompileError: Error, Sendable, CustomStringConvertible {
    /// What failed: the source, the input, the toolchain or the resulting object.
    public enum Kind: String, Sendable {
        /// clang reported errors in the source.
        case source
        /// The source could not be read, or is not usable as C (too large, not a file).
        case input
        /// The compiler library is missing or broken, or clang crashed.
        case toolchain
        /// The object compiled but is not loadable as written (no programs, unknown section).
        case object
    }

    /// Which stage failed.
    public var kind: Kind
    /// What happened, in one line (the first error's location and text for `.source`).
    public var message: String
    /// What to try, where one is known.
    public var hint: String?
    /// Every diagnostic clang produced (errors, warnings, notes), in order.
    public var diagnostics: [Diagnostic]

    /// An error of `kind`; the compiler makes these, tests and wrappers may too.
    public init(kind: Kind, message: String, hint: String? = nil, diagnostics: [Diagnostic] = []) {
        self.kind = kind
        self.message = message
        self.hint = hint
        self.diagnostics = diagnostics
    }

    /// One line: the first error's location and text, and how many more there are.
    public var description: String {
        var s = "compile: " + message
        if let hint { s += "; hint: " + hint }
        return s
    }
}
