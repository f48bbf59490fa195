import Foundation
import Testing
import NetBPFCompiler
import NetBPFNetlink
@testable import NetBPFSim
import NetBPFTestSupport

/// Topology files without root: the shipped ones parse and say what their comments say, and bad
/// ones are refused with located one-line errors (file:line:col: key path: problem; hint).
struct SimTopologyTests {
    static let root = TestPrograms.repositoryRoot.path

    func shipped(_ name: String) throws -> Topology {
        try Topology.load(file: Self.root + "/topologies/\(name).yaml")
    }

    /// The problems `text` has, as the CLI prints them (one per line).
    func problems(_ text: String, file: String = "t.yaml") -> [String] {
        do {
            _ = try Topology.parse(text, file: file)
            return []
        } catch let e as SimError {
            #expect(e.code == .invalidTopology)
            return e.issues.map(\.description)
        } catch {
            Issue.record("unexpected error \(error)")
            return []
        }
    }

    // MARK: Shipped topologies

    @Test func pairTopology() throws {
        let t = try shipped("pair")
        #expect(t.name == "pair")
        #expect(t.hosts.map(\.name) == ["h1", "h2"])
        #expect(t.links.count == 1)
        #expect(t.host(named: "h1")?.settings(for: "eth0").addresses.map(\.description) == ["10.0.0.1/24", "fd00::1/64"])
        #expect(t.host(named: "h2")?.settings(for: "eth0").addresses.map(\.description) == ["10.0.0.2/24", "fd00::2/64"])
        #expect(t.namespace(of: "h1") == "nb-pair-h1")
    }

    @Test func neighborSharingTopology() throws {
        let t = try shipped("neighbor-sharing")
        #expect(t.hosts.map(\.name) == ["wan0", "neighbor0", "neighbor1", "neighbor2", "local0", "local1"])
        #expect(t.standaloneBridges.map(\.name) == ["br100"])
        #expect(t.links.count == 6)
        let ends = t.links.map { t.resolve($0).1 }
        #expect(ends.allSatisfy { $0.node == "br100" && $0.bridge == "br100" })
        #expect(ends.map(\.interface).contains("neighbor0-eth0"))
        #expect(t.hosts.filter { !$0.processes.isEmpty }.count == 5)
    }

    @Test func tunnelMeshTopology() throws {
        let t = try shipped("tunnel-mesh")
        #expect(t.hosts.count == 9)
        let vnis = Set(t.hosts.flatMap { $0.vxlans.map(\.vni) })
        #expect(vnis == [10000, 10001, 10002, 10003])
        for (k, h) in t.hosts.enumerated() {
            #expect(h.vxlans.count == 4)
            for v in h.vxlans {
                // Merged from host0's anchors, with the host's own address.
                #expect(v.underlay == "eth0" && v.port == 4789 && v.group?.isMulticast == true)
                #expect(v.settings.addresses.map(\.description) == ["192.168.\(v.vni - 10000).\(k + 1)/24"])
            }
        }
    }

    @Test func vlanTrunkTopology() throws {
        let t = try shipped("vlan-trunk")
        let clients = t.hosts.filter { $0.name.hasPrefix("client") }
        let workers = t.hosts.filter { $0.name.hasPrefix("worker") }
        #expect(clients.count == 3 && workers.count == 3)
        #expect(Set(clients.map { $0.settings(for: "eth0").addresses.description }).count == 1, "clients share one IP")
        #expect(Set(workers.map { $0.settings(for: "eth0").addresses.description }).count == 1, "workers share one IP")
        for sw in ["sw-clients", "sw-workers"] {
            let ports = t.host(named: sw)!.interfaces.compactMap(\.settings.vlanAccess)
            #expect(ports.map(\.vlan) == [10, 20, 30])
            #expect(ports.allSatisfy { $0.trunk == "trunk" })
        }
    }

    @Test func routerTopology() throws {
        let t = try shipped("router")
        let router = t.host(named: "router")!
        #expect(router.sysctls.flatMap(\.paths).contains("net/ipv4/ip_forward"))
        #expect(router.sysctls.flatMap(\.paths).contains("net/ipv6/conf/all/forwarding"))
        #expect(t.host(named: "b1")!.routes.count == 2)
        #expect(t.host(named: "b1")!.routes.allSatisfy { $0.destination == nil })
    }

    // MARK: Bad files

    @Test func unknownKeyHasLineAndSuggestion() {
        let p = problems("""
        hosts:
          h1:
            interfaces:
              eth0: {adresses: [10.0.0.1/24]}
          h2: {}
        links: [[h1:eth0, h2:eth0]]
        """)
        #expect(p == ["t.yaml:4:14: hosts.h1.interfaces.eth0.adresses: unknown key 'adresses'; hint: did you mean 'addresses'? known keys: addresses, mtu, mac, up, bpf, vlan-access"])
    }

