/// An interface (and its namespace) that gets an XDP_PASS program in driver mode for as long as
/// an example runs: on veth, the peer of the interface that sends with XDP_TX or receives
/// redirected frames. A veth queues such frames on its peer's NAPI ring, which exists only
/// while the peer has a native-mode XDP program (or GRO on); without it the frames are dropped
/// silently. Measured on Linux 6.18: a generic-mode program on the peer is not enough.
public struct XDPPassPeer: Sendable {
    /// The peer interface.
    public var interface: String
    /// Its network namespace (nil: the caller's).
    public var namespace: String?
    /// The peer `interface` in `namespace`.
    public init(interface: String, namespace: String?) {
        self.interface = interface
        self.namespace = namespace
    }
}
