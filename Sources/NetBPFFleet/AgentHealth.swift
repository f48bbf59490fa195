import Foundation

/// What the agent reports about itself: in its status key, and on /metrics. A value snapshot,
/// copied out under the agent's lock.
public struct AgentHealth: Sendable, Codable, Equatable {
    /// Highest etcd revision of a desired-state change this agent has applied (0: none yet).
    public var revision: Int64 = 0
    /// When that apply finished.
    public var appliedAt: Date?
    /// Wall time from receiving the change to the maps holding it, seconds.
    public var applySeconds: Double = 0
    /// Every revision applied, in order, last 64 (a revision seen twice would show twice).
    public var history: [Int64] = []
    /// How many times a change reached the maps.
    public var applies: Int = 0
    /// Refused keys and failed map updates: key (relative to desired/) -> reason.
    public var errors: [String: String] = [:]
    /// Limits in force (the default included).
    public var limits: Int = 0
    /// HTTP blocks in force; nil when the node runs no HTTP blocking.
    public var blocks: Int?
    /// VLAN clients mapped; nil when the node runs no VLAN learning.
    public var vlanClients: Int?
    /// True while the agent is connected to etcd (registered, synced) and following its watches.
    public var etcdConnected = false
    /// Connections to etcd lost and made again: one per loss of a working connection (failed
    /// first attempts not counted).
    public var reconnects: Int = 0
    /// The node's name (`FleetAgent` sets it).
    public var node: String = ""
    /// The rate limiter and HTTP blocking running on the node: the command line's and the
    /// placed ones (nil in a status written before placements existed).
    public var controllers: [Controller]?

    /// A controller running on the node.
    public struct Controller: Sendable, Codable, Equatable {
        /// The placement's name; nil: from the agent's command line.
        public var placement: String?
        /// Where it runs.
        public var place: Placement
        /// The attached program's id (placed controllers).
        public var programID: UInt32?
        /// Whether it was found attached and adopted rather than attached by this agent.
        public var adopted: Bool?
        /// A controller entry.
        public init(placement: String?, _ place: Placement, programID: UInt32?, adopted: Bool?) {
            self.placement = placement; self.place = place; self.programID = programID; self.adopted = adopted
        }
        enum CodingKeys: String, CodingKey { case placement, place, programID = "program_id", adopted }
    }

    /// Nothing applied yet, not connected, no node.
    public init() {}

    enum CodingKeys: String, CodingKey {
        case revision, appliedAt = "applied_at", applySeconds = "apply_seconds", history, applies, errors, limits, blocks
        case vlanClients = "vlan_clients"
        case etcdConnected = "etcd_connected", reconnects, node, controllers
    }

    static func encoder() -> JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        e.dateEncodingStrategy = .iso8601
        return e
    }

    /// Decodes a status value as the agent writes it (JSON, snake_case keys, ISO 8601 dates).
    /// - Throws: `DecodingError` when `data` is not such a value.
    public static func decode(_ data: Data) throws -> AgentHealth {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .iso8601
        return try d.decode(AgentHealth.self, from: data)
    }
}
