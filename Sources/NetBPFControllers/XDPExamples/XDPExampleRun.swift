import NetBPF
import NetBPFAttach
import NetBPFCompiler
import NetBPFNetlink
import Synchronization

/// What one of BCC's XDP examples holds while it runs: the loaded objects and the XDP
/// attachments it made (through Attacher, so they are pinned and recorded and `netbpf detach`
/// sees them). `stop()` undoes the attachments in reverse order and returns those it could not
/// undo (their records stay); it is idempotent. A failure while starting undoes what was
/// attached before it. Sendable: the records and objects sit behind a `Mutex`.
final class XDPExampleRun: Sendable {
    private struct State {
        var records: [AttachmentRecord] = []
        var objects: [BPFObject] = []
    }
    private let store: AttachmentStore
    private let state = Mutex(State())

    init(store: AttachmentStore) { self.store = store }

    /// Compiles programs/`file` (the in-process compiler) and loads it.
    func load(_ file: String) throws -> BPFObject {
        let object = try BPFCompiler().compile(file: try BundledPrograms.path(file)).open().load()
        state.withLock { $0.objects.append(object) }
        return object
    }

    /// Attaches `program` of `object` to `interface` with a BPF link (BPF_LINK_CREATE, 5.9).
    func attach(_ program: String, of object: BPFObject, to interface: String, namespace: String?, mode: XDPMode) throws {
        let record = try Attacher(store: store).attachXDP(try object.program(named: program), of: object, to: interface,
                                                          namespace: namespace, mode: mode, lifetime: .process)
        state.withLock { $0.records.append(record) }
    }

    /// Attaches programs/xdp_pass.bpf.c in driver mode to `peer`.
    func attachPass(to peer: XDPPassPeer) throws {
        try attach("xdp_pass", of: try load("xdp_pass.bpf.c"), to: peer.interface, namespace: peer.namespace, mode: .native)
    }

    /// Runs `body`; on error undoes everything attached so far and rethrows.
    func starting(_ body: () throws -> Void) throws {
        do { try body() } catch { stop(); throw error }
    }

    /// Undoes the attachments, newest first; returns those that could not be undone.
    @discardableResult
    func stop() -> [DetachFailure] {
        let records = state.withLock { state in
            defer { state.records.removeAll() }
            return state.records
        }
        var failures: [DetachFailure] = []
        for r in records.reversed() {
            do { try Attacher(store: store).undo(r) } catch { failures.append(DetachFailure(record: r, error: error)) }
        }
        return failures
    }

    deinit { stop() }
}
