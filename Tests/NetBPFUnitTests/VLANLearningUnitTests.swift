import Foundation
import Testing
import CNetBPFProgramTypes
import NetBPF
@testable import NetBPFCLI
@testable import NetBPFControllers
import NetBPFSim
import NetBPFTestSupport

/// VLAN learning without root: MAC addresses, --map arguments and config files (each bad value
/// named in a one-line error), the structs of vlan_learning.h against the compiled
/// object, the report built from map contents, and the vlan-learning topology.
struct VLANLearningUnitTests {
    // MARK: MAC addresses

    @Test(arguments: [
        ("02:00:00:00:00:01", "02:00:00:00:00:01"), ("02-00-00-00-00-0A", "02:00:00:00:00:0a"),
        ("2:0:0:0:0:1", "02:00:00:00:00:01"), ("020000000001", "02:00:00:00:00:01"),
        ("0200.0000.00ff", "02:00:00:00:00:ff"), (" AA:bb:CC:dd:EE:ff ", "aa:bb:cc:dd:ee:ff"),
    ])
    func macFormats(text: String, canonical: String) throws {
        #expect(try EthernetAddress(text).description == canonical)
    }

    @Test(arguments: ["", "02:00:00:00:00", "02:00:00:00:00:01:02", "02:00:00:00:00:0g", "002:00:00:00:00:01",
                      "02:00:00-00:00:01", "02::00:00:00:01", "0200000000011", "0200.0000.001", "hello", "02 00 00 00 00 01"])
    func badMACsAreNamed(text: String) {
        let e = #expect(throws: ControllerError.self) { try EthernetAddress(text) }
        #expect(e?.message == "'\(text)' is not a MAC address")
        #expect(e?.description.contains("hint: six hex bytes") == true)
    }

    @Test func groupAndZeroBits() throws {
        #expect(try EthernetAddress("ff:ff:ff:ff:ff:ff").isGroup)
        #expect(try EthernetAddress("01:00:5e:00:00:01").isGroup)
        #expect(try !EthernetAddress("02:00:00:00:00:01").isGroup)
        #expect(try EthernetAddress("00:00:00:00:00:00").isZero)
    }

    // MARK: --trunk and --map

    @Test func mapArguments() throws {
        let c = try VLANLearningConfig.fromArguments(trunk: "trunk", maps: ["02:00:00:00:00:00=w0", "020000000001=w1", "02:00:00:00:00:02=w0"], namespace: "ns")
        #expect(c.trunk == "trunk" && c.namespace == "ns")
        #expect(c.clients.map(\.mac.description) == ["02:00:00:00:00:00", "02:00:00:00:00:01", "02:00:00:00:00:02"])
        #expect(c.clients.map(\.worker) == ["w0", "w1", "w0"])
        #expect(c.workers == ["w0", "w1"])
    }

    @Test(arguments: [
        (["02:00:00:00:00:0x=w0"], "--map '02:00:00:00:00:0x=w0': '02:00:00:00:00:0x' is not a MAC address"),
        (["02:00:00:00:00:01"], "--map '02:00:00:00:00:01' is not MAC=WORKER_IFACE"),
        (["02:00:00:00:00:01=w0", "02-00-00-00-00-01=w1"], "--map '02-00-00-00-00-01=w1': client 02:00:00:00:00:01 is mapped twice (first to w0)"),
        (["ff:ff:ff:ff:ff:ff=w0"], "--map 'ff:ff:ff:ff:ff:ff=w0': ff:ff:ff:ff:ff:ff is a multicast or broadcast address"),
        (["00:00:00:00:00:00=w0"], "--map '00:00:00:00:00:00=w0': 00:00:00:00:00:00 is not a client MAC"),
        (["02:00:00:00:00:01=trunk"], "--map '02:00:00:00:00:01=trunk': worker interface 'trunk' is the trunk"),
        (["02:00:00:00:00:01="], "--map '02:00:00:00:00:01=': '' is not an interface name"),
        (["02:00:00:00:00:01=a-very-long-name0"], "'a-very-long-name0' is not an interface name"),
        ([String](), "give at least one --map MAC=WORKER_IFACE"),
    ])
    func badMapArguments(maps: [String], says: String) {
        let e = #expect(throws: ControllerError.self) { try VLANLearningConfig.fromArguments(trunk: "trunk", maps: maps, namespace: nil) }
        #expect(e?.description.contains(says) == true, "\(e?.description ?? "no error")")
        #expect(e?.description.contains("\n") == false)
    }

