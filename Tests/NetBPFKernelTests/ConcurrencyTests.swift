import Foundation
import Glibc
import Testing
import NetBPF
import NetBPFAttach
import NetBPFNetlink
import NetBPFTestSupport

/// Several netbpf commands on one hook at once, killed ones among them, stale records and a
/// doctor running beside an attach: the kernel state and netbpf's records must always agree
/// (docs/hardening.md, "One owner per hook").
@Suite(.serialized, .enabled(if: TestEnvironment.isRoot, "requires root: creates namespaces and attaches tc programs"))
struct ConcurrencyTests {
    static let rounds = 20
    static let parallel = 8

    func attachArgs(_ lab: AttachLab) -> [String] {
        [CLI.binary, "attach", "tc", "b", AttachLab.source("count_icmp"), "--netns", lab.server]
    }

    /// The records, the kernel's tcx hook and `netbpf doctor` say the same thing: at most one
    /// count_icmp, recorded, on the hook, with nothing stale or orphaned.
    func expectConsistent(_ lab: AttachLab, _ context: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let records = lab.records().filter { $0.interface == "b" }
        let onHook = try lab.tcxPrograms(.ingress)
        #expect(records.count <= 1, "\(context): \(records.count) records", sourceLocation: sourceLocation)
        #expect(onHook == records.map(\.programID), "\(context): hook has \(onHook), records say \(records.map(\.programID))",
                sourceLocation: sourceLocation)
        let doctor = try lab.netbpfOK(["doctor", "--netns", lab.server, "--json"])
        let kinds = ((try? JSONSerialization.jsonObject(with: Data(doctor.utf8))) as? [[String: Any]] ?? []).compactMap { $0["kind"] as? String }
        #expect(kinds.allSatisfy { $0 == "attached" }, "\(context): doctor found \(kinds)", sourceLocation: sourceLocation)
        for row in try lab.list() where (row["programName"] as? String) == "count_icmp" {
            #expect(row["owner"] as? String == "netbpf", "\(context): listed as \(row["owner"] ?? "?")", sourceLocation: sourceLocation)
        }
    }

    /// Eight `attach tc` on one hook at once, twenty rounds: exactly one succeeds, the others say
    /// in one line that it is attached already; then eight `detach --all` at once: exactly one
    /// detaches, and nothing is left.
    /// Meanwhile a long-running controller (`xdp-drop-count` on the client's interface) keeps
    /// running beside the races: its descriptor count stays the same and its RSS flat.
    @Test func parallelAttachesAndDetachesOnOneHook() throws {
        try AttachLab.with { lab in
            let env = ["NETBPF_STATE_DIR": lab.stateDirectory]
            _ = try lab.attachTC("count_icmp") // compiles into the cache, so rounds race on the hook
            _ = try lab.netbpfOK(["detach", "tc", "b", "--all", "--netns", lab.server])
            let controller = try BackgroundProcess([CLI.binary, "xdp-drop-count", "a", "--netns", lab.client, "--interval", "0.2"], environment: env)
            defer {
                kill(controller.pid, SIGINT)
                #expect(controller.finish(timeout: 30).status == 0)
            }
            let started = Date()
            while !lab.records().contains(where: { $0.programName == "xdp_drop_count" && !$0.isPending }), Date().timeIntervalSince(started) < 60 {
                usleep(20_000)
            }
            try #require(lab.records().contains { $0.programName == "xdp_drop_count" }, "xdp-drop-count did not attach within 60 s")
            var usage: [(fds: Int, rssKiB: Int)] = []
            for round in 1...Self.rounds {
                usage.append(Self.usage(of: controller.pid))
                let attaches = try (0..<Self.parallel).map { _ in try BackgroundProcess(attachArgs(lab), environment: env) }.map { $0.finish(timeout: 120) }
                #expect(attaches.filter { $0.status == 0 }.count == 1, "round \(round): \(attaches.map(\.status))")
                for r in attaches where r.status != 0 {
                    AttachLab.expectOneLineError((r.status, r.stdout, r.stderr), "already attached by netbpf")
                }
                try expectConsistent(lab, "round \(round) after attaching")
                let detachArgs = [CLI.binary, "detach", "tc", "b", "--all", "--netns", lab.server]
                let detaches = try (0..<Self.parallel).map { _ in try BackgroundProcess(detachArgs, environment: env) }.map { $0.finish(timeout: 120) }
                #expect(detaches.filter { $0.status == 0 }.count == 1, "round \(round): \(detaches.map(\.status))")
                for r in detaches where r.status != 0 {
                    AttachLab.expectOneLineError((r.status, r.stdout, r.stderr), "netbpf has nothing attached")
                }
                #expect(lab.records().filter { $0.programName == "count_icmp" }.isEmpty, "round \(round)")
                #expect(try lab.tcxPrograms(.ingress).isEmpty, "round \(round)")
            }
            usage.append(Self.usage(of: controller.pid))
            #expect(Set(usage.map(\.fds)).count == 1, "the controller's descriptors changed: \(usage.map(\.fds))")
            #expect(usage.last!.rssKiB - usage[1].rssKiB < 2048, "the controller's RSS grew: \(usage.map(\.rssKiB)) KiB")
        }
    }

    /// Open descriptors and resident memory of a process (/proc/PID/fd, VmRSS).
    static func usage(of pid: pid_t) -> (fds: Int, rssKiB: Int) {
        let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? -1
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let rss = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") }.flatMap { Int($0.split(separator: " ").dropFirst().first ?? "") } ?? -1
        return (fds, rss)
    }

    /// The other state-changing commands on one target, eight at once, twenty rounds: an XDP
    /// attach and its detach, the rate limiter's attach (with its HTB shaper) and detach. One of
    /// each eight succeeds, the others fail in one line, and nothing is left after the detach.
    @Test(arguments: ["xdp", "ratelimit"])
    func parallelStateChangesOfOtherCommands(_ kind: String) throws {
        try AttachLab.with { lab in
            let env = ["NETBPF_STATE_DIR": lab.stateDirectory]
            let (attach, detach, refusal, nothing): ([String], [String], String, String) = kind == "xdp"
                ? (["attach", "xdp", "b", AttachLab.source("xdp_pass"), "--netns", lab.server], ["detach", "xdp", "b", "--all", "--netns", lab.server],
                   "already", "netbpf has nothing attached")
                : (["ratelimit", "attach", "b", "--netns", lab.server, "--shape"], ["ratelimit", "detach", "--interface", "b", "--netns", lab.server],
                   "already", "no rate limiter")
            for round in 1...Self.rounds {
                let attaches = try (0..<Self.parallel).map { _ in try BackgroundProcess([CLI.binary] + attach, environment: env) }.map { $0.finish(timeout: 120) }
                #expect(attaches.filter { $0.status == 0 }.count == 1, "\(kind) round \(round): \(attaches.map(\.status)) \(attaches.map(\.stderr))")
                for r in attaches where r.status != 0 { AttachLab.expectOneLineError((r.status, r.stdout, r.stderr), refusal) }
                #expect(lab.records().count == 1, "\(kind) round \(round): \(lab.records().map(\.place))")
                let detaches = try (0..<Self.parallel).map { _ in try BackgroundProcess([CLI.binary] + detach, environment: env) }.map { $0.finish(timeout: 120) }
                #expect(detaches.filter { $0.status == 0 }.count == 1, "\(kind) round \(round): \(detaches.map(\.status))")
                for r in detaches where r.status != 0 { AttachLab.expectOneLineError((r.status, r.stdout, r.stderr), nothing) }
                try lab.expectNothingLeft("\(kind) round \(round)")
                #expect(try !lab.right.qdiscs(on: .name("b")).contains { $0.kind == "htb" }, "\(kind) round \(round): an HTB qdisc is left")
            }
        }
    }

    /// Eight `doctor --fix` at once beside a live attachment and a planted orphan pin: the
    /// attachment stays, the orphan goes, every doctor exits 0.
    @Test func parallelDoctorsAgree() throws {
        try AttachLab.with { lab in
            let record = try lab.attachTC("count_icmp")
            for round in 1...Self.rounds {
                let orphan = "\(Pinning.root)/\(lab.server)/b/egress/orphan_\(round)"
                let program = try BPFProgram.tcxPassThrough(name: "orphan")
                try program.pin(at: orphan + "/prog")
                let runs = try (0..<Self.parallel).map { _ in
                    try BackgroundProcess([CLI.binary, "doctor", "--fix", "--netns", lab.server], environment: ["NETBPF_STATE_DIR": lab.stateDirectory])
                }.map { $0.finish(timeout: 120) }
                #expect(runs.allSatisfy { $0.status == 0 }, "round \(round): \(runs.map(\.stderr))")
                #expect(!FileManager.default.fileExists(atPath: orphan), "round \(round): the orphan pin is still there")
                #expect(try lab.tcxPrograms(.ingress) == [record.programID], "round \(round)")
                #expect(lab.records().map(\.programID) == [record.programID], "round \(round)")
            }
            _ = try lab.netbpfOK(["detach", "tc", "b", "--all", "--netns", lab.server])
        }
    }

    /// The same race with SIGKILLs at random moments (0-250 ms): after `doctor --fix` the
    /// records and the hook agree, and a clean detach leaves nothing.
    @Test func parallelAttachesKilledAtRandom() throws {
        try AttachLab.with { lab in
            let env = ["NETBPF_STATE_DIR": lab.stateDirectory]
            for round in 1...Self.rounds {
                let runs = try (0..<Self.parallel).map { _ in try BackgroundProcess(attachArgs(lab), environment: env) }
                let delays = runs.map { _ in UInt32.random(in: 0...250_000) }
                for (run, delay) in zip(runs, delays).sorted(by: { $0.1 < $1.1 }) where Bool.random() {
                    usleep(delay / UInt32(Self.parallel))
                    kill(run.pid, SIGKILL)
                }
                let results = runs.map { $0.finish(timeout: 120) }
                #expect(results.filter { $0.status == 0 }.count <= 1, "round \(round): \(results.map(\.status))")
                _ = try lab.netbpfOK(["doctor", "--fix", "--netns", lab.server])
                try expectConsistent(lab, "round \(round) after kills and doctor --fix (exits \(results.map(\.status)))")
                if !lab.records().isEmpty { _ = try lab.netbpfOK(["detach", "tc", "b", "--all", "--netns", lab.server]) }
                try lab.expectNothingLeft("round \(round)")
            }
        }
    }

    /// A command that fails on its input (a source that does not compile, a duplicate) leaves
    /// the hook exactly as it was: same programs, same revision.
    @Test func failedAttachLeavesTheHookRevisionAlone() throws {
        try AttachLab.with { lab in
            let broken = lab.stateDirectory + "/broken.bpf.c"
            try "int f(struct __sk_buff *skb) { return undeclared; }\n".write(toFile: broken, atomically: true, encoding: .utf8)
            let before = try revision(lab)
            let r = try lab.netbpf(["attach", "tc", "b", broken, "--netns", lab.server])
            #expect(r.status != 0)
            #expect(try revision(lab) == before, "a failed compile changed the hook")
            _ = try lab.attachTC("count_icmp")
            let attached = try revision(lab)
            let again = try lab.netbpf(["attach", "tc", "b", AttachLab.source("count_icmp"), "--netns", lab.server])
            AttachLab.expectOneLineError(again, "already attached by netbpf")
            #expect(try revision(lab) == attached, "a refused duplicate changed the hook")
            _ = try lab.netbpfOK(["detach", "tc", "b", "--all", "--netns", lab.server])
        }
    }

    func revision(_ lab: AttachLab) throws -> UInt64 {
        try withNamespace(lab.server) {
            try TCXAttachments.query(ifindex: try NetlinkSocket().interfaceIndex(.name("b")), direction: .ingress).revision
        }
    }

    /// `doctor --fix` while a tcx attach is between pinning and linking: doctor reports it as in
    /// progress and touches nothing; the attach finishes with everything pinned and recorded.
    @Test func doctorLeavesAnAttachInProgressAlone() throws {
        try AttachLab.with { lab in
            _ = try lab.attachTC("count_icmp") // warm the cache
            _ = try lab.netbpfOK(["detach", "tc", "b", "--all", "--netns", lab.server])
            let run = try BackgroundProcess(attachArgs(lab) + ["--tcx"],
                                            environment: ["NETBPF_STATE_DIR": lab.stateDirectory, "NETBPF_TEST_HOOKS": "1", "NETBPF_ATTACH_PAUSE_AT": "pins"])
            let start = Date()
            while !FileManager.default.fileExists(atPath: lab.pinDirectory("ingress", "count_icmp") + "/prog"), Date().timeIntervalSince(start) < 30 {
                usleep(10_000)
            }
            let doctor = try lab.netbpfOK(["doctor", "--fix", "--netns", lab.server])
            #expect(doctor.contains("attaching") && !doctor.contains("orphan-pin") && !doctor.contains("stale-record"), "\(doctor)")
            let done = run.finish(timeout: 60)
            #expect(done.status == 0, "\(done.stderr)")
            #expect(FileManager.default.fileExists(atPath: lab.pinDirectory("ingress", "count_icmp") + "/link"))
            try expectConsistent(lab, "after the paused attach")
            #expect(try lab.tcxPrograms(.ingress).count == 1)
            _ = try lab.netbpfOK(["detach", "tc", "b", "--all", "--netns", lab.server])
        }
    }

    /// A plain `doctor --fix` (the default state directory) leaves alone what an attach recorded
    /// under another NETBPF_STATE_DIR: its pins are not orphans.
    @Test func doctorRespectsOtherStateDirectories() throws {
        try AttachLab.with { lab in
            let record = try lab.attachTC("count_icmp")
            let out = try lab.netbpfOK(["doctor", "--fix", "--netns", lab.server], defaultState: true)
            #expect(!out.contains("orphan-pin"), "\(out)")
            #expect(try lab.tcxPrograms(.ingress) == [record.programID])
            #expect(FileManager.default.fileExists(atPath: record.pinDirectory + "/link"))
            _ = try lab.netbpfOK(["detach", "tc", "b", "--all", "--netns", lab.server])
        }
    }

    /// A record whose namespace was deleted (and made again with the same interface name) does
    /// not block a new attach: it is removed, with a one-line notice.
    @Test func staleRecordOfADeletedNamespaceHealsOnTheNextAttach() throws {
        let ns = "nbt-stale-\(getpid())"
        let state = "/tmp/netbpf-stale-\(getpid())"
        func makeNamespace() throws {
            for argv in [["/usr/sbin/ip", "netns", "add", ns], ["/usr/sbin/ip", "-n", ns, "link", "add", "v0", "type", "veth", "peer", "name", "v1"],
                         ["/usr/sbin/ip", "-n", ns, "link", "set", "v0", "up"], ["/usr/sbin/ip", "-n", ns, "link", "set", "v1", "up"]] {
                let r = try NetlinkLab.spawn(argv)
                try #require(r.status == 0, "\(argv.joined(separator: " ")): \(r.stderr)")
            }
        }
        defer {
            _ = try? NetlinkLab.spawn([CLI.binary, "detach", "tc", "v0", "--all", "--netns", ns], environment: ["NETBPF_STATE_DIR": state])
            _ = try? NetlinkLab.spawn(["/usr/sbin/ip", "netns", "del", ns])
            _ = try? NetlinkLab.spawn([CLI.binary, "doctor", "--fix", "--netns", ns], environment: ["NETBPF_STATE_DIR": state])
            try? FileManager.default.removeItem(atPath: state)
        }
        try makeNamespace()
        let attach = [CLI.binary, "attach", "tc", "v0", AttachLab.source("count_icmp"), "--netns", ns]
        let first = try NetlinkLab.spawn(attach, environment: ["NETBPF_STATE_DIR": state])
        try #require(first.status == 0, "\(first.stderr)")
        _ = try NetlinkLab.spawn(["/usr/sbin/ip", "netns", "del", ns])
        try makeNamespace()
        let second = try NetlinkLab.spawn(attach, environment: ["NETBPF_STATE_DIR": state])
        #expect(second.status == 0, "\(second.stderr)")
        #expect(second.stderr.contains("removed a stale record of count_icmp"), "\(second.stderr)")
        let records = AttachmentStore(directory: state + "/attach").all()
        #expect(records.count == 1)
        let onHook = try withNamespace(ns) {
            try TCXAttachments.query(ifindex: try NetlinkSocket().interfaceIndex(.name("v0")), direction: .ingress).programIDs
        }
        #expect(onHook == records.map(\.programID))
    }
}
