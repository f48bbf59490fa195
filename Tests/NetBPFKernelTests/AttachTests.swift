import Foundation
import Glibc
import Testing
import NetBPF
import NetBPFAttach
import NetBPFNetlink
import NetBPFTestSupport

/// `netbpf attach/detach/list` against the real kernel, black-box (the built binary) with real
/// traffic, plus the library where a failure must be forced. Every test runs in its own pair of
/// temporary namespaces (AttachLab) with a private NETBPF_STATE_DIR, and checks that it leaves
/// nothing behind: no records, no pins under /sys/fs/bpf/netbpf, no qdiscs, tcx or XDP programs.
/// Tests are in this file (tc), AttachXDPSocketTests.swift and AttachBadInputTests.swift.
@Suite(.serialized, .enabled(if: geteuid() == 0, "requires root: creates namespaces, attaches tc/XDP programs, opens packet sockets"))
struct AttachTests {

    // MARK: Counting

    /// The acceptance test of the issue: a counting classifier attached with the CLI (default
    /// state directory, /run/netbpf/attach) sees exactly the pings sent, read back from the pin.
    @Test func countingClassifierSeesExactlyTheNPingsSent() throws {
        try AttachLab.with { lab in
            let out = try lab.netbpfOK(["attach", "tc", "b", AttachLab.source("count_icmp"), "--netns", lab.server], defaultState: true)
            #expect(out.contains("attached count_icmp"))
            #expect(out.contains("\(lab.server)/b ingress (tcx)"))
            let recordFile = "/run/netbpf/attach/\(lab.server)__b__tcx-ingress__count_icmp.json"
            #expect(FileManager.default.fileExists(atPath: recordFile), "no record at \(recordFile)")

            let pin = lab.pinDirectory("ingress", "count_icmp") + "/maps/counts"
            #expect(try lab.dumpCounters(pin) == [0, 0])
            #expect(try lab.ping(5))
            // b's ingress sees the 5 echo requests and none of the replies (they leave b).
            #expect(try lab.dumpCounters(pin) == [5, 0])
            #expect(try AttachLab.readCounters(pin) == [5, 0])

            let detached = try lab.netbpfOK(["detach", "tc", "b", "--netns", lab.server, "--name", "count_icmp"], defaultState: true)
            #expect(detached.contains("detached count_icmp"))
            #expect(!FileManager.default.fileExists(atPath: recordFile))
            try lab.expectNothingLeft()
            // Detached means detached: more pings, and nothing is listening any more.
            #expect(try lab.ping(2))
        }
    }

    /// tcx and clsact, ingress and egress: each sees exactly its side of the conversation.
    @Test(arguments: ["tcx", "clsact"], ["ingress", "egress"])
    func bothMechanismsBothDirections(mechanism: String, direction: String) throws {
        try AttachLab.with { lab in
            let record = try lab.attachTC("count_icmp", ["--\(mechanism)", "--\(direction)"])
            #expect(record.kind.rawValue == mechanism)
            #expect(record.hook == direction)
            #expect(record.programName == "count_icmp")
            #expect(record.pinDirectory == lab.pinDirectory(direction, "count_icmp"))
            #expect(record.createdClsact == (mechanism == "clsact"))
            #expect(lab.store.all() == [record])

            let dir: TCDirection = direction == "ingress" ? .ingress : .egress
            if mechanism == "tcx" {
                #expect(try lab.tcxPrograms(dir) == [record.programID])
                #expect(try !lab.hasClsact())
            } else {
                #expect(try lab.hasClsact())
                #expect(try lab.tcShow(direction).map(\.id) == [record.programID])
                #expect(try lab.tcxPrograms(dir).isEmpty)
            }

            #expect(try lab.ping(4))
            let pin = record.pinDirectory + "/maps/counts"
            // Ingress on b sees the requests coming in; egress sees the replies going out.
            let expected: [UInt64] = direction == "ingress" ? [4, 0] : [0, 4]
            #expect(try AttachLab.readCounters(pin) == expected)
            #expect(try lab.dumpCounters(pin) == expected)

            let out = try lab.netbpfOK(["detach", "tc", "b", "--netns", lab.server, "--\(direction)"])
            #expect(out.contains("detached count_icmp (id \(record.programID))"))
            try lab.expectNothingLeft()
        }
    }

    // MARK: Dropping

    @Test(arguments: ["tcx", "clsact"])
    func droppingClassifierStopsPingAndDetachRestoresIt(mechanism: String) throws {
        try AttachLab.with { lab in
            #expect(try lab.ping(1), "no connectivity before attaching")
            let record = try lab.attachTC("count_packets", ["--program-name", "drop_all", "--\(mechanism)"])
            #expect(record.programName == "drop_all")
            #expect(try !lab.ping(2), "ping got through drop_all")
            try lab.netbpfOK(["detach", "tc", "b", "--netns", lab.server, "--id", String(record.programID)])
            #expect(try lab.ping(2), "ping still fails after detach")
            try lab.expectNothingLeft()
        }
    }

