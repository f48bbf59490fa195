import NetBPF
import NetBPFAttach
import NetBPFNetlink

/// BCC's xdp_redirect_map: programs/xdp_redirect_map.bpf.c on the in-interface sends every
/// frame out of the out-interface through slot 0 of a BPF_MAP_TYPE_DEVMAP (bpf_redirect_map,
/// kernel 4.14) and counts the frames it redirected per IP protocol, and those it could not (slot
/// 0 empty, e.g. after the out-interface was deleted) on their own. `stop()` detaches everything
/// (idempotent).
///
/// Both interfaces are in one namespace: the devmap resolves the ifindex written to it in the
/// namespace of the writer, so the slot is written from a thread inside it. In driver mode an
/// XDP_PASS program goes on the out-interface too, as BCC does (drivers such as ixgbe set up
/// their XDP transmit rings only while a program is attached); on a veth the frames are then
/// queued on the out-interface's peer, which needs a native XDP program itself: give `peer`.
public final class XDPRedirector: Sendable {
    /// The interface whose frames are redirected (the program's).
    public let input: String
    /// The interface they are sent out of (devmap slot 0).
    public let output: String
    /// The namespace of both (nil: the caller's).
    public let namespace: String?
    /// Generic (skb) or driver (native) XDP.
    public let mode: XDPMode
    private let run: XDPExampleRun
    private let counts: XDPProtocolCounts
    private let missed: PerCPUArrayMap<UInt64>

    /// Loads the program, points slot 0 at `output`, attaches XDP_PASS to `peer` (if given) and
    /// to `output` (driver mode), and last the redirect program on `input`.
    /// - Throws: netlink errors for an unknown `output`; compile, load and attach errors (nothing stays
    ///   attached).
    public init(input: String, output: String, namespace: String?, mode: XDPMode, peer: XDPPassPeer? = nil,
                store: AttachmentStore = AttachmentStore()) throws {
        self.input = input
        self.output = output
        self.namespace = namespace
        self.mode = mode
        let run = XDPExampleRun(store: store)
        self.run = run
        let object = try run.load("xdp_redirect_map.bpf.c")
        counts = try XDPProtocolCounts(object.map(named: "rxcnt"))
        missed = try PerCPUArrayMap(object.map(named: "missed"))
        let devmap = try object.map(named: "tx_port")
        try Self.inNamespace(namespace) {
            var slot: UInt32 = 0
            var ifindex = UInt32(bitPattern: try (namespace.map { try NetlinkSocket(namespace: $0) } ?? NetlinkSocket()).interfaceIndex(.name(output)))
            try devmap.update(key: &slot, value: &ifindex)
        }
        try run.starting {
            if let peer { try run.attachPass(to: peer) }
            if mode != .generic { try run.attach("xdp_pass", of: try run.load("xdp_pass.bpf.c"), to: output, namespace: namespace, mode: mode) }
            try run.attach("xdp_redirect", of: object, to: input, namespace: namespace, mode: mode)
        }
    }

    /// Frames redirected so far per protocol number (bpf_redirect_map returned XDP_REDIRECT).
    /// - Throws: `BPFError` from the per-CPU map lookups (BPF_MAP_LOOKUP_ELEM).
    public func totals() throws -> [UInt8: UInt64] { try counts.totals() }

    /// Frames that arrived but were not redirected (slot 0 empty: dropped with XDP_ABORTED).
    /// - Throws: `BPFError` from the per-CPU map lookups (BPF_MAP_LOOKUP_ELEM).
    public func notRedirected() throws -> UInt64 { try missed.sum(0) }

    /// Detaches; returns the attachments that could not be undone.
    @discardableResult
    public func stop() -> [DetachFailure] { run.stop() }

    private static func inNamespace(_ name: String?, _ body: @Sendable () throws -> Void) throws {
        guard let name else { return try body() }
        try withNamespace(name) { try body() }
    }
}
