internal import CMnl
import Glibc

/// Names an interface by name or by index, the way every operation here accepts it:
/// `"veth0"` or `7` as literals. Names are resolved to indexes with RTM_GETLINK in the
/// socket's namespace, so a missing interface is reported once, clearly:
/// `RTM_GETLINK 'veth9': interface 'veth9' not found in network namespace 'ns1' (ENODEV)`.
public enum Interface: Hashable, Sendable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral,
                       CustomStringConvertible {
    /// By name ("veth0"), resolved with RTM_GETLINK when an operation needs the index.
    case name(String)
    /// By ifindex, used as given.
    case index(Int32)

    /// `"veth0"` as `.name("veth0")`.
    public init(stringLiteral value: String) { self = .name(value) }
    /// `7` as `.index(7)`.
    public init(integerLiteral value: Int32) { self = .index(value) }

    /// The name, or "ifindex N".
    public var description: String {
        switch self {
        case .name(let n): return n
        case .index(let i): return "ifindex \(i)"
        }
    }

    /// Whether the kernel would take `name` as an interface name: 1 to 15 bytes (IFNAMSIZ 16
    /// with the NUL), not "." or "..", no '/', ':' or whitespace (dev_valid_name()).
    public static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count < Int(IFNAMSIZ) && name != "." && name != ".."
            && !name.contains(where: { $0 == "/" || $0 == ":" || $0.isWhitespace })
    }

    /// What a valid name looks like, for error hints.
    package static let nameRule = "1 to \(IFNAMSIZ - 1) bytes, no '/', ':' or spaces"
}

extension NetlinkSocket {
    /// The index of `interface` in this socket's namespace (RTM_GETLINK for a name; an index is
    /// returned as given, and the kernel reports ENODEV if it is wrong).
    /// - Throws: `NetlinkError` `.notFound` naming the interface and the namespace.
    public func interfaceIndex(_ interface: Interface) throws -> Int32 {
        switch interface {
        case .index(let i): return i
        case .name: return try self.interface(interface).index
        }
    }

    /// The error for an interface that does not exist here.
    package func interfaceNotFound(_ interface: Interface, operation: String, kernelMessage: String? = nil) -> NetlinkError {
        NetlinkError(.notFound, operation: operation, subject: interface.description, errno: ENODEV,
                     message: "interface '\(interface)' not found in \(namespaceDescription) (ENODEV)",
                     kernelMessage: kernelMessage)
    }

    /// Rejects names the kernel would (IFNAMSIZ 16 with the NUL, no '/', ':' or whitespace).
    package func validateInterfaceName(_ name: String, operation: String) throws {
        guard Interface.isValidName(name) else {
            throw NetlinkError(.invalidArgument, operation: operation, subject: name, errno: EINVAL,
                               message: "invalid interface name (\(Interface.nameRule))")
        }
    }
}
