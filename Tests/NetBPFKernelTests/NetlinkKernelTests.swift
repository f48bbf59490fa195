import Foundation
import Glibc
import Testing
import NetBPF
import NetBPFNetlink
import NetBPFTestSupport

/// rtnetlink against the real kernel. Every test works in temporary namespaces that it deletes
/// (also on failure), so nothing it creates (links, qdiscs, filters) outlives it.
@Suite(.serialized, .enabled(if: geteuid() == 0, "requires root: creates namespaces and links"))
struct NetlinkKernelTests {

    // MARK: Namespaces

    @Test func namespaceCreateListExecDelete() throws {
        let name = "nbt-ns-\(getpid())-\(UInt32.random(in: 0...0xFFFF))"
        try NetworkNamespace.create(name)
        var deleted = false
        defer { if !deleted { try? NetworkNamespace.delete(name) } }
        #expect(try NetworkNamespace.list().contains(name))
        let exec = try NetlinkLab.exec(name, ["true"])
        #expect(exec.status == 0, "ip netns exec failed: \(exec.stderr)")
        // iproute2 sees it, and its namespace is a different one from ours.
        #expect(try NetlinkLab.spawn(["/usr/sbin/ip", "netns", "list"]).stdout.contains(name))
        let inside = try withNamespace(name) { try NetlinkSocket().interfaces().map(\.name) }
        #expect(inside == ["lo"])
        // Creating it twice is an error that says so.
        let dup = #expect(throws: NetlinkError.self) { try NetworkNamespace.create(name) }
        #expect(dup?.code == .exists)
        try NetworkNamespace.delete(name)
        deleted = true
        #expect(!NetworkNamespace.exists(name))
        #expect(try !NetworkNamespace.list().contains(name))
        let gone = #expect(throws: NetlinkError.self) { try NetworkNamespace.open(name) }
        #expect(gone?.description.contains("network namespace '\(name)' does not exist") == true)
    }

    @Test func missingInterfaceErrorNamesTheNamespace() throws {
        try NetlinkLab.withNamespaces(1) { ns in
            let nl = try NetlinkSocket(namespace: ns[0])
            let e = #expect(throws: NetlinkError.self) { try nl.interface("veth9") }
            #expect(e?.code == .notFound)
            #expect(e?.description == "RTM_GETLINK 'veth9': interface 'veth9' not found in network namespace '\(ns[0])' (ENODEV)")
            let e2 = #expect(throws: NetlinkError.self) { try nl.setLinkUp("veth9") }
            #expect(e2?.description.contains("interface 'veth9' not found in network namespace '\(ns[0])'") == true)
            let e3 = #expect(throws: NetlinkError.self) { try nl.ensureClsact(on: "veth9") }
            #expect(e3?.code == .notFound)
        }
    }

    // MARK: Links, addresses, routes

