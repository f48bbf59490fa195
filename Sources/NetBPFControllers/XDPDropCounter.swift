import NetBPF
import NetBPFAttach
import NetBPFCompiler
import NetBPFNetlink

/// BCC's xdp_drop_count: programs/xdp_drop_count.bpf.c on an interface's XDP hook (generic or
/// driver mode) drops every frame and counts it per IP protocol. `stop()` detaches (idempotent).
/// Kernel 4.8 (XDP; generic mode 4.12); veth supports both modes.
public final class XDPDropCounter: @unchecked Sendable {
    public let interface: String
    public let namespace: String?
    public let mode: XDPMode
    private var record: AttachmentRecord?
    private let store: AttachmentStore
    private let counts: PerCPUArrayMap<UInt64>
    private let object: BPFObject

    /// Compiles, loads and attaches the program.
    /// - Throws: an attach error when the device does not support the mode (the kernel's reason).
    public init(interface: String, namespace: String?, mode: XDPMode, store: AttachmentStore = AttachmentStore()) throws {
        self.interface = interface
        self.namespace = namespace
        self.mode = mode
        self.store = store
        let compiled = try BPFCompiler().compile(file: try BundledPrograms.path("xdp_drop_count.bpf.c"))
        object = try compiled.open().load()
        counts = try PerCPUArrayMap(object.map(named: "dropcnt"))
        record = try Attacher(store: store).attachXDP(try object.program(named: "xdp_drop_count"), of: object, to: interface,
                                                     namespace: namespace, mode: mode)
    }

    /// Frames dropped so far per protocol number (only protocols with frames).
    public func totals() throws -> [UInt8: UInt64] {
        var out: [UInt8: UInt64] = [:]
        for p in 0..<256 {
            let n = try counts.sum(UInt32(p))
            if n > 0 { out[UInt8(p)] = n }
        }
        return out
    }

    public func stop() {
        if let r = record { try? Attacher(store: store).undo(r) }
        record = nil
    }

    deinit { stop() }
}
