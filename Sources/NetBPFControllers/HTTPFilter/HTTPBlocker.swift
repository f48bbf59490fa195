import Foundation
import NetBPF
import NetBPFAttach
import NetBPFNetlink

/// The HTTP blocking program (programs/http_block.bpf.c) on its own, without the watching
/// socket filter: what a long-running owner of the block list (the fleet agent) attaches once
/// and then changes live. The attachment is pinned (`AttachmentLifetime.pinned`): it outlives
/// its process, so an owner killed with SIGKILL leaves the requests blocked, and the next one
/// adopts it (`init(interface:namespace:store:)`) with its list and counters.
///
/// Kernel: as `HTTPFilter`'s blocking (tc ingress; tcx links on 6.6+, clsact cls_bpf before).
public final class HTTPBlocker: Sendable {
    /// The attachment: where the program is, and the pin directory of its maps.
    public let record: AttachmentRecord
    /// The pinned `block_list` LPM trie; changes are seen by the next packet.
    public let list: BPFHTTPBlockList

    /// The blocker netbpf attached to `interface`'s ingress (its record's `block_list` pin
    /// opened, BPF_OBJ_GET).
    /// - Throws: `ControllerError` when none or more than one matches; `BPFError` when its pin is gone.
    public init(interface: String, namespace: String?, store: AttachmentStore = AttachmentStore()) throws {
        let found = store.all().filter { $0.programName == "http_block" && $0.interface == interface && $0.namespace == namespace }
        guard let record = found.first else {
            throw ControllerError("no HTTP blocking program is attached to \(interface)", hint: "HTTPBlocker.attach, or netbpf agent --http-block-interface")
        }
        guard found.count == 1 else { throw ControllerError("\(found.count) HTTP blocking programs are attached to \(interface)") }
        self.record = record
        list = try BPFHTTPBlockList(pinned: record.pinDirectory + "/maps/block_list")
    }

    private init(record: AttachmentRecord, list: BPFHTTPBlockList) {
        self.record = record
        self.list = list
    }

    /// Compiles (through the compile cache), loads and attaches http_block to `interface`'s
    /// ingress with an empty list, pinned.
    /// - Throws: compile, load and attach errors (nothing stays attached).
    public static func attach(interface: String, namespace: String?, store: AttachmentStore = AttachmentStore(),
                              programsDirectory: String? = nil) throws -> HTTPBlocker {
        let object = try HTTPPrograms.open("http_block", directory: programsDirectory).load()
        var tc = TCAttachOptions()
        tc.direction = .ingress
        let attacher = Attacher(store: store)
        let record = try attacher.attachTC(try object.program(named: "http_block"), of: object, to: interface, namespace: namespace,
                                           options: tc, lifetime: .pinned)
        do {
            return HTTPBlocker(record: record, list: try BPFHTTPBlockList(pinned: record.pinDirectory + "/maps/block_list"))
        } catch {
            try? attacher.undo(record)
            throw error
        }
    }

    /// Detaches the program and removes its pins and record.
    /// - Throws: `AttachError` from the detach.
    public func detach(store: AttachmentStore = AttachmentStore()) throws {
        try Attacher(store: store).undo(record)
    }
}
