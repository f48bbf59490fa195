import Foundation
import Glibc
import Testing
import NetBPF
import NetBPFAttach
import NetBPFNetlink
import NetBPFTestSupport

/// Bad input and failures half-way: one line on stderr, a non-zero exit, and nothing half-done
/// (no qdisc, no pins, no record, no program left on a hook).
extension AttachTests {

    struct BadInput: Sendable, CustomTestStringConvertible {
        var testDescription: String
        /// netbpf's arguments; "@server"/"@client" are the lab's namespaces, "%NAME" is programs/NAME.bpf.c.
        var args: [String]
        /// What the error line must say.
        var says: String
    }

    static let badInputs: [BadInput] = [
        BadInput(testDescription: "an interface that does not exist",
                 args: ["attach", "tc", "nosuch", "%count_icmp", "--netns", "@server"], says: "interface 'nosuch' not found in network namespace"),
        BadInput(testDescription: "an XDP program on a tc hook",
                 args: ["attach", "tc", "b", "%count_packets", "--program-name", "xdp_drop", "--netns", "@server"], says: "program 'xdp_drop' is xdp; a tc hook runs sched_cls programs"),
        BadInput(testDescription: "a tc action program (sched_act) on a tc hook",
                 args: ["attach", "tc", "b", "%act_ok", "--clsact", "--netns", "@server"], says: "act_ok has no program a tc hook can run (it needs sched_cls)"),
        BadInput(testDescription: "a tc action program named on a tc hook",
                 args: ["attach", "tc", "b", "%act_ok", "--program-name", "act_ok", "--netns", "@server"], says: "program 'act_ok' is sched_act; a tc hook runs sched_cls programs"),
        BadInput(testDescription: "a tc program on an XDP hook",
                 args: ["attach", "xdp", "b", "%count_icmp", "--netns", "@server"], says: "count_icmp has no program a xdp hook can run"),
        BadInput(testDescription: "a tc program as a socket filter",
                 args: ["attach", "socket", "b", "%count_icmp", "--netns", "@server", "--count", "1"], says: "count_icmp has no program a socket hook can run"),
        BadInput(testDescription: "a section that is not there",
                 args: ["attach", "tc", "b", "%count_icmp", "--section", "classifier/nope", "--netns", "@server"], says: "no program in section 'classifier/nope' in count_icmp"),
        BadInput(testDescription: "a program name that is not there",
                 args: ["attach", "tc", "b", "%count_icmp", "--program-name", "nope", "--netns", "@server"], says: "no program named 'nope' in count_icmp"),
        BadInput(testDescription: "an interface in another namespace, without --netns",
                 args: ["attach", "tc", "b", "%count_icmp"], says: "interface 'b' not found in the current network namespace"),
        BadInput(testDescription: "an interface in another namespace, with --clsact",
                 args: ["attach", "tc", "b", "%count_icmp", "--clsact"], says: "interface 'b' not found in the current network namespace"),
        BadInput(testDescription: "an interface in another namespace, XDP",
                 args: ["attach", "xdp", "b", "%count_packets", "--program-name", "xdp_drop"], says: "interface 'b' not found in the current network namespace"),
        BadInput(testDescription: "an interface in another namespace, socket",
                 args: ["attach", "socket", "b", "--pcap", "icmp", "--count", "1"], says: "interface 'b' not found in the current network namespace"),
        BadInput(testDescription: "an interface in another namespace, wrong --netns",
                 args: ["attach", "tc", "b", "%count_icmp", "--netns", "@client"], says: "interface 'b' not found in network namespace"),
        BadInput(testDescription: "a namespace that does not exist",
                 args: ["attach", "tc", "b", "%count_icmp", "--netns", "nbt-no-such-namespace"], says: "network namespace 'nbt-no-such-namespace' does not exist"),
        BadInput(testDescription: "clsact options with --tcx",
                 args: ["attach", "tc", "b", "%count_icmp", "--tcx", "--priority", "2", "--netns", "@server"], says: "are clsact options"),
        BadInput(testDescription: "a class id that is not one",
                 args: ["attach", "tc", "b", "%count_icmp", "--classid", "zz", "--netns", "@server"], says: "'zz' is not a class id"),
        BadInput(testDescription: "an unknown XDP mode",
                 args: ["attach", "xdp", "b", "%count_packets", "--program-name", "xdp_drop", "--mode", "turbo", "--netns", "@server"], says: "unknown XDP mode 'turbo'"),
        BadInput(testDescription: "a pcap expression that does not parse",
                 args: ["attach", "socket", "b", "--pcap", "udp port", "--netns", "@server", "--count", "1"], says: "pcap_compile 'udp port'"),
        BadInput(testDescription: "detach tc with nothing attached",
                 args: ["detach", "tc", "b", "--netns", "@server"], says: "netbpf has nothing attached to @server/b tc"),
        BadInput(testDescription: "detach xdp with nothing attached",
                 args: ["detach", "xdp", "b", "--all", "--netns", "@server"], says: "netbpf has nothing attached to @server/b xdp"),
        BadInput(testDescription: "list an interface that does not exist",
                 args: ["list", "nosuch", "--netns", "@server"], says: "interface 'nosuch' not found"),
    ]

