import Foundation
import Glibc
import Testing
import NetBPF
import NetBPFTestSupport

/// `netbpf trace ...` run as a user would: the header, events, Ctrl-C, JSON, bad input.
@Suite(.serialized, .enabled(if: TestEnvironment.isRoot, "requires root: the tools load BPF programs"))
struct TracingCLITests {
    @Test func execsnoopPrintsAnExecAndStopsOnCtrlC() throws {
        let marker = "nbcli\(getpid())"
        let p = try StreamingProcess(CLI.binary, ["trace", "execsnoop", "-T"])
        #expect(p.wait(for: "PCOMM", timeout: 60), "stderr: \(p.errorText)")
        try Workload.run("/bin/true", [marker, "x"])
        #expect(p.wait(for: marker, timeout: 10))
        p.interrupt(interruptible: true)
        #expect(p.process.terminationStatus == 0)
        let line = try #require(p.lines(containing: marker).first)
        #expect(line.hasSuffix("/bin/true \(marker) x"))
        #expect(columns(line)[1] == "true")
    }

    @Test func runqlatJSONReport() throws {
        let (status, out, err) = try CLI.run(["trace", "runqlat", "--json", "1", "1"])
        #expect(status == 0, "\(err)")
        let object = try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any]
        let histograms = try #require(object?["histograms"] as? [[String: Any]])
        let first = try #require(histograms.first?["histogram"] as? [String: Any])
        #expect(first["unit"] as? String == "usecs")
        #expect((first["total"] as? Int ?? 0) > 0)
    }

    @Test func tplistAndFunccount() throws {
        let (s1, out1, _) = try CLI.run(["trace", "tplist", "sched:sched_switch", "-v"])
        #expect(s1 == 0 && out1.contains("    pid_t next_pid;"))
        let (s2, out2, _) = try CLI.run(["trace", "funccount", "t:syscalls:sys_enter_getppid", "-d", "1"])
        #expect(s2 == 0 && out2.contains("FUNC") && out2.hasSuffix("Detaching...\n"))
    }

    @Test func badInputIsOneLineAndNonZero() throws {
        let cases: [([String], String)] = [
            (["trace", "trace", "nosuch:event"], "no such tracepoint"),
            (["trace", "trace", "syscalls:sys_enter_kill", "-f", "signal == 9"], "no field 'signal'"),
            (["trace", "trace", "syscalls:sys_enter_kill", "-f", "sig 9"], "no operator"),
            (["trace", "opensnoop", "-p", "1073741800"], "no such process"),
            (["trace", "funccount", "u:c:no_such_function_netbpf"], "no uprobe matches"),
            (["trace", "killsnoop", "-s", "SIGNOPE"], "not a signal"),
            (["trace", "tcplife", "-L", "http"], "comma-separated list of ports"),
            (["trace", "tcpconnect", "-P", "http"], "comma-separated list of ports"),
            (["trace", "tcpaccept", "-p", "1073741800"], "no such process"),
            (["trace", "tcpretrans", "-l"], "tail loss probes have no tracepoint"),
            (["trace", "tcpreset", "--sent", "--received"], "not both"),
            (["trace", "tcprtt", "-a", "nothost"], "not an IPv4 or IPv6"),
        ]
        for (args, expected) in cases { try Self.expectOneLineError(args, expected) }
    }

    @Test(.disabled(if: Features.shared.kprobes.available, "this kernel has kprobes: funccount k:vfs_read attaches"))
    func kprobeFunccountSaysTheKernelHasNoKprobes() throws {
        try Self.expectOneLineError(["trace", "funccount", "k:vfs_read"], "kernel built without CONFIG_KPROBES")
    }

    static func expectOneLineError(_ args: [String], _ expected: String) throws {
        let (status, _, err) = try CLI.run(args)
        #expect(status == 1, "\(args)")
        #expect(err.hasPrefix("netbpf: ") && err.contains(expected), "\(args): \(err)")
        #expect(err.split(separator: "\n").count == 1, "\(args): \(err)")
    }
}