    @Test func linkToUndefinedHost() {
        let p = problems("""
        hosts:
          web: {}
          db: {}
        links:
          - [web:eth0, dbb:eth0]
        """)
        #expect(p.count == 1)
        #expect(p.first?.hasPrefix("t.yaml:5:5: links[0]: link endpoint 'dbb:eth0' names host 'dbb', which is not defined; hint: did you mean 'db'?") == true)
    }

    @Test func duplicateNames() {
        let p = problems("""
        hosts:
          h1: {}
          h1: {}
          sw: {}
        bridges:
          sw: {}
        """)
        #expect(p.contains { $0.hasPrefix("t.yaml:3:3: hosts.h1: key given twice (first at line 2)") })
        #expect(p.contains { $0.hasPrefix("t.yaml:6:3: bridges.sw: duplicate name 'sw': a host (line 4) already has it") })
    }

    @Test func interfaceNameTooLong() {
        let p = problems("""
        hosts: {a: {}, b: {}}
        links:
          - [a:this-name-is-too-long, b:eth0]
        """)
        #expect(p == ["t.yaml:3:5: links[0]: interface name 'this-name-is-too-long' is 21 bytes, the kernel allows 15 (IFNAMSIZ 16 with the NUL); hint: use a shorter interface name"])
        // A generated bridge port name that does not fit says how to name it.
        let q = problems("""
        hosts: {averyverylonghostname: {}}
        bridges: {br0: {}}
        links: [[averyverylonghostname:eth0, br0]]
        """)
        #expect(q.count == 1 && q[0].contains("averyverylonghostname-eth0") && q[0].contains("hint: name the bridge-side port yourself: br0:PORTNAME"))
    }

    @Test func badAddressesAndPrefixes() {
        let p = problems("""
        hosts:
          h1:
            interfaces:
              eth0: {addresses: [10.0.0.256/24, 10.0.0.1, 10.0.0.2/40, "fd00::1/129", fd00::2/64]}
        links: [[h1:eth0, h1:eth1]]
        """)
        #expect(p.count == 4)
        #expect(p[0].contains("'10.0.0.256/24' is not an IPv4 or IPv6 address"))
        #expect(p[1].contains("'10.0.0.1' has no prefix length; hint: write 10.0.0.1/24"))
        #expect(p[2].contains("'40' is not a prefix length for IPv4 (0 to 32)"))
        #expect(p[3].contains("'129' is not a prefix length for IPv6 (0 to 128)"))
    }

    @Test func gatewayMustBeOnAConnectedNetwork() {
        let p = problems("""
        hosts:
          h1:
            interfaces: {eth0: {addresses: [10.0.0.1/24]}}
            routes: [{to: default, via: 10.9.9.9}, {to: 10.5.0.0/16, dev: eth7}]
          h2: {}
        links: [[h1:eth0, h2:eth0]]
        """)
        #expect(p.count == 2)
        #expect(p[0].contains("hosts.h1.routes[0]: gateway 10.9.9.9 is not on a network of host 'h1'"))
        #expect(p[1].contains("hosts.h1.routes[1]: route device 'eth7' is not an interface of host 'h1'"))
    }

    @Test func bridgeLoopsAreRefused() {
        let p = problems("""
        hosts: {}
        bridges: {a: {}, b: {}, c: {}}
        links:
          - [a:ab, b:ba]
          - [b:bc, c:cb]
          - [c:ca, a:ac]
        """)
        #expect(p.count == 1)
        #expect(p.first?.hasPrefix("t.yaml:6:5: links[2]: this link closes a loop between bridges") == true)
    }

    @Test func vxlanAndVLANMistakes() {
        let p = problems("""
        hosts:
          h:
            vxlans:
              vx0: {vni: 7, group: 10.1.1.1, underlay: eth0}
              vx1: {vni: 8, remote: 239.1.1.1}
              vx2: {vni: 9}
            interfaces:
              p1: {vlan-access: {vlan: 5, trunk: t}}
              p2: {vlan-access: {vlan: 5, trunk: t}}
              p3: {vlan-access: {vlan: 4095, trunk: t}}
          o: {}
        links: [[h:p1, o:a], [h:p2, o:b], [h:p3, o:c], [h:t, o:t]]
        """)
        #expect(p.contains { $0.contains("hosts.h.vxlans.vx0: underlay 'eth0' is not an interface of host 'h'") })
        #expect(p.contains { $0.contains("group 10.1.1.1 is not a multicast address") })
        #expect(p.contains { $0.contains("remote 239.1.1.1 is a multicast address; hint: write group: 239.1.1.1 instead") })
        #expect(p.contains { $0.contains("hosts.h.vxlans.vx2: VXLAN device 'vx2' needs 'group:' (multicast) or 'remote:' (unicast)") })
        #expect(p.contains { $0.contains("VLAN 5 on trunk 't' already has access port 'p1'") })
        #expect(p.contains { $0.contains("hosts.h.interfaces.p3.vlan-access.vlan: 4095 is out of range for a VLAN id (1...4094)") })
    }

