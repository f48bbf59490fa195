import Foundation
import NetBPF
import NetBPFAttach
import NetBPFControllers
import NetBPFNetlink

/// A controller running for a placement: the maps the agent fills, and whether unplacing it
/// detaches it.
public struct PlacedController: Sendable {
    /// The placement it runs for.
    public var placement: Placement
    /// The rate limiter's maps (a `ratelimit` placement).
    public var rateLimit: RateLimitTarget?
    /// The HTTP block list (an `http-block` placement).
    public var httpBlock: HTTPBlockTarget?
    /// The VLAN learner (a `vlan-learning` placement).
    public var vlan: VLANClientTarget?
    /// The attached program's id.
    public var programID: UInt32
    /// Found attached and adopted (its pins opened), rather than attached now.
    public var adopted: Bool
    /// Attached through a placement, now or by an earlier agent of this node: unplacing
    /// detaches it. False for a controller someone else attached (`netbpf ratelimit attach`):
    /// unplacing only lets go of it.
    public var owned: Bool
    /// A controller from its parts.
    public init(placement: Placement, rateLimit: RateLimitTarget? = nil, httpBlock: HTTPBlockTarget? = nil, vlan: VLANClientTarget? = nil,
                programID: UInt32, adopted: Bool, owned: Bool) {
        self.placement = placement; self.rateLimit = rateLimit; self.httpBlock = httpBlock; self.vlan = vlan
        self.programID = programID; self.adopted = adopted; self.owned = owned
    }
}

/// What starts and stops the controllers of placements. `KernelPlacementHost` is the real one;
/// unit tests use an in-memory one.
public protocol PlacementHost: Sendable {
    /// Adopts the controller netbpf already attached where `placement` says, else attaches one.
    /// - Throws: why it cannot run there (no such interface or namespace, another controller
    ///   of that kind on another hook, compile, load and attach errors); nothing stays attached.
    func start(_ placement: Placement) throws -> PlacedController
    /// Detaches `controller` when it is `owned`, else lets go of it (nothing changes in the kernel).
    /// - Throws: the detach's errors.
    func stop(_ controller: PlacedController) throws
    /// Detaches what placements attached earlier (an agent before this one) that is not in
    /// `keeping`: placements removed while no agent ran. Returns where each was.
    /// - Throws: the first detach error (the others are still tried).
    func sweep(keeping: Set<UInt32>) throws -> [String]
}

extension PlacementHost {
    /// Nothing to sweep (hosts that keep no record of earlier agents).
    public func sweep(keeping: Set<UInt32>) throws -> [String] { [] }
}

/// Starts placements with the controllers' own attach APIs (`RateLimiter.attach`,
/// `HTTPBlocker.attach`, `VLANLearner.start`): attachment records, pins and the hook's lock as
/// for `netbpf ratelimit attach`. The rate limiter and HTTP blocking are pinned, so a SIGKILLed
/// agent leaves them enforcing and the next one adopts them; VLAN learning lasts as long as
/// the agent (process-lifetime records: the next attach to its hooks clears a dead agent's). Which program ids it attached through placements
/// is kept in a small file next to the records (`STATE/fleet/placed-NODE.json`), so a restarted
/// agent still knows which adopted controllers are its own to detach when unplaced.
public struct KernelPlacementHost: PlacementHost {
    /// Where records are (NETBPF_STATE_DIR/attach by default).
    public let store: AttachmentStore
    /// The file listing the program ids attached through placements.
    public let ledgerPath: String

    /// A host for `node`'s agent, records in `store`.
    public init(node: String, store: AttachmentStore = AttachmentStore()) {
        self.store = store
        ledgerPath = (store.directory as NSString).deletingLastPathComponent + "/fleet/placed-\(node).json"
    }

