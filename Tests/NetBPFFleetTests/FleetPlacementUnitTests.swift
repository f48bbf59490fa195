import Foundation
import Synchronization
import Testing
import NetBPFControllers
@testable import NetBPFFleet

/// The agent's reconcile of placements against an in-memory host (no etcd reached, no kernel):
/// what starts, what stops, what is only let go of, what the command line keeps.
@Suite struct FleetPlacementUnitTests {
    /// Starts and stops nothing real; records the calls. `foreign` places are "found attached
    /// by someone else" (adopted, not owned); `missing` interfaces fail to start.
    final class FakeHost: PlacementHost {
        struct State { var started: [Placement] = []; var stopped: [(Placement, Bool)] = []; var nextID: UInt32 = 10 }
        let state = Mutex(State())
        let foreign: Set<String>
        let missing: Set<String>
        init(foreign: Set<String> = [], missing: Set<String> = []) { self.foreign = foreign; self.missing = missing }
        func start(_ p: Placement) throws -> PlacedController {
            if missing.contains(p.interface) { throw FleetError("interface '\(p.interface)' does not exist on this node") }
            let id = state.withLock { $0.started.append(p); $0.nextID += 1; return $0.nextID }
            let f = foreign.contains(p.interface)
            return PlacedController(placement: p, rateLimit: p.controller == .ratelimit ? FakeLimits() : nil,
                                    httpBlock: nil, programID: id, adopted: f, owned: !f)
        }
        func stop(_ c: PlacedController) throws { state.withLock { $0.stopped.append((c.placement, c.owned)) } }
        var started: [String] { state.withLock { $0.started.map(\.interface) } }
        var stopped: [String] { state.withLock { $0.stopped.map { $0.0.interface + ($0.1 ? "" : " (let go)") } } }
    }

    final class FakeLimits: RateLimitTarget {
        let limits = Mutex<[AddressPrefix: UInt64]>([:])
        func currentLimits() throws -> [(name: String, rate: UInt64, burst: UInt64)] {
            limits.withLock { $0.map { ($0.key.description, $0.value, RateLimiter.defaultBurst(rateBitsPerSecond: $0.value)) } }
        }
        func add(_ prefix: AddressPrefix, rateBitsPerSecond: UInt64, burstBytes: UInt64?) throws { limits.withLock { $0[prefix] = rateBitsPerSecond } }
        func remove(_ prefix: AddressPrefix) throws { limits.withLock { $0[prefix] = nil } }
        func setDefault(rateBitsPerSecond: UInt64?, burstBytes: UInt64?) throws {}
    }

    /// Runs `body` with an agent of node "edge-1" whose desired/all/ holds `keys` after each
    /// `set` call (the agent never connects: the client points nowhere and is closed after).
    func withAgent(host: FakeHost, fixed: [Placement] = [], _ body: (FleetAgent, _ set: ([String: String]) async throws -> [String: String]) async throws -> Void) async throws {
        let etcd = try EtcdClient(endpoint: "http://127.0.0.1:1", tls: nil, credentials: nil)
        var options = FleetAgent.Options(node: "edge-1", layout: try KeyLayout())
        options.fixed = fixed
        let agent = try FleetAgent(etcd: etcd, options: options, targets: NodeTargets(), placements: host)
        var revision: Int64 = 0
        do {
            try await body(agent) { keys in
                revision += 1
                let r = revision
                await agent.setDesired(keys.map { EtcdClient.KeyValue(key: options.layout.desiredAll + $0.key, value: Data($0.value.utf8), modRevision: r, lease: 0) })
                try await agent.apply(revision: r, since: .now, force: true)
                return agent.health.withLock { $0.errors }
            }
        } catch { await etcd.close(); throw error }
        await etcd.close()
    }