    @Test(arguments: badInputs)
    func badInputIsOneLineAndLeavesNothing(_ c: BadInput) throws {
        try AttachLab.with { lab in
            func fill(_ s: String) -> String {
                if s.hasPrefix("%") { return AttachLab.source(String(s.dropFirst())) }
                return s.replacingOccurrences(of: "@server", with: lab.server).replacingOccurrences(of: "@client", with: lab.client)
            }
            let r = try lab.netbpf(c.args.map(fill))
            AttachLab.expectOneLineError(r, fill(c.says))
            try lab.expectNothingLeft()
            // Nothing landed in the test's own namespace either.
            #expect(access(Pinning.root + "/root/b", F_OK) != 0, "pins left under \(Pinning.root)/root/b")
        }
    }

    // MARK: Attaching twice

    @Test func attachingTheSameProgramTwiceIsRefused() throws {
        try AttachLab.with { lab in
            let first = try lab.attachTC("count_icmp")
            for extra in [[], ["--clsact"], ["--tcx"], ["--ingress", "--clsact", "--priority", "2"]] {
                let r = try lab.netbpf(["attach", "tc", "b", AttachLab.source("count_icmp"), "--netns", lab.server] + extra)
                AttachLab.expectOneLineError(r, "'count_icmp' is already attached by netbpf to \(lab.server)/b ingress (tcx), program id \(first.programID)")
            }
            #expect(try lab.tcxPrograms(.ingress) == [first.programID])
            #expect(try !lab.hasClsact())
            #expect(lab.store.all() == [first])

            let xdp = try lab.attachXDP("count_packets", ["--program-name", "xdp_count"])
            let again = try lab.netbpf(["attach", "xdp", "b", AttachLab.source("count_packets"), "--program-name", "xdp_count", "--netns", lab.server])
            AttachLab.expectOneLineError(again, "'xdp_count' is already attached by netbpf")
            let other = try lab.netbpf(["attach", "xdp", "b", AttachLab.source("count_packets"), "--program-name", "xdp_drop", "--netns", lab.server, "--netlink"])
            AttachLab.expectOneLineError(other, "b already runs XDP program id \(xdp.programID) (attached by netbpf)")
            #expect(try lab.right.interface("b").xdp.programID == xdp.programID)
            #expect(lab.store.all().count == 2)

            // The first attachments still work.
            #expect(try lab.ping(2))
            #expect(try lab.dumpCounters(first.pinDirectory + "/maps/counts") == [2, 0])
            #expect(try lab.dumpCounters(xdp.pinDirectory + "/maps/counters")[0] == 2)
            try lab.netbpfOK(["detach", "tc", "b", "--netns", lab.server])
            try lab.netbpfOK(["detach", "xdp", "b", "--netns", lab.server])
            try lab.expectNothingLeft()
        }
    }

    // MARK: Others' programs

