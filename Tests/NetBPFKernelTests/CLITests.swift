import Foundation
import Testing
import NetBPF
import NetBPFTestSupport

/// The `netbpf` binary as a user runs it: output, JSON, exit codes and one-line errors.
@Suite(.enabled(if: TestEnvironment.isRoot, "requires root: the CLI loads and pins BPF objects"))
struct CLITests {
    @Test func objectInspectJSON() throws {
        let r = try CLI.run(["object", "inspect", try TestPrograms.object("count_packets"), "--json"])
        #expect(r.status == 0)
        let json = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        let programs = json?["programs"] as? [[String: Any]]
        #expect(programs?.map { $0["name"] as? String } == ["count_tc", "drop_all", "xdp_count", "xdp_drop", "sock_icmp_only"])
        #expect(programs?.first?["type"] as? String == "sched_cls")
        #expect((json?["maps"] as? [[String: Any]])?.contains { $0["name"] as? String == "counters" } == true)
    }

    /// `-o x` in the current directory: a one-character name trapped in NSString's
    /// deletingLastPathComponent (signal 4) before OutputFile split paths itself.
    @Test func compileToAOneCharacterNameInTheCurrentDirectory() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nb-compile-\(getpid())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let source = TestPrograms.repositoryRoot.path + "/programs/count_packets.bpf.c"
        let r = try TestPrograms.run("/bin/sh", ["-c", "cd '\(dir)' && exec '\(CLI.binary)' compile '\(source)' -o x"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["x"]) // no temporary left
    }

    @Test func mapCommandsOnAPinnedMapUseBTF() throws {
        try TestEnvironment.withBPFFSDirectory { dir in
            let obj = try BPFObject.load(path: try TestPrograms.object("maps_all"))
            let pin = dir + "/hash"
            try obj.map(named: "hash_map").pin(at: pin)
            #expect(try CLI.run(["map", "update", pin, "--key", "u32:5", "--value", "u64:500"]).status == 0)
            #expect(try CLI.run(["map", "update", pin, "--key", "06 00 00 00", "--value", "u64:600", "--flags", "noexist"]).status == 0)
            let get = try CLI.run(["map", "get", pin, "--key", "u32:5"])
            #expect(get.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "key: 5  value: 500")
            let dump = try CLI.run(["map", "dump", pin, "--json"])
            let entries = try JSONSerialization.jsonObject(with: Data(dump.stdout.utf8)) as? [[String: Any]]
            #expect(Set(entries?.compactMap { $0["key"] as? Int } ?? []) == [5, 6])
            #expect(try CLI.run(["map", "delete", pin, "--key", "u32:5"]).status == 0)
            let missing = try CLI.run(["map", "get", pin, "--key", "u32:5"])
            #expect(missing.status == 1)
            #expect(missing.stderr.contains("no entry for key 5"))
            let lpm = dir + "/lpm"
            try obj.map(named: "lpm_trie").pin(at: lpm)
            #expect(try CLI.run(["map", "update", lpm, "--key", "18 00 00 00 0a 01 02 00", "--value", "u32:7"]).status == 0)
            #expect(try CLI.run(["map", "dump", lpm]).stdout.contains("key: {prefixlen: 24, addr: [10, 1, 2, 0]}  value: 7"))
        }
    }

    @Test func progRunReportsReturnValue() throws {
        let packet = String(repeating: "00", count: 12) + "0800" + "4500005400000000400100000a0000010a000002" + String(repeating: "00", count: 64)
        let r = try CLI.run(["prog", "run", try TestPrograms.object("count_packets"), "--program", "drop_all", "--data", packet, "--json"])
        #expect(r.status == 0)
        let json = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
        #expect(json?["retval"] as? Int == 2)
    }

