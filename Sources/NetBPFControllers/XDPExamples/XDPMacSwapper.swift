import NetBPF
import NetBPFAttach
import NetBPFNetlink

/// BCC's xdp_macswap_count: programs/xdp_macswap.bpf.c sends every unicast UDP frame arriving
/// on an interface back out of it (XDP_TX) with the MAC addresses swapped, whoever sent it;
/// passes everything else (broadcast and multicast UDP too); counts all frames per IP protocol
/// and the bounced ones on their own. `stop()` detaches (idempotent).
///
/// In driver mode on a veth, bounced frames arrive at the peer only while the peer has a
/// native XDP program: give `peer` and an XDP_PASS program is attached there for the duration
/// (see XDPPassPeer). Kernel 4.8 (XDP_TX); veth native XDP 4.19.
public final class XDPMacSwapper: Sendable {
    /// The interface the program is attached to.
    public let interface: String
    /// Its network namespace (nil: the caller's).
    public let namespace: String?
    /// Generic (skb) or driver (native) XDP.
    public let mode: XDPMode
    private let run: XDPExampleRun
    private let counts: XDPProtocolCounts
    private let bounced: PerCPUArrayMap<UInt64>

    /// Compiles and loads the program, attaches XDP_PASS to `peer` if given, then the swapper
    /// (in that order, so no frame is bounced before the peer can receive it).
    /// - Throws: an attach error when a device does not support the mode (nothing stays attached).
    public init(interface: String, namespace: String?, mode: XDPMode, peer: XDPPassPeer? = nil,
                store: AttachmentStore = AttachmentStore()) throws {
        self.interface = interface
        self.namespace = namespace
        self.mode = mode
        let run = XDPExampleRun(store: store)
        self.run = run
        let object = try run.load("xdp_macswap.bpf.c")
        counts = try XDPProtocolCounts(object.map(named: "rxcnt"))
        bounced = try PerCPUArrayMap(object.map(named: "txcnt"))
        try run.starting {
            if let peer { try run.attachPass(to: peer) }
            try run.attach("xdp_macswap", of: object, to: interface, namespace: namespace, mode: mode)
        }
    }

    /// Frames seen so far per protocol number, sent back or not: those counted under protocol 17
    /// (UDP) were sent back unless they were broadcast or multicast (see `sentBack`).
    /// - Throws: `BPFError` from the per-CPU map lookups (BPF_MAP_LOOKUP_ELEM).
    public func totals() throws -> [UInt8: UInt64] { try counts.totals() }

    /// Frames sent back so far (unicast UDP).
    /// - Throws: `BPFError` from the per-CPU map lookups (BPF_MAP_LOOKUP_ELEM).
    public func sentBack() throws -> UInt64 { try bounced.sum(0) }

    /// Detaches; returns the attachments that could not be undone.
    @discardableResult
    public func stop() -> [DetachFailure] { run.stop() }
}