    /// A filter `tc` attached and an XDP program `ip` attached are listed as someone else's,
    /// and every way of asking netbpf to detach them is refused; they stay.
    @Test func detachRefusesWhatNetbpfDidNotAttach() throws {
        let tcObject = try TestPrograms.object("count_icmp")
        let xdpObject = try TestPrograms.object("count_packets")
        try AttachLab.with { lab in
            #expect(try NetlinkLab.exec(lab.server, ["tc", "qdisc", "add", "dev", "b", "clsact"]).status == 0)
            defer { _ = try? NetlinkLab.exec(lab.server, ["tc", "qdisc", "del", "dev", "b", "clsact"]) }
            let add = try NetlinkLab.exec(lab.server, ["tc", "filter", "add", "dev", "b", "ingress", "bpf", "da", "obj", tcObject, "sec", "tc"])
            try #require(add.status == 0, "tc filter add: \(add.stderr)")
            let theirs = try #require(try lab.tcShow("ingress").first)

            let listed = try lab.list()
            #expect(listed.count == 1)
            #expect(listed.first?["owner"] as? String == "other")
            #expect(listed.first?["programName"] as? String == "count_icmp")

            let refusals: [([String], String)] = [
                (["--all"], "program \(theirs.id) 'count_icmp' on b tc/ingress was not attached by netbpf; not detaching it"),
                (["--id", String(theirs.id)], "was not attached by netbpf; not detaching it"),
                (["--name", "count_icmp"], "was not attached by netbpf; not detaching it"),
                (["--ingress", "--all"], "was not attached by netbpf; not detaching it"),
                ([], "netbpf has nothing attached to \(lab.server)/b tc"),
            ]
            for (args, says) in refusals {
                let r = try lab.netbpf(["detach", "tc", "b", "--netns", lab.server] + args)
                AttachLab.expectOneLineError(r, says)
                #expect(try lab.tcShow("ingress").map(\.id) == [theirs.id], "tc's filter gone after detach \(args)")
            }
            #expect(try lab.hasClsact())

            // XDP attached by ip.
            let ip = try NetlinkLab.exec(lab.server, ["ip", "link", "set", "dev", "b", "xdpgeneric", "obj", xdpObject, "sec", "xdp"])
            try #require(ip.status == 0, "ip link set xdpgeneric: \(ip.stderr)")
            defer { _ = try? NetlinkLab.exec(lab.server, ["ip", "link", "set", "dev", "b", "xdpgeneric", "off"]) }
            let theirXDP = try #require(try lab.right.interface("b").xdp.programID)
            for args in [["--all"], ["--id", String(theirXDP)]] {
                let r = try lab.netbpf(["detach", "xdp", "b", "--netns", lab.server] + args)
                AttachLab.expectOneLineError(r, "program \(theirXDP) 'xdp_count' on b xdp/generic was not attached by netbpf")
            }
            let attach = try lab.netbpf(["attach", "xdp", "b", AttachLab.source("count_packets"), "--program-name", "xdp_drop", "--netns", lab.server])
            AttachLab.expectOneLineError(attach, "b already runs XDP program id \(theirXDP) (not attached by netbpf)")
            #expect(try lab.right.interface("b").xdp.programID == theirXDP)
            #expect(try lab.tcShow("ingress").map(\.id) == [theirs.id])
            #expect(lab.store.all().isEmpty)

            #expect(try NetlinkLab.exec(lab.server, ["ip", "link", "set", "dev", "b", "xdpgeneric", "off"]).status == 0)
            #expect(try NetlinkLab.exec(lab.server, ["tc", "qdisc", "del", "dev", "b", "clsact"]).status == 0)
            try lab.expectNothingLeft()
        }
    }

    // MARK: Failures after the clsact was created