    @Test func vethAcrossNamespacesWithAddressesPings() throws {
        try NetlinkLab.withNamespaces(2) { ns in
            let left = try NetlinkSocket(namespace: ns[0])
            let right = try NetlinkSocket(namespace: ns[1])
            try left.createVeth("v0", peer: "v1", peerNamespace: try NetworkNamespace.open(ns[1]), mtu: 1400)
            #expect(try !left.interfaceExists("v1"))
            let v1 = try right.interface("v1")
            #expect(v1.kind == "veth")
            #expect(v1.mtu == 1400)
            #expect(v1.linkNetnsID != nil)

            try left.setMTU("v0", 1450)
            try right.setMTU("v1", 1450)
            try left.setMACAddress("v0", MACAddress("02:00:00:00:00:01")!)
            try left.addAddress(IPPrefix("10.98.0.1/24")!, to: "v0")
            try right.addAddress(IPPrefix("10.98.0.2/24")!, to: "v1")
            try left.addAddress(IPPrefix("fd98::1/64")!, to: "v0")
            try right.addAddress(IPPrefix("fd98::2/64")!, to: "v1")
            try left.setLinkUp("v0")
            try right.setLinkUp("v1")
            try left.setLinkUp("lo")

            let v0 = try left.interface("v0")
            #expect(v0.mtu == 1450 && v0.isUp)
            #expect(v0.macAddress?.description == "02:00:00:00:00:01")
            let addrs = try left.addresses(on: "v0")
            #expect(addrs.contains { $0.prefix.description == "10.98.0.1/24" && $0.broadcast?.description == "10.98.0.255" })
            #expect(addrs.contains { $0.prefix.description == "fd98::1/64" })
            let dup = #expect(throws: NetlinkError.self) { try left.addAddress(IPPrefix("10.98.0.1/24")!, to: "v0") }
            #expect(dup?.code == .exists)

            // A route to a further network via the peer, and a default route.
            try left.addRoute(RouteSpec(destination: IPPrefix("10.50.0.0/16"), gateway: IPAddress("10.98.0.2")))
            try right.addRoute(RouteSpec(gateway: IPAddress("10.98.0.1"), interface: "v1"))
            let lroutes = try left.routes()
            #expect(lroutes.contains { $0.destination?.description == "10.50.0.0/16" && $0.gateway?.description == "10.98.0.2" && $0.outputInterfaceIndex == v0.index })
            #expect(lroutes.contains { $0.destination?.description == "10.98.0.0/24" && $0.scope == 253 })
            #expect(try right.routes().contains { $0.isDefault && $0.gateway?.description == "10.98.0.1" })
            #expect(try NetlinkLab.exec(ns[0], ["ip", "route", "show", "10.50.0.0/16"]).stdout.contains("via 10.98.0.2 dev v0"))

            #expect(try NetlinkLab.ping(from: ns[0], "10.98.0.2"))
            #expect(try NetlinkLab.ping(from: ns[1], "fd98::1"))

            try left.deleteRoute(RouteSpec(destination: IPPrefix("10.50.0.0/16"), gateway: IPAddress("10.98.0.2")))
            #expect(try !left.routes().contains { $0.destination?.description == "10.50.0.0/16" })
            let noRoute = #expect(throws: NetlinkError.self) {
                try left.deleteRoute(RouteSpec(destination: IPPrefix("10.50.0.0/16"), gateway: IPAddress("10.98.0.2")))
            }
            #expect(noRoute?.code == .notFound)
            try left.deleteAddress(IPPrefix("10.98.0.1/24")!, from: "v0")
            #expect(try !left.addresses(on: "v0").contains { $0.prefix.description == "10.98.0.1/24" })
            #expect(try !NetlinkLab.ping(from: ns[1], "10.98.0.1", count: 1))

            // Moving the link: v0 joins v1 in the second namespace; deleting one end deletes both.
            try left.moveLink("v0", to: try NetworkNamespace.open(ns[1]))
            #expect(try !left.interfaceExists("v0"))
            #expect(try right.interfaceExists("v0"))
            try right.deleteLink("v0")
            #expect(try right.interfaces().map(\.name) == ["lo"])
        }
    }

    @Test func bridgeWithTwoVethsForwards() throws {
        // h1 (10.97.0.1) --veth-- [br0 in sw] --veth-- h2 (10.97.0.2)
        try NetlinkLab.withNamespaces(3) { ns in
            let sw = try NetlinkSocket(namespace: ns[0])
            try sw.createBridge("br0")
            for (i, host) in [ns[1], ns[2]].enumerated() {
                let port = "p\(i + 1)"
                try sw.createVeth(port, peer: "eth0", peerNamespace: try NetworkNamespace.open(host))
                try sw.setMaster(.name(port), "br0")
                try sw.setLinkUp(.name(port))
                let h = try NetlinkSocket(namespace: host)
                try h.addAddress(IPPrefix("10.97.0.\(i + 1)/24")!, to: "eth0")
                try h.setLinkUp("eth0")
            }
            try sw.setLinkUp("br0")
            let br = try sw.interface("br0")
            #expect(br.kind == "bridge")
            let ports = try sw.interfaces().filter { $0.masterIndex == br.index }
            #expect(ports.map(\.name).sorted() == ["p1", "p2"])
            #expect(ports.allSatisfy { $0.portKind == "bridge" })
            #expect(try NetlinkLab.exec(ns[0], ["ip", "-o", "link", "show", "master", "br0"]).stdout.contains("p1"))
            #expect(try NetlinkLab.ping(from: ns[1], "10.97.0.2"))
            try sw.setMaster("p2", nil)
            #expect(try sw.interface("p2").masterIndex == nil)
            #expect(try !NetlinkLab.ping(from: ns[1], "10.97.0.2", count: 1))
        }
    }

    @Test func vxlanAttributesReadBack() throws {
        try NetlinkLab.withNamespaces(2) { ns in
            let nl = try NetlinkSocket(namespace: ns[0])
            try nl.createVeth("under0", peer: "under1", peerNamespace: try NetworkNamespace.open(ns[1]))
            try nl.addAddress(IPPrefix("10.96.0.1/24")!, to: "under0")
            try nl.createVXLAN("vx0", VXLANOptions(vni: 4242, remote: IPAddress("10.96.0.2"), local: IPAddress("10.96.0.1"),
                                                  port: 4789, underlay: "under0", learning: false, ttl: 16))
            let vx = try nl.interface("vx0")
            #expect(vx.kind == "vxlan")
            let info = try #require(vx.vxlan)
            #expect(info.vni == 4242)
            #expect(info.remote?.description == "10.96.0.2")
            #expect(info.local?.description == "10.96.0.1")
            #expect(info.port == 4789)
            #expect(info.underlayIndex == (try nl.interface("under0").index))
            #expect(info.learning == false)
            #expect(info.external == false)
            #expect(info.ttl == 16)
            let shown = try NetlinkLab.exec(ns[0], ["ip", "-d", "link", "show", "vx0"]).stdout
            #expect(shown.contains("vxlan id 4242 remote 10.96.0.2 local 10.96.0.1 dev under0"))
            #expect(shown.contains("dstport 4789"))

            try nl.createVXLAN("vxext", VXLANOptions(port: 4790, external: true))
            let ext = try #require(try nl.interface("vxext").vxlan)
            #expect(ext.external)
            #expect(ext.vni == nil)
            #expect(ext.port == 4790)
            #expect(try NetlinkLab.exec(ns[0], ["ip", "-d", "link", "show", "vxext"]).stdout.contains("external"))

            let bad = #expect(throws: NetlinkError.self) { try nl.createVXLAN("vxbad", VXLANOptions(vni: 1, external: true)) }
            #expect(bad?.code == .invalidArgument)
            let dup = #expect(throws: NetlinkError.self) { try nl.createVXLAN("vx0", VXLANOptions(vni: 7)) }
            #expect(dup?.code == .exists)
            try nl.deleteLink("vx0")
            try nl.deleteLink("vxext")
            #expect(try !nl.interfaceExists("vx0"))
        }
    }

    // MARK: tc

    @Test func clsactCreatedFlagAndDelete() throws {
        try NetlinkLab.withVethPair { ns, left, _ in
            #expect(try left.ensureClsact(on: "a") == true)
            #expect(try left.qdiscs(on: "a").contains { $0.kind == "clsact" && $0.parent == .clsact && $0.handle == .clsactQdisc })
            // Already there: EEXIST means someone else's, and we say we did not create it.
            #expect(try left.ensureClsact(on: "a") == false)
            try left.deleteClsact(on: "a")
            #expect(try !left.qdiscs(on: "a").contains { $0.kind == "clsact" })
            // Created by another tool: not ours.
            #expect(try NetlinkLab.exec(ns[0], ["tc", "qdisc", "add", "dev", "a", "clsact"]).status == 0)
            #expect(try left.ensureClsact(on: "a") == false)
            try left.deleteClsact(on: "a")
            let gone = #expect(throws: NetlinkError.self) { try left.deleteClsact(on: "a") }
            #expect(gone?.code == .notFound, "\(gone?.description ?? "")")
            // An ingress qdisc holds the slot: said plainly.
            try left.addQdisc(.ingress, on: "a")
            let blocked = #expect(throws: NetlinkError.self) { try left.ensureClsact(on: "a") }
            #expect(blocked?.description.contains("'ingress' qdisc occupies ffff:") == true)
            try left.deleteQdisc(on: "a", parent: .ingress, kind: "ingress")
            // Parent 0 is never sent.
            let zero = #expect(throws: NetlinkError.self) {
                try left.addQdisc(.htb(HTBOptions()), on: "a", parent: .unspecified, handle: TCHandle("1:"))
            }
            #expect(zero?.code == .invalidArgument)
        }
    }

    @Test func clsBPFCountsPingsAndListsLikeTc() throws {
        try NetlinkLab.withVethPair { ns, _, right in
            let object = try BPFObject.load(path: TestPrograms.object("count_packets"))
            let program = try object.program(named: "count_tc")
            let counters = try ArrayMap<UInt64>(try object.map(named: "counters"))
            let info = try program.info()

            #expect(try right.ensureClsact(on: "b"))
            let attached = try right.attachBPFFilter(program, to: "b", hook: .ingress,
                                                     BPFFilterOptions(priority: 1, handle: 1))
            #expect(attached.bpf?.programID == info.id)
            #expect(attached.bpf?.directAction == true)

            #expect(try NetlinkLab.ping(from: ns[0], "10.99.0.2", count: 3))
            #expect(try counters.get(0) == 3)

            let listed = try right.filters(on: "b", hook: .ingress)
            #expect(listed.count == 1)
            let f = try #require(listed.first)
            #expect(f.kind == "bpf" && f.priority == 1 && f.handle == 1 && f.chain == 0)
            #expect(f.etherProtocol == EtherProtocol.all)
            #expect(f.hook == .ingress)
            #expect(f.bpf?.programID == info.id)
            #expect(f.bpf?.name == "count_tc")
            #expect(f.bpf?.tag == info.tag)
            #expect(f.bpf?.directAction == true)
            #expect(try right.filters(on: "b", hook: .egress).isEmpty)

            let tc = try NetlinkLab.exec(ns[1], ["tc", "filter", "show", "dev", "b", "ingress"]).stdout
            #expect(tc.contains("filter protocol all pref 1 bpf chain 0 handle 0x1 count_tc direct-action"))
            #expect(tc.contains("id \(info.id) name count_tc tag \(info.tag)"))

            // Same priority and handle again: EEXIST, explained.
            let dup = #expect(throws: NetlinkError.self) { try right.attachBPFFilter(program, to: "b", hook: .ingress) }
            #expect(dup?.code == .exists)

            // Guarded delete: a wrong id is refused and the filter stays.
            let refused = #expect(throws: NetlinkError.self) {
                try right.deleteBPFFilter(on: "b", hook: .ingress, priority: 1, handle: 1, expectedProgramID: info.id &+ 1000)
            }
            #expect(refused?.code == .programMismatch)
            #expect(refused?.description.contains("runs program id \(info.id), not program id \(info.id &+ 1000)") == true)
            #expect(try right.filters(on: "b", hook: .ingress).count == 1)
            try right.deleteBPFFilter(on: "b", hook: .ingress, priority: 1, handle: 1, expectedProgramID: info.id)
            #expect(try right.filters(on: "b", hook: .ingress).isEmpty)
            let again = #expect(throws: NetlinkError.self) {
                try right.deleteBPFFilter(on: "b", hook: .ingress, priority: 1, handle: 1, expectedProgramID: info.id)
            }
            #expect(again?.code == .notFound)
            // The creator removes its clsact only when no one else's filter hangs on it.
            #expect(try NetlinkLab.exec(ns[1], ["tc", "filter", "add", "dev", "b", "egress", "prio", "9", "handle", "9",
                                                "bpf", "da", "obj", try TestPrograms.object("count_packets"), "sec", "tc"]).status == 0)
            #expect(try right.deleteClsactIfUnused(on: "b") == false)
            #expect(try right.qdiscs(on: "b").contains { $0.kind == "clsact" })
            try right.deleteFilter(on: "b", parent: .egressHook, priority: 9, handle: 9)
            #expect(try right.deleteClsactIfUnused(on: "b") == true)
            #expect(try !right.qdiscs(on: "b").contains { $0.kind == "clsact" })
        }
    }

    @Test func filterAttachedByTcIsListed() throws {
        try NetlinkLab.withVethPair { ns, left, _ in
            let obj = try TestPrograms.object("count_packets")
            #expect(try NetlinkLab.exec(ns[0], ["tc", "qdisc", "add", "dev", "a", "clsact"]).status == 0)
            let add = try NetlinkLab.exec(ns[0], ["tc", "filter", "add", "dev", "a", "egress", "prio", "7", "handle", "3",
                                                  "bpf", "da", "obj", obj, "sec", "tc"])
            #expect(add.status == 0, "tc filter add failed: \(add.stderr)")
            let f = try #require(try left.filters(on: "a", hook: .egress).first)
            #expect(f.priority == 7 && f.handle == 3 && f.kind == "bpf")
            #expect(f.bpf?.name == "count_packets.bpf.o:[tc]")
            #expect(f.bpf?.directAction == true)
            let id = try #require(f.bpf?.programID)
            let tag = try #require(f.bpf?.tag)
            let tc = try NetlinkLab.exec(ns[0], ["tc", "filter", "show", "dev", "a", "egress"]).stdout
            #expect(tc.contains("pref 7 bpf chain 0 handle 0x3 count_packets.bpf.o:[tc] direct-action"))
            #expect(tc.contains("id \(id) name count_tc tag \(tag)"))
            // We did not create this clsact: ensureClsact says so.
            #expect(try left.ensureClsact(on: "a") == false)
            try left.deleteBPFFilter(on: "a", hook: .egress, priority: 7, handle: 3, expectedProgramID: id)
            try left.deleteClsact(on: "a")
        }
    }

    @Test func mirredActionAcceptedByKernel() throws {
        try NetlinkLab.withVethPair { ns, left, _ in
            let object = try BPFObject.load(path: TestPrograms.object("count_packets"))
            let program = try object.program(named: "count_tc")
            try left.createVeth("m0", peer: "m1")
            try left.ensureClsact(on: "a")
            let mirred = MirredAction(.egressRedirect, to: "m0")
            let f = try left.attachBPFFilter(program, to: "a", hook: .egress,
                                             BPFFilterOptions(priority: 2, handle: 2, directAction: false,
                                                              classID: TCHandle("1:1"), actions: [.mirred(mirred)]))
            #expect(f.bpf?.directAction == false)
            #expect(f.bpf?.classID == TCHandle("1:1"))
            let act = try #require(f.actions.first)
            #expect(act.kind == "mirred")
            #expect(act.mirredDirection == .egressRedirect)
            #expect(act.mirredTargetIndex == (try left.interface("m0").index))
            #expect(act.verdict == TCVerdict.stolen.rawValue)
            #expect(try left.filters(on: "a", hook: .egress).first?.actions.first?.kind == "mirred")
            let tc = try NetlinkLab.exec(ns[0], ["tc", "filter", "show", "dev", "a", "egress"]).stdout
            #expect(tc.contains("mirred (Egress Redirect to device m0) stolen"))
            try left.deleteClsact(on: "a")
        }
    }

    @Test func actBPFReportsMissingKernelSupport() throws {
        try NetlinkLab.withVethPair { _, left, _ in
            let object = try BPFObject.load(path: TestPrograms.object("count_packets"))
            let program = try object.program(named: "count_tc")
            try left.ensureClsact(on: "a")
            let e = #expect(throws: NetlinkError.self) {
                try left.attachBPFFilter(program, to: "a", hook: .ingress,
                                         BPFFilterOptions(priority: 3, handle: 3, actions: [.bpf(program)]))
            }
            #expect(e?.code == .unsupported)
            #expect(e?.message.hasPrefix("kernel lacks act_bpf (CONFIG_NET_ACT_BPF)") == true)
            #expect(e?.operation == "RTM_NEWTFILTER")
            #expect(e?.kernelMessage != nil)
            print("act_bpf error: \(e?.description ?? "-")")
            #expect(try left.filters(on: "a", hook: .ingress).isEmpty)
            try left.deleteClsact(on: "a")
        }
    }

    @Test func extackMessageSurfacesInError() throws {
        try NetlinkLab.withVethPair { _, left, _ in
            let object = try BPFObject.load(path: TestPrograms.object("count_packets"))
            let program = try object.program(named: "count_tc")
            // No clsact qdisc on "a": the kernel explains in its extended ACK.
            let e = #expect(throws: NetlinkError.self) { try left.attachBPFFilter(program, to: "a", hook: .ingress) }
            #expect(e?.kernelMessage?.contains("Parent Qdisc doesn't exist") == true)
            #expect(e?.description.contains("kernel says \"Parent Qdisc doesn't exist") == true)
            #expect(e?.hint?.contains("clsact") == true)
            print("extack error: \(e?.description ?? "-")")
        }
    }

    @Test func htbAndTbfQdiscsWithClasses() throws {
        try NetlinkLab.withVethPair { ns, left, right in
            try left.addQdisc(.htb(HTBOptions(defaultClass: 0x10)), on: "a", handle: TCHandle("1:"))
            try left.addHTBClass(on: "a", parent: TCHandle("1:")!, classID: TCHandle("1:10")!,
                                 HTBClassOptions(rateBitsPerSecond: 1_000_000, ceilBitsPerSecond: 2_000_000))
            try left.addHTBClass(on: "a", parent: TCHandle("1:")!, classID: TCHandle("1:20")!,
                                 HTBClassOptions(rateBitsPerSecond: 10_000_000_000))
            let classes = try left.classes(on: "a")
            let c10 = try #require(classes.first { $0.handle == TCHandle("1:10") })
            #expect(c10.kind == "htb" && c10.rateBitsPerSecond == 1_000_000 && c10.ceilBitsPerSecond == 2_000_000)
            let c20 = try #require(classes.first { $0.handle == TCHandle("1:20") })
            #expect(c20.rateBitsPerSecond == 10_000_000_000)
            let shown = try NetlinkLab.exec(ns[0], ["tc", "class", "show", "dev", "a"]).stdout
            #expect(shown.contains("class htb 1:10 root prio 0 rate 1Mbit ceil 2Mbit burst 1600b cburst 1600b"))
            #expect(shown.contains("class htb 1:20 root prio 0 rate 10Gbit ceil 10Gbit"))
            let qshow = try NetlinkLab.exec(ns[0], ["tc", "qdisc", "show", "dev", "a"]).stdout
            #expect(qshow.contains("qdisc htb 1: root") && qshow.contains("r2q 10 default 0x10"), "\(qshow)")
            #expect(try NetlinkLab.ping(from: ns[0], "10.99.0.2", count: 2))
            try left.deleteClass(on: "a", classID: TCHandle("1:20")!)
            #expect(try left.classes(on: "a").count == 1)
            try left.deleteQdisc(on: "a", parent: .root)

            try right.addQdisc(.tbf(TBFOptions(rateBitsPerSecond: 1_000_000, burstBytes: 32 * 1024, latencyMicroseconds: 400_000)), on: "b")
            let tbf = try NetlinkLab.exec(ns[1], ["tc", "qdisc", "show", "dev", "b"]).stdout
            #expect(tbf.contains("qdisc tbf") && tbf.contains("rate 1Mbit burst 32Kb lat 400ms"))
            #expect(try right.qdiscs(on: "b").contains { $0.kind == "tbf" && $0.parent == .root })
            try right.deleteQdisc(on: "b", parent: .root)
        }
    }

    // MARK: XDP

    @Test func xdpDropInGenericModeBlocksPingUntilDetached() throws {
        try NetlinkLab.withVethPair { ns, _, right in
            let object = try BPFObject.load(path: TestPrograms.object("count_packets"))
            let drop = try object.program(named: "xdp_drop")
            let count = try object.program(named: "xdp_count")
            let dropID = try drop.info().id

            #expect(try NetlinkLab.ping(from: ns[0], "10.99.0.2", count: 1))
            let status = try right.attachXDP(drop, to: "b", mode: .generic)
            #expect(status.attached == .generic)
            #expect(status.programID == dropID && status.genericProgramID == dropID)
            #expect(try right.interfaces().first { $0.name == "b" }?.xdp.programID == dropID)
            #expect(try NetlinkLab.exec(ns[1], ["ip", "link", "show", "dev", "b"]).stdout.contains("xdpgeneric"))
            #expect(try !NetlinkLab.ping(from: ns[0], "10.99.0.2", count: 2))

            // Another program is refused while one is attached, unless replacing that one.
            let busy = #expect(throws: NetlinkError.self) { try right.attachXDP(count, to: "b", mode: .generic) }
            #expect(busy?.errno == EBUSY || busy?.errno == EEXIST)
            let wrongGuard = #expect(throws: NetlinkError.self) {
                try right.detachXDP(from: "b", expectedProgramID: dropID &+ 1000)
            }
            #expect(wrongGuard?.code == .programMismatch)
            #expect(try right.xdp(on: "b").programID == dropID)

            let replaced = try right.attachXDP(count, to: "b", mode: .generic, replacing: drop)
            #expect(replaced.programID == (try count.info().id))
            let staleReplace = #expect(throws: NetlinkError.self) {
                try right.attachXDP(drop, to: "b", mode: .generic, replacing: drop)
            }
            #expect(staleReplace?.errno == EEXIST)
            #expect(try NetlinkLab.ping(from: ns[0], "10.99.0.2", count: 2))
            try right.attachXDP(drop, to: "b", mode: .generic, replacing: count)
            #expect(try !NetlinkLab.ping(from: ns[0], "10.99.0.2", count: 1))

            #expect(try right.detachXDP(from: "b", expectedProgramID: dropID))
            #expect(try right.xdp(on: "b") == XDPStatus())
            #expect(try NetlinkLab.ping(from: ns[0], "10.99.0.2", count: 2))
            #expect(try right.detachXDP(from: "b") == false)

            // Native (driver) mode on veth: attached, reported as such, and detached by mode.
            let native = try right.attachXDP(count, to: "b", mode: .native)
            let countID = try count.info().id
            #expect(native.attached == .native && native.nativeProgramID == countID)
            #expect(native.modes == [.native])
            #expect(try NetlinkLab.exec(ns[1], ["ip", "link", "show", "dev", "b"]).stdout.contains("xdp"))
            #expect(try right.detachXDP(from: "b", mode: .native))
            #expect(try right.xdp(on: "b").attached == .none)
        }
    }
}
