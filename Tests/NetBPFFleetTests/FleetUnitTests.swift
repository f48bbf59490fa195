import Foundation
import Synchronization
import Testing
import NetBPFControllers
import NetBPFFleet

/// Pure logic: desired-state values, the effective state of a node, the map diff.
@Suite struct FleetUnitTests {
    func parse(_ key: String, _ json: String) throws -> DesiredState.Item {
        try DesiredState.parse(relativeKey: key, value: Data(json.utf8))
    }
    func reason(_ key: String, _ json: String) -> String {
        do { _ = try parse(key, json); return "" } catch { return "\(error)" }
    }

    @Test func goodValuesParse() throws {
        let item = try parse("ratelimit/office", #"{"prefix":"10.1.0.0/16","rate":"10mbit","burst":"64k","nodes":"edge-*"}"#)
        #expect(item.limit == DesiredLimit(prefix: try AddressPrefix("10.1.0.0/16"), rateBitsPerSecond: 10_000_000, burstBytes: 65536))
        #expect(item.nodes == "edge-*")
        let d = try parse("ratelimit/default", #"{"rate":"1mbit"}"#)
        #expect(d.limit == nil && d.defaultRate == 1_000_000 && d.nodes == "*")
    }

    @Test func badValuesAreRefusedWithTheirReason() {
        #expect(reason("ratelimit/a", "{not json").contains("not JSON"))
        #expect(reason("ratelimit/a", #"{"prefix":"10.0.0.0/8","rate":"1mbit","colour":"red"}"#).contains("unknown key 'colour'"))
        #expect(reason("ratelimit/a", #"{"prefix":"10.0.0.0/8","rate":"fast"}"#).contains("'fast' is not a rate"))
        #expect(reason("ratelimit/a", #"{"prefix":"10.0.0.999/33","rate":"1mbit"}"#).contains("10.0.0.999/33"))
        #expect(reason("ratelimit/a", #"["a"]"#).contains("JSON object"))
        #expect(reason("ratelimit/a", #"{"prefix":"10.0.0.0/8"}"#).contains("'rate' is required"))
        #expect(reason("ratelimit/a", #"{"prefix":"10.0.0.0/8","rate":10}"#).contains("must be a string"))
        #expect(reason("bgp/a", #"{}"#).contains("not managed"))
        #expect(reason("ratelimit", #"{}"#).contains("CONTROLLER/NAME"))
        #expect(reason("ratelimit/default", #"{"rate":"1mbit","prefix":"10.0.0.0/8"}"#).contains("unknown key 'prefix'"))
    }

    @Test func nodeKeysOverrideAndGlobsSelect() throws {
        let all = [try parse("ratelimit/a", #"{"prefix":"10.1.0.0/16","rate":"10mbit","nodes":"edge-*"}"#),
                   try parse("ratelimit/b", #"{"prefix":"10.2.0.0/16","rate":"20mbit"}"#),
                   try parse("ratelimit/default", #"{"rate":"100mbit","nodes":"core-?"}"#)]
        let own = [try parse("ratelimit/b", #"{"prefix":"10.2.0.0/16","rate":"5mbit"}"#)]
        let (edge, e1) = DesiredState.effective(node: "edge-1", all: all, own: own)
        #expect(e1.isEmpty)
        #expect(edge.limits.count == 2 && edge.defaultRate == nil)
        #expect(edge.limits[try AddressPrefix("10.2.0.0/16")]?.rateBitsPerSecond == 5_000_000)
        let (core, _) = DesiredState.effective(node: "core-1", all: all, own: [])
        #expect(core.limits.count == 1 && core.defaultRate == 100_000_000)
        // Two names for one prefix: the second (by name) is refused, the first applies.
        let dup = [try parse("ratelimit/x", #"{"prefix":"10.9.0.0/16","rate":"1mbit"}"#),
                   try parse("ratelimit/y", #"{"prefix":"10.9.0.0/16","rate":"2mbit"}"#)]
        let (s, errors) = DesiredState.effective(node: "n", all: dup, own: [])
        #expect(s.limits.first?.value.rateBitsPerSecond == 1_000_000)
        #expect(errors["all/ratelimit/y"]?.contains("already limited by 'x'") == true)
    }

    /// An in-memory limiter: the applier must change only what differs.
    final class FakeTarget: RateLimitTarget, @unchecked Sendable {
        // Only touched from the test's thread.
        var limits: [String: (UInt64, UInt64)] = [:]
        var calls = 0
        func currentLimits() throws -> [(name: String, rate: UInt64, burst: UInt64)] { limits.map { ($0.key, $0.value.0, $0.value.1) } }
        func add(_ p: AddressPrefix, rateBitsPerSecond r: UInt64, burstBytes b: UInt64?) throws { calls += 1; limits[p.description] = (r, b ?? 0) }
        func remove(_ p: AddressPrefix) throws { calls += 1; limits[p.description] = nil }
        func setDefault(rateBitsPerSecond r: UInt64?, burstBytes b: UInt64?) throws { calls += 1; limits["default"] = r.map { ($0, b ?? 0) } }
    }

    @Test func applierChangesOnlyTheDifference() throws {
        let t = FakeTarget()
        var s = EffectiveState()
        s.limits[try AddressPrefix("10.1.0.0/16")] = DesiredLimit(prefix: try AddressPrefix("10.1.0.0/16"), rateBitsPerSecond: 8_000_000, burstBytes: nil)
        s.defaultRate = 1_000_000
        let first = try LimitApplier.apply(s, to: t)
        #expect(first.added == 1 && first.defaultChanged && t.calls == 2)
        let again = try LimitApplier.apply(s, to: t)
        #expect(!again.changedAnything && t.calls == 2)
        s.limits = [:]
        s.defaultRate = nil
        let gone = try LimitApplier.apply(s, to: t)
        #expect(gone.removed == 1 && gone.defaultChanged && t.limits.isEmpty)
    }

    @Test func keyLayoutAndNames() throws {
        let l = try KeyLayout(prefix: "/fleet/")
        #expect(l.desiredNode("edge-1") == "/fleet/desired/node/edge-1/")
        #expect(throws: FleetError.self) { try KeyLayout(prefix: "fleet") }
        #expect(throws: FleetError.self) { try KeyLayout.checkNodeName("a/b") }
        #expect(FleetOperator.name(for: try AddressPrefix("10.1.0.0/16")) == "10.1.0.0_16")
    }

    @Test func prometheusConfigListsAliveNodes() {
        let nodes = [FleetOperator.NodeView(node: "a", alive: true, metrics: "http://10.0.0.1:9560/metrics"),
                     FleetOperator.NodeView(node: "b", alive: false, metrics: "http://10.0.0.2:9560/metrics")]
        let text = FleetOperator.prometheusConfig(nodes: nodes)
        #expect(text.contains("10.0.0.1:9560") && !text.contains("10.0.0.2"))
    }

    @Test func httpAndVLANValuesParseAndConflict() throws {
        let admin = try HTTPBlockEntry.path("/admin"), example = try HTTPBlockEntry.host("example.com")
        let mac1 = try EthernetAddress("02:00:00:00:00:01")
        let b = try parse("http/x", #"{"path":"/admin","nodes":"edge-*"}"#)
        #expect(b.controller == "http" && b.block == admin && b.nodes == "edge-*")
        let h = try parse("http/h", #"{"host":"Example.COM:8080"}"#)
        #expect(h.block == example)
        let v = try parse("vlan/c", #"{"mac":"02-00-00-00-00-01","worker":"w1"}"#)
        #expect(v.vlanClient?.mac == mac1 && v.vlanClient?.worker == "w1")
        #expect(reason("http/a", #"{}"#).contains("exactly one"))
        #expect(reason("http/a", #"{"path":"a b"}"#).contains("spaces"))
        #expect(reason("vlan/a", #"{"mac":"ff:ff:ff:ff:ff:ff","worker":"w1"}"#).contains("unicast"))
        #expect(reason("vlan/a", #"{"mac":"02:00:00:00:00:01","worker":"a/b"}"#).contains("not an interface name"))
        // The same NAME under two controllers is two keys; two names for one MAC: the later is refused.
        let all = [try parse("ratelimit/x", #"{"prefix":"10.9.0.0/16","rate":"1mbit"}"#), try parse("http/x", #"{"path":"/x"}"#),
                   try parse("vlan/a", #"{"mac":"02:00:00:00:00:01","worker":"w1"}"#),
                   try parse("vlan/b", #"{"mac":"02:00:00:00:00:01","worker":"w2"}"#)]
        let own = [try parse("http/x", #"{"path":"/y"}"#)]
        let (s, errors) = DesiredState.effective(node: "n", all: all, own: own)
        let y = try HTTPBlockEntry.path("/y")
        #expect(s.limits.count == 1 && s.blocks == [y])
        #expect(s.vlanClients == [mac1: "w1"])
        #expect(errors == ["all/vlan/b": "client 02:00:00:00:00:01 is already mapped by 'a'"])
        #expect(s.origin["http path /y"] == "node/n/http/x" && s.origin["vlan 02:00:00:00:00:01"] == "all/vlan/a")
        let odd = try HTTPBlockEntry.path("/a/b%c")
        #expect(FleetOperator.name(for: odd) == "path-%2Fa%2Fb%25c")
    }

    /// In-memory block list and VLAN client map: the appliers change only what differs.
    final class FakeControllers: HTTPBlockTarget, VLANClientTarget, Sendable {
        struct State { var blocks: Set<HTTPBlockEntry> = []; var clients: [EthernetAddress: String] = [:]; var calls = 0 }
        let state = Mutex(State())
        var blocks: Set<HTTPBlockEntry> { state.withLock { $0.blocks } }
        var clients: [EthernetAddress: String] { state.withLock { $0.clients } }
        var calls: Int { state.withLock { $0.calls } }
        func listing() throws -> [HTTPBlockListing] { blocks.map { HTTPBlockListing(entry: $0, hits: 0, lastHitNanoseconds: 0) } }
        func add(_ e: HTTPBlockEntry) throws { state.withLock { $0.calls += 1; _ = $0.blocks.insert(e) } }
        func remove(_ e: HTTPBlockEntry) throws -> Bool { state.withLock { $0.calls += 1; return $0.blocks.remove(e) != nil } }
        func clientMap() throws -> [EthernetAddress: String] { clients }
        func setClient(_ mac: EthernetAddress, worker: String) throws {
            guard worker != "bad" else { throw FleetError("worker 'bad' is not attached") }
            state.withLock { $0.calls += 1; $0.clients[mac] = worker }
        }
        func removeClient(_ mac: EthernetAddress) throws -> Bool { state.withLock { $0.calls += 1; return $0.clients.removeValue(forKey: mac) != nil } }
    }

    @Test func controllerApplierChangesOnlyTheDifference() throws {
        let t = FakeControllers()
        let a = try HTTPBlockEntry.path("/a"), b = try HTTPBlockEntry.host("b.example")
        #expect(try ControllerApplier.apply(blocks: [a, b], to: t).added == 2)
        #expect(try !ControllerApplier.apply(blocks: [a, b], to: t).changedAnything && t.calls == 2)
        let o = try ControllerApplier.apply(blocks: [b], to: t)
        #expect(o.removed == 1 && o.added == 0 && t.blocks == [b])
        let m1 = try EthernetAddress("02:00:00:00:00:01"), m2 = try EthernetAddress("02:00:00:00:00:02")
        let v = try ControllerApplier.apply(vlanClients: [m1: "w1", m2: "bad"], to: t)
        #expect(v.added == 1 && v.errors.keys.sorted() == ["vlan 02:00:00:00:00:02"])
        let moved = try ControllerApplier.apply(vlanClients: [m1: "w2"], to: t)
        #expect(moved.moved == 1 && t.clients == [m1: "w2"])
    }

    // MARK: placements

    @Test func placementsParseWithDefaults() throws {
        let rl = try parse("placement/edge", #"{"controller":"ratelimit","interface":"eth0","netns":"ns1","direction":"ingress","key":"source","nodes":"edge-*"}"#)
        #expect(rl.placement == Placement(controller: .ratelimit, interface: "eth0", netns: "ns1", direction: .ingress, keyOn: .source))
        #expect(rl.nodes == "edge-*" && rl.key == "placement/edge")
        let plain = try parse("placement/p", #"{"controller":"ratelimit","interface":"eth0"}"#)
        #expect(plain.placement == Placement(controller: .ratelimit, interface: "eth0", netns: nil, direction: .egress, keyOn: .destination))
        let http = try parse("placement/h", #"{"controller":"http-block","interface":"eth1"}"#)
        #expect(http.placement?.direction == .ingress && http.placement?.controller == .httpBlock)
        // What `netbpf fleet place` writes parses back to the same placement.
        let p = Placement(controller: .ratelimit, interface: "fla", netns: "n", direction: .ingress, keyOn: .source)
        let data = try JSONSerialization.data(withJSONObject: p.value(nodes: "*"))
        #expect(try DesiredState.parse(relativeKey: "placement/" + p.defaultName, value: data).placement == p)
        #expect(p.defaultName == "ratelimit-n-fla")
        let vl = Placement(controller: .vlanLearning, interface: "trunk", netns: "sw", workers: ["w0", "w1"])
        let vlData = try JSONSerialization.data(withJSONObject: vl.value(nodes: nil))
        #expect(try DesiredState.parse(relativeKey: "placement/v", value: vlData).placement == vl)
        #expect(try parse("placement/v", #"{"controller":"vlan-learning","interface":"trunk","netns":"sw","workers":["w0","w1"]}"#).placement == vl)
        #expect(vl.place == "vlan-learning on trunk (workers w0, w1) (netns sw)")
    }

    @Test func badPlacementsAreRefusedWithTheirReason() {
        #expect(reason("placement/a", #"{"controller":"bgp","interface":"eth0"}"#).contains("controller 'bgp' cannot be placed"))
        #expect(reason("placement/a", #"{"controller":"vlan","interface":"eth0"}"#).contains("one of: ratelimit, http-block, vlan-learning"))
        #expect(reason("placement/a", #"{"controller":"vlan-learning","interface":"trunk"}"#).contains("'workers' is required"))
        #expect(reason("placement/a", #"{"controller":"vlan-learning","interface":"trunk","workers":"w0,trunk"}"#).contains("cannot be a worker"))
        #expect(reason("placement/a", #"{"controller":"vlan-learning","interface":"trunk","workers":"w0,w0"}"#).contains("named twice"))
        #expect(reason("placement/a", #"{"controller":"vlan-learning","interface":"trunk","workers":"w0","key":"source"}"#).contains("no 'direction' or 'key'"))
        #expect(reason("placement/a", #"{"controller":"ratelimit","interface":"eth0","workers":"w0"}"#).contains("'workers' is a VLAN learning setting"))
        #expect(reason("placement/a", #"{"controller":"vlan-learning","interface":"trunk","workers":[1]}"#).contains("list of strings"))
        #expect(reason("placement/a", #"{"controller":"ratelimit"}"#).contains("'interface' is required"))
        #expect(reason("placement/a", #"{"interface":"eth0"}"#).contains("'controller' is required"))
        #expect(reason("placement/a", #"{"controller":"ratelimit","interface":"a b"}"#).contains("not an interface name"))
        #expect(reason("placement/a", #"{"controller":"ratelimit","interface":"averyveryverylongname"}"#).contains("not an interface name"))
        #expect(reason("placement/a", #"{"controller":"ratelimit","interface":"eth0","direction":"up"}"#).contains("direction"))
        #expect(reason("placement/a", #"{"controller":"ratelimit","interface":"eth0","key":"port"}"#).contains("key: 'port'"))
        #expect(reason("placement/a", #"{"controller":"http-block","interface":"eth0","direction":"egress"}"#).contains("ingress only"))
        #expect(reason("placement/a", #"{"controller":"ratelimit","interface":"eth0","netns":"../x"}"#).contains("netns"))
        #expect(reason("placement/a", #"{"controller":"ratelimit","interface":"eth0","shape":"yes"}"#).contains("unknown key 'shape'"))
    }

    @Test func placementsOverrideSelectAndConflict() throws {
        let all = [try parse("placement/a", #"{"controller":"ratelimit","interface":"eth0","nodes":"edge-*"}"#),
                   try parse("placement/b", #"{"controller":"ratelimit","interface":"eth1"}"#),
                   try parse("placement/h", #"{"controller":"http-block","interface":"eth0","nodes":"core-*"}"#),
                   try parse("ratelimit/x", #"{"prefix":"10.0.0.0/8","rate":"1mbit"}"#)]
        // edge-1: a and b are both rate limiters: the later key is refused.
        let (edge, edgeErrors) = DesiredState.placements(node: "edge-1", all: all, own: [])
        #expect(edge.keys.sorted() == ["a"] && edgeErrors.keys.sorted() == ["all/placement/b"])
        #expect(edgeErrors["all/placement/b"]?.contains("already has a ratelimit placement ('a')") == true)
        // core-1: b and h; a node key overrides b's interface.
        let own = [try parse("placement/b", #"{"controller":"ratelimit","interface":"eth7"}"#)]
        let (core, coreErrors) = DesiredState.placements(node: "core-1", all: all, own: own)
        #expect(coreErrors.isEmpty && core.keys.sorted() == ["b", "h"])
        #expect(core["b"]?.0.interface == "eth7" && core["b"]?.1 == "node/core-1/placement/b")
        // Placements do not leak into the limits.
        let (state, _) = DesiredState.effective(node: "core-1", all: all, own: own)
        #expect(state.limits.count == 1 && state.defaultRate == nil)
    }
}