    // MARK: tcx ordering

    /// --before/--after place programs in the tcx chain; the kernel's order (BPF_PROG_QUERY) and
    /// `netbpf list` agree, and so does the traffic. tcx runs programs in order until one gives
    /// a verdict: count_icmp gives none (TCX_NEXT), count_tc passes (TC_ACT_OK), drop_all drops.
    @Test func tcxOrderingWithBeforeAndAfter() throws {
        try AttachLab.with { lab in
            let icmp = try lab.attachTC("count_icmp")
            let dropper = try lab.attachTC("count_packets", ["--program-name", "drop_all", "--after", String(icmp.programID)])
            #expect(try lab.tcxPrograms(.ingress) == [icmp.programID, dropper.programID])
            // count_icmp runs first, counts, and lets drop_all drop.
            #expect(try !lab.ping(3))
            let icmpPin = icmp.pinDirectory + "/maps/counts"
            #expect(try lab.dumpCounters(icmpPin) == [3, 0])

            // count_tc before drop_all: it passes every packet, so drop_all never sees one.
            let passer = try lab.attachTC("count_packets", ["--program-name", "count_tc", "--before", String(dropper.programID)])
            let order = [icmp.programID, passer.programID, dropper.programID]
            #expect(try lab.tcxPrograms(.ingress) == order)
            let rows = try lab.list().filter { $0["hook"] as? String == "tcx/ingress" }
            #expect(rows.map { UInt32($0["programID"] as? Int ?? 0) } == order)
            #expect(rows.map { $0["programName"] as? String ?? "" } == ["count_icmp", "count_tc", "drop_all"])
            #expect(rows.enumerated().allSatisfy { i, r in (r["detail"] as? String ?? "").hasPrefix("position \(i + 1), link ") }, "\(rows)")
            #expect(rows.allSatisfy { $0["owner"] as? String == "netbpf" })
            #expect(try lab.ping(3), "count_tc runs before drop_all and passes the packets")
            #expect(try lab.dumpCounters(icmpPin) == [6, 0])
            #expect(try lab.dumpCounters(passer.pinDirectory + "/maps/counters")[0] == 3)

            // --before 0 puts a program first.
            let first = try lab.attachTC("count_packets", ["--program-name", "drop_all", "--egress"])
            let head = try lab.attachTC("count_icmp", ["--egress", "--before", "0"])
            #expect(try lab.tcxPrograms(.egress) == [head.programID, first.programID])
            try lab.netbpfOK(["detach", "tc", "b", "--netns", lab.server, "--egress", "--all"])

            // Taking count_tc out puts drop_all back in the way.
            try lab.netbpfOK(["detach", "tc", "b", "--netns", lab.server, "--name", "count_tc"])
            #expect(try lab.tcxPrograms(.ingress) == [icmp.programID, dropper.programID])
            #expect(try !lab.ping(2))

            // --after a program that is not on the hook: a clear error, nothing added.
            let r = try lab.netbpf(["attach", "tc", "b", AttachLab.source("count_packets"), "--program-name", "count_tc",
                                    "--netns", lab.server, "--after", "999999"])
            AttachLab.expectOneLineError(r, "BPF_LINK_CREATE(tcx ingress) 'count_tc'")
            #expect(try lab.tcxPrograms(.ingress) == [icmp.programID, dropper.programID])
            #expect(lab.store.all().count == 2)

            let all = try lab.netbpfOK(["detach", "tc", "b", "--netns", lab.server, "--all"])
            #expect(all.split(separator: "\n").count == 2)
            #expect(try lab.ping(1))
            try lab.expectNothingLeft()
        }
    }

    // MARK: list vs tc and bpftool

