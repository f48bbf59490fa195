import NetBPFNetlink

/// Runs `body` in the named network namespace (on a dedicated thread), or right here when nil.
/// Interface indexes, tcx and XDP links, packet sockets and netlink sockets all resolve in the
/// namespace of the thread that makes them.
func inNamespace<T>(_ name: String?, _ body: @Sendable () throws -> sending T) throws -> sending T {
    guard let name else { return try body() }
    guard NetworkNamespace.exists(name) else {
        throw AttachError(.notFound, "network namespace '\(name)' does not exist", hint: "ip netns list")
    }
    return try withNamespace(name, body)
}

/// A netlink socket for `namespace` (named, so errors say which namespace), or the caller's.
func socket(in namespace: String?) throws -> NetlinkSocket {
    try namespace.map { try NetlinkSocket(namespace: $0) } ?? NetlinkSocket()
}
