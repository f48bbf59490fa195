import Foundation
import NetBPFNetlink

/// One problem found in a topology file, located by file, line, column and the path of the key:
/// `topologies/bad.yaml:12:9: hosts.h1.interfaces.eth0.addresses[0]: '10.0.0.300/24' is not an
/// address with a prefix length; hint: write it like 10.0.0.1/24`.
public struct TopologyIssue: Sendable, Equatable, CustomStringConvertible {
    /// The topology file as the user named it.
    public var file: String
    /// 1-based line and column of the offending node (nil when the problem has no single place).
    public var line: Int?
    /// 1-based column of that node.
    public var column: Int?
    /// Dotted path of the key: `hosts.h1.interfaces.eth0.mtu`, `links[2]`.
    public var path: String
    /// What is wrong.
    public var message: String
    /// How to fix it, when known ("did you mean 'mtu'?").
    public var hint: String?

    /// An issue; each parameter sets the property of the same name.
    public init(file: String, line: Int?, column: Int?, path: String, message: String, hint: String? = nil) {
        self.file = file
        self.line = line
        self.column = column
        self.path = path
        self.message = message
        self.hint = hint
    }

    /// `file:line:col: path: message; hint: hint`.
    public var description: String {
        var s = file
        if let line { s += ":\(line)" + (column.map { ":\($0)" } ?? "") }
        s += ": "
        if !path.isEmpty { s += path + ": " }
        s += message
        if let hint { s += "; hint: " + hint }
        return s
    }
}

/// The one error type of NetBPFSim. Its description is one line (or, for an invalid topology,
/// one line per problem found, each naming the file, line, key path and a hint).
public struct SimError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is; new cases may be added.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The code's name as it appears in JSON output ("invalid-topology").
        public let rawValue: String
        /// A code by name; use the static members unless matching a code from JSON.
        public init(_ rawValue: String) { self.rawValue = rawValue }
        /// The code's name (`rawValue`).
        public var description: String { rawValue }
        /// The topology file is malformed; `issues` lists every problem. Nothing was created.
        public static let invalidTopology = Code("invalid-topology")
        /// No such simulation, host or file.
        public static let notFound = Code("not-found")
        /// A name the simulation needs is taken by something it did not create.
        public static let conflict = Code("conflict")
        /// Another netbpf process works on this simulation.
        public static let busy = Code("busy")
        /// SIGINT/SIGTERM arrived during `up`; what was made has been removed.
        public static let interrupted = Code("interrupted")
        /// Building failed in the kernel; what was made has been removed.
        public static let buildFailed = Code("build-failed")
        /// Teardown could not remove something (listed in the message).
        public static let teardownIncomplete = Code("teardown-incomplete")
        /// The state journal is unreadable.
        public static let badState = Code("bad-state")
        /// A system call failed.
        public static let system = Code("system")
        /// Needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN, CAP_BPF).
        public static let permission = Code("permission")
    }

    /// What kind of failure this is; switch on it rather than on `message`.
    public var code: Code
    /// What was being done: "sim up", "create namespace", "read journal".
    public var operation: String
    /// What it was done to: a simulation, host, namespace or file.
    public var subject: String?
    /// The message in words (without operation and subject).
    public var message: String
    /// A suggestion for what to change, when one is known.
    public var hint: String?
    /// For `.invalidTopology`: every problem found, in file order.
    public var issues: [TopologyIssue]

    /// Makes an error; each parameter sets the property of the same name.
    public init(_ code: Code, operation: String, subject: String? = nil, message: String, hint: String? = nil,
                issues: [TopologyIssue] = []) {
        self.code = code
        self.operation = operation
        self.subject = subject
        self.message = message
        self.hint = hint
        self.issues = issues
    }

    static func invalid(_ issues: [TopologyIssue], file: String) -> SimError {
        SimError(.invalidTopology, operation: "read topology", subject: file,
                 message: "\(issues.count) problem\(issues.count == 1 ? "" : "s") in \(file); nothing was created",
                 issues: issues)
    }

    static func system(_ operation: String, subject: String?, errno e: Int32, hint: String? = nil) -> SimError {
        let text = NetlinkErrno.describe(e)
        let code: Code = (e == EPERM || e == EACCES) ? .permission : .system
        var h = hint
        if code == .permission && h == nil && geteuid() != 0 { h = "run as root" }
        return SimError(code, operation: operation, subject: subject, message: text, hint: h)
    }

    /// One line per issue when the topology is invalid, else a single line.
    public var description: String {
        if !issues.isEmpty { return issues.map(\.description).joined(separator: "\n") }
        var line = operation
        if let subject { line += " '\(subject)'" }
        line += ": " + message
        if let hint { line += "; hint: " + hint }
        return line
    }
}