    /// What `netbpf list` shows agrees with `tc filter show` (program id and name) and
    /// `bpftool net` (clsact and XDP; bpftool 7.1 does not show tcx, checked against
    /// BPF_PROG_QUERY instead), including a filter that tc itself attached.
    @Test func listAgreesWithTcAndBpftool() throws {
        try AttachLab.with { lab in
            // Someone else's filter first: tc creates the clsact, so it is not netbpf's.
            let object = try TestPrograms.object("count_icmp")
            #expect(try NetlinkLab.exec(lab.server, ["tc", "qdisc", "add", "dev", "b", "clsact"]).status == 0)
            let add = try NetlinkLab.exec(lab.server, ["tc", "filter", "add", "dev", "b", "ingress", "pref", "7", "bpf", "da", "obj", object, "sec", "tc"])
            try #require(add.status == 0, "tc filter add: \(add.stderr)")
            defer { _ = try? NetlinkLab.exec(lab.server, ["tc", "qdisc", "del", "dev", "b", "clsact"]) }

            let ingress = try lab.attachTC("count_icmp", ["--clsact"])
            #expect(!ingress.createdClsact, "the clsact was there already (tc made it)")
            let egress = try lab.attachTC("count_packets", ["--program-name", "count_tc", "--clsact", "--egress", "--priority", "3", "--handle", "5"])
            let tcx = try lab.attachTC("count_packets", ["--program-name", "drop_all", "--tcx", "--egress"])
            let xdp = try lab.attachXDP("count_packets", ["--program-name", "xdp_count"])

            let listing = try lab.list()
            func rows(_ hook: String) -> [(id: UInt32, name: String, owner: String, detail: String)] {
                listing.filter { $0["hook"] as? String == hook && $0["interface"] as? String == "b" }
                    .map { (UInt32($0["programID"] as? Int ?? 0), $0["programName"] as? String ?? "", $0["owner"] as? String ?? "", $0["detail"] as? String ?? "") }
            }

            // tc ingress: ours (prio 1) and tc's (prio 7), same ids and names as tc prints.
            let tcIngress = try lab.tcShow("ingress")
            #expect(tcIngress.count == 2)
            let listedIngress = rows("tc/ingress")
            #expect(Set(listedIngress.map(\.id)) == Set(tcIngress.map(\.id)))
            for t in tcIngress {
                let l = try #require(listedIngress.first { $0.id == t.id })
                #expect(l.name == t.name, "list says \(l.name), tc says \(t.name) for id \(t.id)")
            }
            let foreign = try #require(listedIngress.first { $0.id != ingress.programID })
            #expect(foreign.owner == "other")
            #expect(foreign.name == "count_icmp")
            #expect(foreign.detail.contains("prio 7") && foreign.detail.contains("count_icmp.bpf.o:[tc]"))
            #expect(listedIngress.first { $0.id == ingress.programID }?.owner == "netbpf")
            #expect(listedIngress.first { $0.id == ingress.programID }?.detail == "prio 1 handle 1 direct-action")

            // tc egress.
            let tcEgress = try lab.tcShow("egress")
            #expect(tcEgress.map(\.id) == [egress.programID])
            #expect(tcEgress.map(\.name) == ["count_tc"])
            #expect(rows("tc/egress").map(\.id) == [egress.programID])
            #expect(rows("tc/egress").first?.detail == "prio 3 handle 5 direct-action")

            // tcx: BPF_PROG_QUERY.
            #expect(try lab.tcxPrograms(.egress) == [tcx.programID])
            #expect(rows("tcx/egress").map(\.id) == [tcx.programID])
            #expect(rows("tcx/egress").map(\.name) == ["drop_all"])
            #expect(rows("tcx/ingress").isEmpty)

            // XDP.
            #expect(rows("xdp/generic").map(\.id) == [xdp.programID])
            #expect(rows("xdp/generic").first?.detail == "link")

            // bpftool net: the clsact filters (by filter name) and XDP.
            let bpftool = try lab.bpftoolNet()
            #expect(Set(bpftool.tc.filter { $0.kind == "clsact/ingress" }.map(\.id)) == Set(listedIngress.map(\.id)))
            #expect(bpftool.tc.filter { $0.kind == "clsact/egress" }.map(\.id) == [egress.programID])
            #expect(bpftool.tc.contains { $0.id == ingress.programID && $0.name == "count_icmp" })
            #expect(bpftool.tc.contains { $0.id == foreign.id && $0.name == "count_icmp.bpf.o:[tc]" })
            #expect(bpftool.xdp.map(\.id) == [xdp.programID])
            #expect(bpftool.xdp.map(\.mode) == ["generic"])

            // The table form names the same programs.
            let table = try lab.netbpfOK(["list", "b", "--netns", lab.server])
            for id in [ingress.programID, egress.programID, tcx.programID, xdp.programID, foreign.id] {
                #expect(table.contains(" \(id) "), "table lacks id \(id):\n\(table)")
            }

            // Detach everything of ours: tc's filter and tc's clsact stay.
            try lab.netbpfOK(["detach", "tc", "b", "--netns", lab.server, "--all"])
            try lab.netbpfOK(["detach", "xdp", "b", "--netns", lab.server])
            #expect(try lab.tcShow("ingress").map(\.id) == [foreign.id])
            #expect(try lab.hasClsact(), "netbpf removed a clsact it did not create")
            #expect(try lab.list().map { UInt32($0["programID"] as? Int ?? 0) } == [foreign.id])
            #expect(try NetlinkLab.exec(lab.server, ["tc", "qdisc", "del", "dev", "b", "clsact"]).status == 0)
            try lab.expectNothingLeft()
        }
    }