    /// The kernel refuses the filter (a sched_act program, which cls_bpf does not run; the CLI
    /// refuses it up front, the library leaves it to the kernel) after the attach created the
    /// clsact qdisc: the qdisc is removed again. tcx refuses it too, and leaves nothing.
    @Test func kernelRefusalAfterCreatingClsactRemovesIt() throws {
        let path = try TestPrograms.object("act_ok")
        try AttachLab.with { lab in
            let object = try BPFObject.load(path: path)
            let program = try object.program(named: "act_ok")
            #expect(program.type == .schedAct)
            var options = TCAttachOptions()
            options.mechanism = .clsact
            let error = #expect(throws: NetlinkError.self) {
                try lab.attacher.attachTC(program, of: object, to: "b", namespace: lab.server, options: options)
            }
            #expect(error?.operation == "RTM_NEWTFILTER")
            #expect(try !lab.hasClsact(), "the failed attach left the clsact it created")
            try lab.expectNothingLeft("clsact")

            options.mechanism = .tcx
            #expect(throws: BPFError.self) {
                try lab.attacher.attachTC(program, of: object, to: "b", namespace: lab.server, options: options)
            }
            try lab.expectNothingLeft("tcx")
        }
    }

    /// The record cannot be written (NETBPF_STATE_DIR is a file): the last step of an attach
    /// fails, and everything before it (clsact, filter or tcx link, pins) is undone.
    @Test(arguments: ["--clsact", "--tcx"])
    func unwritableRecordUndoesTheAttach(mechanism: String) throws {
        try AttachLab.with { lab in
            let file = lab.stateDirectory + "/not-a-directory"
            #expect(FileManager.default.createFile(atPath: file, contents: Data()))
            let r = try lab.netbpf(["attach", "tc", "b", AttachLab.source("count_icmp"), "--netns", lab.server, mechanism],
                                   environment: ["NETBPF_STATE_DIR": file])
            AttachLab.expectOneLineError(r, "cannot create the attachment record directory \(file)/attach: Not a directory")
            #expect(try lab.tcShow("ingress").isEmpty)
            try lab.expectNothingLeft()
            #expect(try lab.ping(1))
        }
    }

    /// Pinning fails (something is pinned where netbpf's directory for the namespace should be):
    /// the filter and the clsact the attach created are removed, no record is written.
    @Test func pinFailureAfterCreatingClsactRemovesIt() throws {
        let path = try TestPrograms.object("count_icmp")
        try AttachLab.with { lab in
            let blocker = "\(Pinning.root)/\(lab.server)"
            do {
                let object = try BPFObject.load(path: path)
                try Pinning.prepareParent(of: blocker)
                try object.map(named: "counts").pin(at: blocker)
            }
            let r = try lab.netbpf(["attach", "tc", "b", AttachLab.source("count_icmp"), "--netns", lab.server, "--clsact"])
            AttachLab.expectOneLineError(r, "ENOTDIR")
            #expect(try !lab.hasClsact(), "the failed attach left the clsact it created")
            #expect(try lab.tcShow("ingress").isEmpty)
            #expect(lab.store.all().isEmpty)
            #expect(unlink(blocker) == 0)
            _ = rmdir(Pinning.root)
            try lab.expectNothingLeft()
        }
    }

    /// A priority/handle collision on a clsact an earlier netbpf attach created: refused in one
    /// line, and since this attach did not create the qdisc it leaves it (and the first filter,
    /// which still counts) alone; the last detach removes it.
    @Test func collisionOnNetbpfsClsactKeepsTheFirstAttachment() throws {
        try AttachLab.with { lab in
            let first = try lab.attachTC("count_icmp", ["--clsact"])
            #expect(first.createdClsact)
            let r = try lab.netbpf(["attach", "tc", "b", AttachLab.source("count_packets"), "--program-name", "count_tc",
                                    "--netns", lab.server, "--clsact", "--priority", "1", "--handle", "1"])
            AttachLab.expectOneLineError(r, "a filter with this priority and handle exists (EEXIST)")
            #expect(try lab.hasClsact())
            #expect(try lab.tcShow("ingress").map(\.id) == [first.programID])
            #expect(lab.store.all() == [first])
            #expect(try lab.ping(2))
            #expect(try lab.dumpCounters(first.pinDirectory + "/maps/counts") == [2, 0])
            try lab.netbpfOK(["detach", "tc", "b", "--netns", lab.server])
            try lab.expectNothingLeft()
        }
    }
}