    @Test func oneVXLANDevicePerVNIAndPort() {
        let p = problems("""
        hosts:
          h:
            interfaces: {eth0: {addresses: [10.0.0.1/24]}}
            vxlans:
              a: {vni: 5, remote: 10.0.0.2}
              b: {vni: 5, remote: 10.0.0.3}
              c: {vni: 5, remote: 10.0.0.3, port: 8472}
          o: {}
        links: [[h:eth0, o:eth0]]
        """)
        #expect(p == ["t.yaml:6:7: hosts.h.vxlans.b: VXLAN devices 'a' and 'b' of host 'h' both use VNI 5 on port 4789; hint: the kernel allows one device per VNI and port in a namespace"])
    }

    @Test func yamlSyntaxErrorIsLocated() {
        let p = problems("hosts:\n  h1: {interfaces: [\n  h2: {}\n")
        #expect(p.count == 1)
        #expect(p.first?.hasPrefix("t.yaml:") == true && p.first?.contains("YAML syntax error") == true)
    }

    @Test func emptyAndNonMappingFiles() {
        #expect(problems("").first?.contains("the file is empty") == true)
        #expect(problems("- a\n- b\n").first?.contains("expected a mapping (key: value lines) for the topology") == true)
        #expect(problems("name: x\n") == ["t.yaml:1: hosts: the topology has no hosts; hint: add at least one host under hosts:"])
    }

    @Test func missingProgramFileAndBadHook() {
        let p = problems("""
        hosts:
          h:
            interfaces:
              eth0:
                bpf:
                  - {file: nope.bpf.c, hook: tc-ingress}
                  - {file: nope.bpf.c, hook: tc-sideways}
          o: {}
        links: [[h:eth0, o:eth0]]
        """, file: "/tmp/t.yaml")
        #expect(p.contains { $0.contains("hosts.h.interfaces.eth0.bpf[0]: BPF program file 'nope.bpf.c' not found (/tmp/nope.bpf.c)") })
        #expect(p.contains { $0.contains("hosts.h.interfaces.eth0.bpf[1].hook: unknown hook 'tc-sideways'; hint: one of tc-ingress, tc-egress, xdp") })
    }

    @Test func settingsForAnInterfaceNothingCreates() {
        let p = problems("""
        hosts:
          h1: {interfaces: {eth1: {addresses: [10.0.0.1/24]}}}
          h2: {}
        links: [[h1:eth0, h2:eth0]]
        """)
        #expect(p == ["t.yaml:2:21: hosts.h1.interfaces.eth1: no link or VXLAN device creates interface 'eth1' in host 'h1'; hint: did you mean 'eth0'?"])
    }

    @Test func simulationNameOverrideIsChecked() {
        #expect(throws: SimError.self) { try Topology.parse("hosts: {a: {}}\n", file: "t.yaml", nameOverride: "bad/name") }
        let t = try? Topology.parse("hosts: {a: {}}\n", file: "dir/t.yaml", nameOverride: "copy2")
        #expect(t?.namespace(of: "a") == "nb-copy2-a")
        #expect(Topology.rootInterfacePrefix(simulation: "copy2").utf8.count == 7)
    }

    // MARK: The VLAN program

    @Test func vlanProgramIsTheOneInPrograms() throws {
        // One copy of the program: the simulator compiles programs/vlan_access.bpf.c itself.
        let found = try BundledPrograms.path("vlan_access.bpf.c")
        #expect((found as NSString).standardizingPath == (Self.root + "/" + VLANSwitch.sourcePath as NSString).standardizingPath)
        let spec = try VLANSwitch.open()
        #expect(Set(spec.programs.map(\.name)) == [VLANSwitch.accessProgram, VLANSwitch.trunkProgram])
        #expect(VLANSwitch.portValue(trunkIndex: 7, vlan: 300) == [7, 0, 0, 0, 0x2c, 0x01, 0, 0])
        #expect(VLANSwitch.trunkKey(trunkIndex: 0x01020304, vlan: 10) == [4, 3, 2, 1, 10, 0, 0, 0])
    }
}