    @Test func missingTrunkAndTooManyClientsPerWorker() {
        let e = #expect(throws: ControllerError.self) { try VLANLearningConfig.fromArguments(trunk: nil, maps: ["02:00:00:00:00:01=w0"], namespace: nil) }
        #expect(e?.message.contains("--trunk is required") == true)
        let nine = (1...9).map { String(format: "02:00:00:00:00:%02x=w0", $0) }
        let f = #expect(throws: ControllerError.self) { try VLANLearningConfig.fromArguments(trunk: "t", maps: nine, namespace: nil) }
        #expect(f?.description.contains("--map '02:00:00:00:00:09=w0': worker 'w0' has more than 8 clients") == true, "\(f?.description ?? "")")
    }

    // MARK: Config files

    func write(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("vl-\(UUID().uuidString).yaml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func goodConfigWithUnquotedMACs() throws {
        // 12:34:56:00:00:01 unquoted would be a base-60 integer for a YAML 1.1 resolver.
        let path = try write("""
        trunk: trunk
        netns: nb-vlan-learning-sw-workers
        clients:
          02:00:00:00:00:00: w0
          "02:00:00:00:00:01": w1
          12:34:56:00:00:01: w2
          020000000003: w2
        """)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let c = try VLANLearningConfig.load(path: path)
        #expect(c.trunk == "trunk" && c.namespace == "nb-vlan-learning-sw-workers")
        #expect(c.clients == [
            .init(mac: try EthernetAddress("02:00:00:00:00:00"), worker: "w0"), .init(mac: try EthernetAddress("02:00:00:00:00:01"), worker: "w1"),
            .init(mac: try EthernetAddress("12:34:56:00:00:01"), worker: "w2"), .init(mac: try EthernetAddress("02:00:00:00:00:03"), worker: "w2"),
        ])
    }

    @Test(arguments: [
        ("trunk: t\nclients:\n  02:00:00:00:00:0g: w0\n", ":3: clients.02:00:00:00:00:0g: '02:00:00:00:00:0g' is not a MAC address"),
        ("trunk: t\nclients:\n  02:00:00:00:00:01: w0\n  02:00:00:00:00:01: w1\n", ":4: clients.02:00:00:00:00:01: client 02:00:00:00:00:01 is mapped twice"),
        ("trunk: t\nclients:\n  02:00:00:00:00:01: [w0]\n", ":3: clients.02:00:00:00:00:01: the value must be the worker's interface name"),
        ("trunk: t\nclients: [02:00:00:00:00:01]\n", ":2: clients: must be a mapping of client MAC to worker interface"),
        ("trunk: t\nclients:\n  01:00:5e:00:00:01: w0\n", ":3: clients.01:00:5e:00:00:01: 01:00:5e:00:00:01 is a multicast or broadcast address"),
        ("trunk: t\nclients:\n  02:00:00:00:00:01: t\n", "worker interface 't' is the trunk"),
        ("clients:\n  02:00:00:00:00:01: w0\n", "trunk: required"),
        ("trunk: t\n", "clients: required"),
        ("trunk: t\nclients: {}\n", "no clients"),
        ("trunk: t\ntrnk: u\nclients: {02:00:00:00:00:01: w0}\n", ":2: trnk: unknown key; hint: known keys: trunk, netns, clients"),
        ("trunk: [a, b]\nclients: {02:00:00:00:00:01: w0}\n", ":1: trunk: must be an interface or namespace name"),
        ("trunk: t\nclients: {02:00:00:00:00:01: w0\n", "not valid YAML"),
        ("- trunk\n", "the top level must be a mapping"),
    ])
    func badConfigNamesTheLineKeyAndValue(text: String, says: String) throws {
        let path = try write(text)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let e = #expect(throws: ControllerError.self) { try VLANLearningConfig.load(path: path) }
        #expect(e?.description.contains(says) == true, "\(e?.description ?? "no error")")
        #expect(e?.description.hasPrefix(path) == true)
        #expect(e?.description.contains("\n") == false)
    }

    @Test func missingConfigFile() {
        let e = #expect(throws: ControllerError.self) { try VLANLearningConfig.load(path: "/nonexistent/vl.yaml") }
        #expect(e?.description == "/nonexistent/vl.yaml: cannot read the file")
    }

    // MARK: Shared layouts

    /// The imported structs have the sizes of the maps' keys and values in the compiled object.
    @Test func structsMatchTheCompiledObject() throws {
        let spec = try BPFObjectSpec.open(path: try TestPrograms.object("vlan_learning"))
        let maps = Dictionary(uniqueKeysWithValues: spec.maps.map { ($0.name, $0) })
        func check<K, V>(_ name: String, _: K.Type, _: V.Type) {
            #expect(maps[name]?.keySize == UInt32(MemoryLayout<K>.size), "\(name) key")
            #expect(maps[name]?.valueSize == UInt32(MemoryLayout<V>.size), "\(name) value")
        }
        check(VLANLearningProgram.clientsMap, vl_mac.self, vl_client.self)
        check(VLANLearningProgram.learnedMap, vl_mac.self, vl_learned.self)
        check(VLANLearningProgram.workersMap, UInt32.self, vl_worker.self)
        check(VLANLearningProgram.statsMap, vl_mac.self, vl_counters.self)
        check(VLANLearningProgram.totalsMap, UInt32.self, vl_total.self)
        check(VLANLearningProgram.unknownMap, vl_unknown_key.self, vl_unknown.self)
        #expect(maps[VLANLearningProgram.totalsMap]?.maxEntries == UInt32(VLANLearningReport.Outcome.allCases.count))
        #expect(VLANLearningReport.Outcome.allCases.count == Int(VL_OUTCOMES.rawValue))
        #expect(maps[VLANLearningProgram.statsMap]?.type == .perCPUHash)
        #expect(Set(spec.programs.map(\.name)) == [VLANLearningProgram.trunkProgram, VLANLearningProgram.workerProgram])
        // The flood list holds VL_MAX_CLIENTS_PER_WORKER MACs.
        #expect(MemoryLayout<vl_worker>.size == 8 + VLLimits.clientsPerWorker * 8)
    }

    // MARK: The report

    @Test func reportFromMapContents() throws {
        let config = try VLANLearningConfig.fromArguments(trunk: "trunk", maps: ["02:00:00:00:00:00=w0", "02:00:00:00:00:01=w1"], namespace: "ns")
        let interfaces = VLANLearner.Interfaces(trunk: 2, workers: ["w0": 3, "w1": 4], names: [2: "trunk", 3: "w0", 4: "w1"])
        let a = try EthernetAddress("02:00:00:00:00:00"), b = try EthernetAddress("02:00:00:00:00:01")
        var s = VLANLearningSnapshot()
        // VLAN 10 with priority 5 (TCI 0xa00a), 802.1Q in network byte order.
        s.learned[a] = vl_learned(trunk_ifindex: 2, vlan_tci: 0xA00A, vlan_proto: UInt16(0x8100).bigEndian, first_seen_ns: 1_000_000_000,
                                  last_seen_ns: 9_500_000_000, moves: 1, pad: 0)
        s.stats[a] = vl_counters(rx_packets: 5, rx_bytes: 490, tx_packets: 4, tx_bytes: 392)
        s.unknown = [
            (vl_unknown_key(addr: (2, 0, 0, 0, 0xee, 1), reason: 4, pad: 0), vl_unknown(packets: 2, bytes: 120, last_seen_ns: 8_000_000_000, ifindex: 2, vlan_tci: 40, pad: 0)),
            (vl_unknown_key(addr: (2, 0, 0, 0, 0, 1), reason: 3, pad: 0), vl_unknown(packets: 1, bytes: 60, last_seen_ns: 7_000_000_000, ifindex: 2, vlan_tci: 0, pad: 0)),
            (vl_unknown_key(addr: (2, 0, 0, 0, 0, 9), reason: 99, pad: 0), vl_unknown(packets: 1, bytes: 1, last_seen_ns: 0, ifindex: 2, vlan_tci: 0, pad: 0)),
        ]
        s.totals = (0..<10).map { vl_total(packets: UInt64($0), bytes: UInt64($0 * 100)) }
        let r = VLANLearningReport.make(config: config, interfaces: interfaces, snapshot: s, monotonicNow: 10_000_000_000, time: Date(timeIntervalSince1970: 1000))
        #expect(r.clients.count == 2)
        let ca = try #require(r.client(a))
        #expect(ca.worker == "w0" && ca.rxPackets == 5 && ca.rxBytes == 490 && ca.txPackets == 4 && ca.txBytes == 392)
        #expect(ca.learned == .init(vlan: 10, priority: 5, proto: "802.1Q", trunk: "trunk", firstSeenSecondsAgo: 9, lastSeenSecondsAgo: 0.5, moves: 1))
        let cb = try #require(r.client(b))
        #expect(cb.learned == nil && cb.rxPackets == 0 && cb.txPackets == 0)
        // Unknown reasons map to outcomes; an out-of-range reason is skipped; untagged has no VLAN.
        #expect(r.unknown.map(\.mac.description) == ["02:00:00:00:00:01", "02:00:00:00:ee:01"])
        #expect(r.unknown.map(\.reason) == [.untagged, .unknownSource])
        #expect(r.unknown.map(\.vlan) == [nil, 40])
        #expect(r.unknown[1].lastSeenSecondsAgo == 2 && r.unknown[1].interface == "trunk")
        #expect(r.total(.flooded)?.packets == 2 && r.total(.error)?.bytes == 900)
        #expect(VLANLearningReport.Outcome.allCases.filter(\.isDrop).count == 7)

        let text = ReportWriter.text(r, final: true)
        #expect(text.contains("(final)"))
        #expect(text.contains("02:00:00:00:00:00  w0      10 (moved 1x)  trunk"), "\(text)")
        #expect(text.contains("02:00:00:00:ee:01  unknown-source  trunk      40"), "\(text)")
        #expect(text.contains("totals: to-trunk 1, flooded 2, untagged 3"), "\(text)")
    }

    // MARK: The topology

    @Test func vlanLearningTopologyLeavesTheWorkersSideToTheController() throws {
        let t = try Topology.load(file: TestPrograms.repositoryRoot.path + "/topologies/vlan-learning.yaml")
        #expect(t.name == "vlan-learning")
        let clients = t.hosts.filter { $0.name.hasPrefix("client") }, workers = t.hosts.filter { $0.name.hasPrefix("worker") }
        #expect(clients.count == 3 && workers.count == 3)
        #expect(Set(clients.map { $0.settings(for: "eth0").addresses.description }).count == 1, "clients share one IP")
        #expect(Set(workers.map { $0.settings(for: "eth0").addresses.description }).count == 1, "workers share one IP")
        #expect(workers.allSatisfy { $0.processes.count == 1 })
        #expect(t.host(named: "sw-clients")!.interfaces.compactMap(\.settings.vlanAccess).map(\.vlan) == [10, 20, 30])
        #expect(t.host(named: "sw-workers")!.interfaces.compactMap(\.settings.vlanAccess).isEmpty)
        #expect(t.host(named: "sw-workers")!.interfaces.allSatisfy { $0.settings.bpf.isEmpty })
    }
}
