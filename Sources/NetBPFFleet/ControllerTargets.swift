import NetBPFControllers

/// What the agent changes for HTTP blocking: the block list of a running http_block program.
/// `BPFHTTPBlockList` is the real one (an LPM trie); unit tests use an in-memory one.
public protocol HTTPBlockTarget: Sendable {
    /// Every entry with its counters.
    func listing() throws -> [HTTPBlockListing]
    /// Adds an entry (BPF_MAP_UPDATE_ELEM; present already: kept with its counters).
    func add(_ entry: HTTPBlockEntry) throws
    /// Removes an entry; false when it was not there.
    func remove(_ entry: HTTPBlockEntry) throws -> Bool
}

extension BPFHTTPBlockList: HTTPBlockTarget {}

/// What the agent changes for VLAN learning: the client map of a running learner.
/// `VLANLearner` is the real one; unit tests use an in-memory one.
public protocol VLANClientTarget: Sendable {
    /// Client MAC -> worker interface, as the maps hold it now.
    func clientMap() throws -> [EthernetAddress: String]
    /// Maps (or moves) a client to a worker the learner is attached to.
    func setClient(_ mac: EthernetAddress, worker: String) throws
    /// Unmaps a client; false when it was not mapped.
    func removeClient(_ mac: EthernetAddress) throws -> Bool
}

extension VLANLearner: VLANClientTarget {}

/// The controllers running on a node, whose maps the agent makes hold the desired state. A
/// controller the node does not run is nil: its keys are refused with that reason.
public struct NodeTargets: Sendable {
    /// The rate limiter (`RateLimiter`).
    public var rateLimit: RateLimitTarget?
    /// The HTTP blocking program's list (`HTTPBlocker.list`).
    public var httpBlock: HTTPBlockTarget?
    /// The VLAN learner (`VLANLearner`).
    public var vlan: VLANClientTarget?
    /// The given controllers; any may be nil.
    public init(rateLimit: RateLimitTarget? = nil, httpBlock: HTTPBlockTarget? = nil, vlan: VLANClientTarget? = nil) {
        self.rateLimit = rateLimit; self.httpBlock = httpBlock; self.vlan = vlan
    }
}

/// Makes an HTTP block list and a VLAN client map hold an effective state, changing only what
/// differs (an entry that stays keeps its counters). Each change is one or a few map updates:
/// no re-attach. A refused change is reported under the entry's id (`DesiredState.entryID`)
/// and the rest still applies.
public enum ControllerApplier {
    /// What one apply changed, and what the target refused.
    public struct Outcome: Sendable, Equatable {
        /// Entries added and removed; VLAN clients moved to another worker.
        public var added = 0, removed = 0, moved = 0
        /// Entry id -> why the target refused its change.
        public var errors: [String: String] = [:]
        /// Whether anything changed.
        public var changedAnything: Bool { added + removed + moved > 0 }
    }

    /// Makes `target` hold exactly `blocks`.
    /// - Throws: what `listing()` throws; nothing is changed then.
    public static func apply(blocks: Set<HTTPBlockEntry>, to target: HTTPBlockTarget) throws -> Outcome {
        var out = Outcome()
        let have = Set(try target.listing().map(\.entry))
        for entry in blocks.subtracting(have).sorted(by: { $0.description < $1.description }) {
            do { try target.add(entry); out.added += 1 } catch { out.errors[DesiredState.entryID(block: entry)] = "\(error)" }
        }
        for entry in have.subtracting(blocks).sorted(by: { $0.description < $1.description }) {
            do { _ = try target.remove(entry); out.removed += 1 } catch { out.errors[DesiredState.entryID(block: entry)] = "\(error)" }
        }
        return out
    }

    /// Makes `target` map exactly `clients` (removals first, so a worker's slots free up
    /// before clients move to it).
    /// - Throws: what `clientMap()` throws; nothing is changed then.
    public static func apply(vlanClients clients: [EthernetAddress: String], to target: VLANClientTarget) throws -> Outcome {
        var out = Outcome()
        let have = try target.clientMap()
        for mac in have.keys.sorted() where clients[mac] == nil {
            do { _ = try target.removeClient(mac); out.removed += 1 } catch { out.errors[DesiredState.entryID(vlan: mac)] = "\(error)" }
        }
        for (mac, worker) in clients.sorted(by: { $0.key < $1.key }) where have[mac] != worker {
            do {
                try target.setClient(mac, worker: worker)
                if have[mac] == nil { out.added += 1 } else { out.moved += 1 }
            } catch {
                out.errors[DesiredState.entryID(vlan: mac)] = "\(error)"
            }
        }
        return out
    }
}