    public func start(_ p: Placement) throws -> PlacedController {
        try checkInterface(p)
        if p.controller == .vlanLearning {
            var config = VLANLearningConfig(trunk: p.interface, namespace: p.netns, clients: [])
            config.spareWorkers = p.workers
            let learner = try VLANLearner.start(config, store: store)
            return PlacedController(placement: p, vlan: learner, programID: learner.records.last?.programID ?? 0, adopted: false, owned: true)
        }
        let program = p.controller == .ratelimit ? "ratelimit" : "http_block"
        let there = store.all().filter { $0.programName == program && $0.interface == p.interface && $0.namespace == p.netns && !$0.isPending }
        let ledger = loadLedger()
        switch p.controller {
        case .ratelimit:
            if let r = there.first {
                guard there.count == 1, r.hook == p.direction.rawValue else {
                    throw FleetError("a rate limiter is already attached to \(r.place); this placement asks for \(p.direction.rawValue)",
                                     hint: "netbpf ratelimit detach, or place it with that direction")
                }
                let l = try RateLimiter(interface: p.interface, namespace: p.netns, store: store)
                return PlacedController(placement: p, rateLimit: l, programID: l.record.programID, adopted: true, owned: ledger.contains(l.record.programID))
            }
            let l = try RateLimiter.attach(interface: p.interface, namespace: p.netns, direction: p.direction, keyOn: p.keyOn, store: store)
            try remember(l.record.programID, undo: { try l.detach(store: store) })
            return PlacedController(placement: p, rateLimit: l, programID: l.record.programID, adopted: false, owned: true)
        case .httpBlock:
            if !there.isEmpty {
                let b = try HTTPBlocker(interface: p.interface, namespace: p.netns, store: store)
                return PlacedController(placement: p, httpBlock: b.list, programID: b.record.programID, adopted: true, owned: ledger.contains(b.record.programID))
            }
            let b = try HTTPBlocker.attach(interface: p.interface, namespace: p.netns, store: store)
            try remember(b.record.programID, undo: { try b.detach(store: store) })
            return PlacedController(placement: p, httpBlock: b.list, programID: b.record.programID, adopted: false, owned: true)
        case .vlanLearning:
            throw FleetError("internal: VLAN learning is started above")
        }
    }

    public func stop(_ c: PlacedController) throws {
        if let learner = c.vlan as? VLANLearner { learner.stop(); return }
        guard c.owned else { return }
        if let record = store.all().first(where: { $0.programID == c.programID }) {
            try Attacher(store: store).undo(record)
        }
        var ids = loadLedger()
        ids.remove(c.programID)
        try saveLedger(ids)
    }

    public func sweep(keeping: Set<UInt32>) throws -> [String] {
        let ids = loadLedger()
        var done: [String] = [], first: Error?
        var left = ids
        for id in ids.subtracting(keeping).sorted() {
            if let record = store.all().first(where: { $0.programID == id }) {
                do { try Attacher(store: store).undo(record); done.append("\(record.programName) on \(record.place)") } catch { first = first ?? error; continue }
            }
            left.remove(id)
        }
        if left != ids { try saveLedger(left) }
        if let first { throw first }
        return done
    }

    /// The namespace and the interface exist (RTM_GETLINK), checked before anything is loaded.
    func checkInterface(_ p: Placement) throws {
        let socket = try p.netns.map { try NetlinkSocket(namespace: $0) } ?? NetlinkSocket()
        do { _ = try socket.interfaceIndex(.name(p.interface)) } catch {
            throw FleetError("interface '\(p.interface)' does not exist on this node" + (p.netns.map { " (netns \($0))" } ?? ""),
                             hint: "ip link" + (p.netns.map { " (in ip netns exec \($0))" } ?? ""))
        }
    }

    /// Adds `id` to the ledger; if that fails, undoes the attach (an attachment the agent
    /// cannot remember owning would never be detached by an unplace).
    func remember(_ id: UInt32, undo: () throws -> Void) throws {
        var ids = loadLedger()
        ids.insert(id)
        do { try saveLedger(ids) } catch {
            try? undo()
            throw error
        }
    }

    func loadLedger() -> Set<UInt32> {
        guard let data = FileManager.default.contents(atPath: ledgerPath), let ids = try? JSONDecoder().decode([UInt32].self, from: data) else { return [] }
        return Set(ids)
    }

    func saveLedger(_ ids: Set<UInt32>) throws {
        do {
            try FileManager.default.createDirectory(atPath: (ledgerPath as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            if ids.isEmpty {
                if FileManager.default.fileExists(atPath: ledgerPath) { try FileManager.default.removeItem(atPath: ledgerPath) }
            } else {
                try JSONEncoder().encode(ids.sorted()).write(to: URL(fileURLWithPath: ledgerPath), options: .atomic)
            }
        } catch {
            throw FleetError("cannot write \(ledgerPath): \(error)")
        }
    }
}
