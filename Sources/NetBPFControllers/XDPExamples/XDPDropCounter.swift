import NetBPF
import NetBPFAttach
import NetBPFNetlink

/// BCC's xdp_drop_count: programs/xdp_drop_count.bpf.c on an interface's XDP hook (generic or
/// driver mode) drops every frame and counts it per IP protocol. `stop()` detaches (idempotent).
/// Kernel 4.8 (XDP; generic mode 4.12); veth supports both modes.
public final class XDPDropCounter: Sendable {
    /// The interface the program is attached to.
    public let interface: String
    /// Its network namespace (nil: the caller's).
    public let namespace: String?
    /// Generic (skb) or driver (native) XDP.
    public let mode: XDPMode
    private let run: XDPExampleRun
    private let counts: XDPProtocolCounts

    /// Compiles, loads and attaches the program.
    /// - Throws: an attach error when the device does not support the mode (the kernel's reason).
    public init(interface: String, namespace: String?, mode: XDPMode, store: AttachmentStore = AttachmentStore()) throws {
        self.interface = interface
        self.namespace = namespace
        self.mode = mode
        run = XDPExampleRun(store: store)
        let object = try run.load("xdp_drop_count.bpf.c")
        counts = try XDPProtocolCounts(object.map(named: "dropcnt"))
        try run.attach("xdp_drop_count", of: object, to: interface, namespace: namespace, mode: mode)
    }

    /// Frames dropped so far per protocol number (only protocols with frames).
    /// - Throws: `BPFError` from the per-CPU map lookups (BPF_MAP_LOOKUP_ELEM).
    public func totals() throws -> [UInt8: UInt64] { try counts.totals() }

    /// Detaches; returns the attachments that could not be undone.
    @discardableResult
    public func stop() -> [DetachFailure] { run.stop() }
}