    /// A refusal never takes enforcement away: a running placement whose value turns bad, or
    /// that a second placement of its kind sorts before, keeps its controller; deleting it stops it.
    @Test func aRefusedPlacementKeepsWhatItPlaced() async throws {
        let host = FakeHost()
        try await withAgent(host: host) { agent, set in
            var errors = try await set(["placement/rl": #"{"controller":"ratelimit","interface":"eth1"}"#])
            #expect(errors.isEmpty && host.started == ["eth1"], "\(errors)")
            errors = try await set(["placement/rl": #"{"controller":"ratelimit","interface":"eth1","key":"bogus"}"#])
            #expect(errors["all/placement/rl"] != nil && host.stopped.isEmpty, "\(errors) \(host.stopped)")
            errors = try await set(["placement/rl": #"{"controller":"ratelimit","interface":"eth1"}"#,
                                    "placement/a-first": #"{"controller":"ratelimit","interface":"eth2"}"#])
            #expect(!errors.isEmpty && host.stopped.isEmpty && host.started == ["eth1"], "\(errors) \(host.started)")
            errors = try await set([:])
            #expect(host.stopped == ["eth1"], "\(host.stopped)")
        }
    }

    @Test func reconcileStartsStopsAndKeepsTheCommandLine() async throws {
        let host = FakeHost(foreign: ["eth5"], missing: ["ghost0"])
        let cli = Placement(controller: .httpBlock, interface: "eth0")
        try await withAgent(host: host, fixed: [cli]) { agent, set in
            let limit = #"{"prefix":"10.0.0.0/8","rate":"1mbit"}"#
            // Placed: started, and the limit reaches it in the same apply.
            var errors = try await set(["placement/rl": #"{"controller":"ratelimit","interface":"eth1"}"#, "ratelimit/a": limit])
            #expect(errors.isEmpty && host.started == ["eth1"], "\(errors)")
            #expect(try agent.targets.rateLimit?.currentLimits().map { $0.name } == ["10.0.0.0/8"])
            // Same desired state again: nothing started or stopped.
            errors = try await set(["placement/rl": #"{"controller":"ratelimit","interface":"eth1"}"#, "ratelimit/a": limit])
            #expect(host.started == ["eth1"] && host.stopped.isEmpty)
            // Changed interface: the old one stops, the new one starts.
            errors = try await set(["placement/rl": #"{"controller":"ratelimit","interface":"eth2"}"#, "ratelimit/a": limit])
            #expect(host.stopped == ["eth1"] && host.started == ["eth1", "eth2"])
            // HTTP blocking where the command line runs it: accepted, nothing started; elsewhere: refused.
            errors = try await set(["placement/rl": #"{"controller":"ratelimit","interface":"eth2"}"#,
                                    "placement/same": #"{"controller":"http-block","interface":"eth0"}"#])
            #expect(errors.isEmpty && host.started == ["eth1", "eth2"], "\(errors)")
            errors = try await set(["placement/other": #"{"controller":"http-block","interface":"eth3"}"#])
            #expect(errors["all/placement/other"]?.contains("from the agent's command line (http-block on eth0)") == true, "\(errors)")
            #expect(host.stopped == ["eth1", "eth2"], "the ratelimit placement was removed")
            #expect(agent.targets.rateLimit == nil && agent.targets.httpBlock == nil)
            // A missing interface is refused, and tried again at the next apply.
            errors = try await set(["placement/g": #"{"controller":"ratelimit","interface":"ghost0"}"#])
            #expect(errors["all/placement/g"]?.contains("does not exist") == true)
            // One someone else attached is adopted, and only let go of when unplaced.
            _ = try await set(["placement/f": #"{"controller":"ratelimit","interface":"eth5"}"#])
            _ = try await set([:])
            #expect(host.stopped == ["eth1", "eth2", "eth5 (let go)"], "\(host.stopped)")
            #expect(agent.health.withLock { $0.controllers?.map(\.placement) } == [nil], "only the command line's left")
        }
    }
}

extension FleetAgent {
    /// Replaces desired/all/ (tests only).
    func setDesired(_ kvs: [EtcdClient.KeyValue]) { allKVs = Dictionary(uniqueKeysWithValues: kvs.map { ($0.key, $0) }) }
}