    // MARK: clsact ownership

    /// netbpf removes a clsact it created only when no filter is left on it: another tool's
    /// filter added meanwhile (on the other hook) keeps it, and with it that filter.
    @Test func createdClsactStaysWhileOthersFiltersUseIt() throws {
        try AttachLab.with { lab in
            let ours = try lab.attachTC("count_icmp", ["--clsact"])
            #expect(ours.createdClsact)
            let object = try TestPrograms.object("count_icmp")
            let add = try NetlinkLab.exec(lab.server, ["tc", "filter", "add", "dev", "b", "egress", "pref", "9", "bpf", "da", "obj", object, "sec", "tc"])
            try #require(add.status == 0, "tc filter add: \(add.stderr)")
            let theirs = try #require(try lab.tcShow("egress").first)

            try lab.netbpfOK(["detach", "tc", "b", "--netns", lab.server, "--all"])
            #expect(try lab.hasClsact(), "netbpf deleted its clsact with another tool's egress filter on it")
            #expect(try lab.tcShow("egress").map(\.id) == [theirs.id])
            #expect(try lab.tcShow("ingress").isEmpty)
            #expect(try NetlinkLab.exec(lab.server, ["tc", "qdisc", "del", "dev", "b", "clsact"]).status == 0)
            try lab.expectNothingLeft()
        }
    }

    /// Two netbpf filters on a clsact the first one created: whichever is detached last
    /// removes the qdisc (the creator's duty passes on when it goes first).
    @Test(arguments: [true, false])
    func lastNetbpfDetachRemovesTheClsactNetbpfCreated(creatorFirst: Bool) throws {
        try AttachLab.with { lab in
            let first = try lab.attachTC("count_icmp", ["--clsact"])
            let second = try lab.attachTC("count_packets", ["--program-name", "count_tc", "--clsact", "--egress"])
            #expect(first.createdClsact && !second.createdClsact)
            let order = creatorFirst ? [first, second] : [second, first]
            try lab.netbpfOK(["detach", "tc", "b", "--netns", lab.server, "--id", String(order[0].programID)])
            #expect(try lab.hasClsact(), "clsact removed while a netbpf filter still uses it")
            try lab.netbpfOK(["detach", "tc", "b", "--netns", lab.server, "--id", String(order[1].programID)])
            #expect(try !lab.hasClsact(), "the clsact netbpf created outlived netbpf's last filter")
            try lab.expectNothingLeft()
        }
    }

    /// The namespace was deleted under netbpf (`ip netns del`): its interfaces and what was
    /// attached to them are gone, and detach removes what is left of netbpf's, the pins and the
    /// records, instead of failing on the missing namespace forever.
    @Test func detachAfterTheNamespaceIsGoneRemovesPinsAndRecords() throws {
        try AttachLab.with { lab in
            let gone = "nbt-gone-\(getpid())-\(UInt32.random(in: 0...0xFFFF))"
            try NetworkNamespace.create(gone)
            var deleted = false
            defer {
                if !deleted { try? NetworkNamespace.delete(gone) }
                if access("\(Pinning.root)/\(gone)", F_OK) == 0 {
                    Issue.record("pins left under \(Pinning.root)/\(gone)")
                    lab.removeTree("\(Pinning.root)/\(gone)")
                }
                for r in lab.store.all() where r.namespace == gone { lab.store.remove(r) }
            }
            let add = try NetlinkLab.spawn(["/usr/sbin/ip", "-n", gone, "link", "add", "vb", "type", "veth", "peer", "name", "vc"])
            try #require(add.status == 0, "ip link add: \(add.stderr)")
            for args in [["tc", "vb", AttachLab.source("count_icmp")],
                         ["tc", "vb", AttachLab.source("count_packets"), "--program-name", "count_tc", "--clsact", "--egress"],
                         ["xdp", "vb", AttachLab.source("count_packets"), "--program-name", "xdp_count", "--netlink"]] {
                try lab.netbpfOK(["attach"] + args + ["--netns", gone])
            }
            #expect(lab.store.all().count == 3)
            try NetworkNamespace.delete(gone)
            deleted = true

            let tc = try lab.netbpfOK(["detach", "tc", "vb", "--netns", gone, "--all"])
            #expect(tc.split(separator: "\n").count == 2)
            try lab.netbpfOK(["detach", "xdp", "vb", "--netns", gone])
            #expect(lab.store.all().isEmpty)
            #expect(access("\(Pinning.root)/\(gone)", F_OK) != 0, "pins left under \(Pinning.root)/\(gone)")
            try lab.expectNothingLeft()
        }
    }
}