    @Test func progListAndShowSeeALoadedProgram() throws {
        let obj = try BPFObject.load(path: try TestPrograms.object("count_packets"))
        let id = try obj.program(named: "count_tc").info().id
        let list = try CLI.run(["prog", "list", "--json"])
        let progs = try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]]
        #expect(progs?.contains { ($0["info"] as? [String: Any])?["id"] as? Int == Int(id) } == true)
        let show = try CLI.run(["prog", "show", String(id)])
        #expect(show.stdout.hasPrefix("\(id): sched_cls  name count_tc"))
        withExtendedLifetime(obj) {}
    }

    @Test func featuresJSONNamesKprobesTruthfully() throws {
        let r = try CLI.run(["features", "--json", "--no-helpers"])
        #expect(r.status == 0)
        let groups = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]]
        let system = groups?.first { $0["group"] as? String == "system" }?["features"] as? [[String: Any]]
        let kprobes = system?.first { $0["name"] as? String == "kprobes" }
        #expect(kprobes?["available"] as? Bool == Features.shared.kprobes.available)
    }

    @Test(arguments: [
        (["object", "inspect", "/nonexistent.o"], "no such file"),
        (["object", "inspect", "/proc/self/exe"], "not BPF"),
        (["map", "dump", "/sys/fs/bpf/netbpf-no-such-pin"], "nothing is pinned there"),
        (["map", "get", "4294967295", "--key", "u32:1"], "open map 'id 4294967295'"),
        (["prog", "run", "/etc/hostname", "--data", "00"], "too short"),
        (["xdp-drop-count", "netbpf-nosuch0"], "interface 'netbpf-nosuch0' not found"),
        (["xdp-macswap", "netbpf-nosuch0"], "interface 'netbpf-nosuch0' not found"),
        (["xdp-redirect", "lo", "netbpf-nosuch0"], "interface 'netbpf-nosuch0' not found"),
        (["tc-events", "netbpf-nosuch0"], "interface 'netbpf-nosuch0' not found"),
        (["tc-events", "lo", "--netns", "netbpf-no-such-ns"], "network namespace 'netbpf-no-such-ns' does not exist"),
        (["xdp-macswap", "lo", "--mode", "offload"], "is not an XDP mode"),
        (["xdp-drop-count", "lo", "--seconds", "0"], "--seconds must be a positive number of seconds"),
        (["xdp-macswap", "lo", "--seconds", "nan"], "--seconds must be a positive number of seconds"),
        (["xdp-redirect", "lo", "lo", "--seconds=-1"], "--seconds must be a positive number of seconds"),
        (["tc-events", "lo", "--seconds", "inf"], "--seconds must be a positive number of seconds"),
    ])
    func badInputIsOneLineAndNonZero(arguments: [String], says: String) throws {
        let r = try CLI.run(arguments)
        #expect(r.status == 1)
        #expect(r.stderr.hasPrefix("netbpf: "))
        #expect(r.stderr.contains(says), "\(r.stderr)")
        #expect(r.stderr.split(separator: "\n").count == 1)
    }

    @Test func badObjectsGiveOneLine() throws {
        let truncated = FileManager.default.temporaryDirectory.appendingPathComponent("netbpf-trunc-\(getpid()).o").path
        let bytes = try Data(contentsOf: URL(fileURLWithPath: try TestPrograms.object("count_packets")))
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: truncated))
        defer { try? FileManager.default.removeItem(atPath: truncated) }
        let r = try CLI.run(["object", "inspect", truncated])
        #expect(r.status == 1)
        #expect(r.stderr.contains("truncated"))
        let noProgs = try CLI.run(["object", "inspect", try TestPrograms.object("maps_only")])
        #expect(noProgs.stderr.contains("object has no programs"))
        let verifier = try CLI.run(["prog", "run", try TestPrograms.object("bad_unchecked_lookup"), "--data", "00"])
        #expect(verifier.stderr.contains("verifier rejected (EACCES)"))
        #expect(verifier.stderr.split(separator: "\n").count == 1)
        let verbose = try CLI.run(["prog", "run", try TestPrograms.object("bad_unchecked_lookup"), "--data", "00", "--verbose"])
        #expect(verbose.stderr.contains("--- verifier log ---"))
    }

    @Test func nonRootGetsAClearLine() throws {
        let r = try CLI.run(["prog", "list"], asUser: 65534)
        #expect(r.status == 1)
        #expect(r.stderr.contains("CAP_SYS_ADMIN") || r.stderr.contains("root"), "\(r.stderr)")
        let load = try CLI.run(["prog", "run", try TestPrograms.object("count_packets"), "--data", "00"], asUser: 65534)
        #expect(load.status == 1)
        #expect(load.stderr.contains("CAP_BPF") && load.stderr.contains("hint:"), "\(load.stderr)")
    }

    /// Every command that changes or reads kernel state, run by an unprivileged user (setpriv
    /// to nobody, no capabilities), fails at once with one line naming what it lacks, before
    /// it looks at its arguments' files or touches anything; help still works.
    @Test(arguments: [
        ["attach", "tc", "lo", "x.c"], ["attach", "xdp", "lo", "x.o"], ["attach", "socket", "lo", "--pcap", "tcp"],
        ["detach", "tc", "lo", "--all"], ["list"], ["doctor"], ["doctor", "--fix"], ["map", "list"],
        ["ratelimit", "list"], ["ratelimit", "run", "--config", "c.yaml"], ["http-filter", "watch", "-i", "lo"],
        ["vlan-learn", "--trunk", "lo", "--map", "00:00:00:00:00:01=lo"], ["tunnel-monitor", "run", "lo"],
        ["bridge", "--underlay", "lo", "--vni", "1=lo"], ["xdp-drop-count", "lo"], ["tc-events", "lo"],
        ["sim", "up", "pair.yaml"], ["sim", "down", "x"], ["sim", "status"], ["demo"],
    ])
    func unprivilegedCommandsNameTheMissingCapability(_ arguments: [String]) throws {
        let r = try CLI.run(arguments, asUser: 65534)
        #expect(r.status == 1, "\(arguments): exit \(r.status): \(r.stdout) \(r.stderr)")
        #expect(r.stdout.isEmpty)
        let lines = r.stderr.split(separator: "\n")
        #expect(lines.count == 1 && r.stderr.contains("needs CAP_BPF, CAP_NET_ADMIN, CAP_SYS_ADMIN") && r.stderr.contains("hint: run it as root"),
                "\(arguments): \(r.stderr)")
    }

    @Test func unprivilegedTracingNamesPerfmonAndHelpNeedsNothing() throws {
        let trace = try CLI.run(["trace", "execsnoop"], asUser: 65534)
        #expect(trace.status == 1 && trace.stderr.contains("netbpf trace execsnoop needs CAP_BPF, CAP_PERFMON"), "\(trace.stderr)")
        let help = try CLI.run(["attach", "tc", "--help"], asUser: 65534)
        #expect(help.status == 0 && help.stdout.contains("USAGE"), "\(help.stderr)")
        let features = try CLI.run(["features"], asUser: 65534)
        #expect(features.status == 0 && features.stdout.contains("kernel BTF"), "\(features.stderr)")
    }
}
