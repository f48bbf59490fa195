import Foundation
import Glibc
import Testing
import NetBPF
import NetBPFTestSupport
@testable import NetBPFTracing

/// Each tool sees what it exists for, in-process through the library, and where libbpf-tools has
/// the same tool, a peer started at the same time sees the same events.
@Suite(.serialized, .enabled(if: TestEnvironment.isRoot, "requires root: loads and attaches tracing programs"))
struct TracingToolTests {
    @Test func execsnoopSeesTrueWithArguments() throws {
        let marker = "nbx\(getpid())\(UInt32.random(in: 0...UInt32.max))"
        let peer = hasPeer("execsnoop") ? try startPeer("execsnoop", header: "PCOMM") : nil
        var o = Execsnoop.Options()
        o.maxArgs = 20
        let session = try Execsnoop.start(o)
        defer { try? session.close() }
        let (pid, status) = try Workload.run("/bin/true", [marker, "two words", "3"])
        #expect(status == 0)
        let events = try collectEvents(session, decode: { Execsnoop.decode($0, maxArgs: 20) }) { $0.contains { $0.pid == UInt32(pid) } }
        let e = try #require(events.first { $0.pid == UInt32(pid) })
        #expect(e.args == ["/bin/true", marker, "two words", "3"])
        #expect(e.comm == "true")
        #expect(e.ppid == UInt32(getpid()))
        #expect(e.ret == 0)
        #expect(!e.truncated)
        let ours = Execsnoop.line(e, o, startNs: 0)
        #expect(ours.hasSuffix("/bin/true \(marker) two words 3"))

        if let peer {
            usleep(300_000)
            peer.interrupt()
            let theirs = try #require(peer.lines(containing: marker).first, "libbpf-tools execsnoop printed: \(peer.text.suffix(500))")
            // PCOMM PID PPID RET ARGS: the same columns, the same values.
            #expect(Array(columns(theirs).prefix(4)) == Array(columns(ours).prefix(4)))
            #expect(columns(theirs).dropFirst(4).joined(separator: " ") == columns(ours).dropFirst(4).joined(separator: " "))
        }
    }

    @Test func execsnoopMarksTruncatedArgumentsAndFailures() throws {
        var o = Execsnoop.Options()
        o.maxArgs = 3
        o.includeFailed = true
        let session = try Execsnoop.start(o)
        defer { try? session.close() }
        let (pid, _) = try Workload.run("/bin/true", ["a", "b", "c", "d"])
        // A failed exec: the shell's execve of a missing file returns -ENOENT.
        try Workload.run("/bin/sh", ["-c", "exec /nonexistent-netbpf-\(getpid()) 2>/dev/null"])
        let events = try collectEvents(session, decode: { Execsnoop.decode($0, maxArgs: 3) }) { evs in
            evs.contains { $0.pid == UInt32(pid) } && evs.contains { $0.ret == -ENOENT && $0.args.first?.contains("nonexistent-netbpf") == true }
        }
        let e = try #require(events.first { $0.pid == UInt32(pid) })
        #expect(e.args == ["/bin/true", "a", "b"])
        #expect(e.truncated)
        #expect(Execsnoop.line(e, o, startNs: 0).hasSuffix("/bin/true a b ..."))
        let failed = try #require(events.first { $0.ret == -ENOENT && $0.args.first?.contains("nonexistent-netbpf") == true })
        #expect(failed.comm == "sh")
    }

    @Test func opensnoopSeesAFileOpenedByTheTest() throws {
        let path = "/tmp/netbpf-opensnoop-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let peer = hasPeer("opensnoop") ? try startPeer("opensnoop", ["-p", String(getpid())], header: "PID") : nil
        var o = Opensnoop.Options()
        o.pid = UInt32(getpid())
        let session = try Opensnoop.start(o)
        defer { try? session.close() }
        let missing = open(path, O_RDONLY)                // ENOENT
        let created = open(path, O_CREAT | O_WRONLY, 0o600)
        close(created)
        unlink(path)
        #expect(missing == -1 && created >= 0)
        let events = try collectEvents(session, decode: Opensnoop.decode) { $0.filter { $0.path == path }.count >= 2 }
        let mine = events.filter { $0.path == path }
        #expect(mine.count == 2)
        #expect(mine.first?.errno == ENOENT && mine.first?.fd == -1)
        #expect(mine.last?.fd == created && mine.last?.errno == 0)
        #expect(mine.allSatisfy { $0.pid == UInt32(getpid()) })

        if let peer {
            usleep(300_000)
            peer.interrupt()
            let theirs = peer.lines(containing: path).map(columns)
            let ours = mine.map { columns(Opensnoop.line($0, o, startNs: 0)) }
            // PID COMM FD ERR PATH
            // As sets: the thread may move between CPUs between the two opens, and the peer's
            // per-CPU perf buffers do not keep the order across CPUs.
            #expect(theirs.map { $0.joined(separator: " ") }.sorted() == ours.map { $0.joined(separator: " ") }.sorted(),
                    "libbpf-tools opensnoop: \(theirs), netbpf: \(ours)")
        }
    }

    @Test func opensnoopCountsWhatTheRingCouldNotTake() throws {
        var o = Opensnoop.Options()
        o.pid = UInt32(getpid())
        let session = try Opensnoop.start(o)
        defer { try? session.close() }
        let path = "/tmp/netbpf-lost-\(getpid())"
        // Nothing is consumed while 20,000 opens happen: the 256 KB ring fills, the rest is counted.
        for _ in 0..<20_000 { _ = open(path, O_RDONLY) }
        var seen = 0
        let ring = try RingBuffer(map: session.map("events")) { r in if Opensnoop.decode(r).path == path { seen += 1 } }
        try ring.consume()
        let lost = session.lostEvents()
        #expect(lost > 0)
        // Lost records are not attributed to a path: the process's other opens meanwhile count too.
        #expect(UInt64(seen) + lost >= 20_000 && UInt64(seen) + lost <= 20_050, "seen \(seen), lost \(lost)")
    }

    @Test func exitsnoopSeesExitCodeAndSignal() throws {
        let peer = hasPeer("exitsnoop") ? try startPeer("exitsnoop", header: "PCOMM") : nil
        let session = try Exitsnoop.start(Exitsnoop.Options())
        defer { try? session.close() }
        let (code3, status) = try Workload.run("/bin/sh", ["-c", "exit 3"])
        #expect(status == 3)
        // SIGKILL: children inherit a signal mask with most signals blocked here.
        let sleeper = Process()
        sleeper.executableURL = URL(fileURLWithPath: "/bin/sleep")
        sleeper.arguments = ["30"]
        try sleeper.run()
        usleep(100_000)
        kill(sleeper.processIdentifier, SIGKILL)
        sleeper.waitUntilExit()
        let killed = sleeper.processIdentifier
        let events = try collectEvents(session, decode: Exitsnoop.decode) { evs in
            evs.contains { $0.pid == UInt32(code3) } && evs.contains { $0.pid == UInt32(killed) }
        }
        let a = try #require(events.first { $0.pid == UInt32(code3) })
        #expect(a.exitCode == 3 && a.signal == 0 && a.ppid == UInt32(getpid()) && a.comm == "sh")
        let b = try #require(events.first { $0.pid == UInt32(killed) })
        #expect(b.signal == SIGKILL)
        #expect(Exitsnoop.line(b, Exitsnoop.Options()).hasSuffix("signal 9 (Killed)"))
        #expect(Exitsnoop.line(a, Exitsnoop.Options()).hasSuffix("code 3"))

        if let peer {
            usleep(300_000)
            peer.interrupt()
            for e in [a, b] {
                let theirs = try #require(peer.lines(containing: " \(e.pid) ").first { columns($0)[1] == String(e.pid) })
                let ours = Exitsnoop.line(e, Exitsnoop.Options())
                // PCOMM PID PPID TID (AGE differs by when each read the clock) EXIT_CODE
                #expect(Array(columns(theirs).prefix(4)) == Array(columns(ours).prefix(4)))
                #expect(columns(theirs).dropFirst(5) == columns(ours).dropFirst(5))
            }
        }
    }

    @Test func killsnoopSeesKill() throws {
        let peer = hasPeer("killsnoop") ? try startPeer("killsnoop", ["-p", String(getpid())], header: "TPID") : nil
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/bin/sleep")
        child.arguments = ["30"]
        try child.run()
        defer { kill(child.processIdentifier, SIGKILL); child.waitUntilExit() }
        var o = Killsnoop.Options()
        o.pid = UInt32(getpid())
        let session = try Killsnoop.start(o)
        defer { try? session.close() }
        #expect(kill(child.processIdentifier, SIGUSR2) == 0)
        #expect(kill(99_999_999 & 0x3fffff, 0) == -1 || true)
        let events = try collectEvents(session, decode: Killsnoop.decode) { $0.contains { $0.targetPID == child.processIdentifier } }
        let e = try #require(events.first { $0.targetPID == child.processIdentifier })
        #expect(e.signal == SIGUSR2 && e.result == 0 && e.pid == UInt32(getpid()))
        if let peer {
            usleep(300_000)
            peer.interrupt()
            let theirs = try #require(peer.lines(containing: " \(child.processIdentifier) ").first)
            // TIME PID COMM SIG TPID RESULT (TIME may tick between the two)
            #expect(Array(columns(theirs).dropFirst()) == Array(columns(Killsnoop.line(e, Killsnoop.Options())).dropFirst()))
        }
    }

    @Test func killsnoopAllSignalsSeesSignalGenerate() throws {
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/bin/sleep")
        child.arguments = ["30"]
        try child.run()
        defer { kill(child.processIdentifier, SIGKILL); child.waitUntilExit() }
        var o = Killsnoop.Options()
        o.allSignals = true
        o.signal = SIGUSR2
        o.pid = UInt32(getpid())
        let session = try Killsnoop.start(o)
        defer { try? session.close() }
        #expect(kill(child.processIdentifier, SIGUSR2) == 0)
        let events = try collectEvents(session, decode: Killsnoop.decode) { $0.contains { $0.targetPID == child.processIdentifier } }
        let e = try #require(events.first { $0.targetPID == child.processIdentifier })
        // RESULT is signal_generate's errno (sigsnoop's meaning), not its result code.
        #expect(e.signal == SIGUSR2 && e.pid == UInt32(getpid()))
        #expect(e.result == 0, "signal_generate errno \(e.result)")
        o.names = true
        #expect(Killsnoop.line(e, o).contains("SIGUSR2"))
    }

    @Test func syscountCountsThisProcess() throws {
        var o = Syscount.Options()
        o.pid = UInt32(getpid())
        o.latency = true
        let session = try Syscount.start(o)
        defer { try? session.close() }
        for _ in 0..<1000 { _ = getppid() }
        let rows = try Syscount.collect(session, o)
        let row = try #require(rows.first { $0.name == "getppid" })
        #expect(row.count == 1000)
        #expect(row.totalNs > 0)
        #expect(Syscount.format(rows, o).contains("getppid"))
    }

    @Test func runqlatFillsAHistogram() throws {
        let o = Runqlat.Options()
        let session = try Runqlat.start(o)
        defer { try? session.close() }
        // Wake-ups: a few hundred short sleeps.
        for _ in 0..<200 { usleep(500) }
        let entries = try Runqlat.collect(session, o)
        let total = entries.reduce(UInt64(0)) { $0 + $1.histogram.total }
        #expect(total > 0)
        // libbpf-tools' header: "count    distribution" (BCC puts 5 spaces there).
        #expect(Runqlat.format(entries, o).hasPrefix("     usecs               : count    distribution\n"))
    }

    @Test func runqlatPerProcess() throws {
        var o = Runqlat.Options()
        o.byProcess = true
        o.pid = UInt32(getpid())
        let session = try Runqlat.start(o)
        defer { try? session.close() }
        for _ in 0..<200 { usleep(500) }
        let entries = try Runqlat.collect(session, o)
        #expect(entries.count == 1)
        #expect(entries.first?.id == UInt32(getpid()))
        #expect((entries.first?.histogram.total ?? 0) > 0)
        #expect(Runqlat.format(entries, o).contains("pid = \(getpid())"))
    }

    @Test func tcplifeSeesALoopbackSessionWithItsBytes() throws {
        let peer = hasPeer("tcplife") ? try startPeer("tcplife", header: "PID") : nil
        let session = try Tcplife.start(Tcplife.Options())
        defer { try? session.close() }
        let (server, client) = try Workload.tcpSession(clientBytes: 100_000, serverBytes: 5_000)
        let events = try collectEvents(session, decode: Tcplife.decode) { evs in
            evs.contains { $0.localPort == client && $0.remotePort == server } && evs.contains { $0.localPort == server && $0.remotePort == client }
        }
        let c = try #require(events.first { $0.localPort == client && $0.remotePort == server })
        let s = try #require(events.first { $0.localPort == server && $0.remotePort == client })
        // bytes_acked / bytes_received, as BCC and libbpf-tools report them: sequence space, so
        // the SYN and the FIN count one byte each (the client's SYN and FIN are acked; each side
        // receives one FIN; the server's SYN-ACK is not in bytes_acked).
        #expect(c.txBytes == 100_002 && c.rxBytes == 5_001, "client \(c)")
        #expect(s.txBytes == 5_001 && s.rxBytes == 100_001, "server \(s)")
        #expect(c.localAddress == "127.0.0.1" && c.remoteAddress == "127.0.0.1" && c.comm == "python3")
        #expect(c.pid == s.pid)

        if let peer {
            usleep(300_000)
            peer.interrupt()
            for e in [c, s] {
                let theirs = try #require(peer.lines(containing: " \(e.localPort) ").first { columns($0)[3] == String(e.localPort) })
                // PID COMM LADDR LPORT RADDR RPORT TX_KB RX_KB (MS differs)
                #expect(Array(columns(theirs).prefix(8)) == Array(columns(Tcplife.line(e, Tcplife.Options())).prefix(8)))
            }
        }
    }

    @Test func tcpstatesSeesTheHandshakeAndClose() throws {
        let peer = hasPeer("tcpstates") ? try startPeer("tcpstates", header: "SKADDR") : nil
        let session = try Tcpstates.start(Tcpstates.Options())
        defer { try? session.close() }
        let (server, client) = try Workload.tcpSession(clientBytes: 10, serverBytes: 10)
        let events = try collectEvents(session, decode: Tcpstates.decode) { evs in
            evs.contains { $0.localPort == client && $0.newState == "CLOSE" } && evs.contains { $0.localPort == server && $0.newState == "CLOSE" && $0.remotePort == client }
        }
        let mine = events.filter { $0.localPort == client && $0.remotePort == server }.map { "\($0.oldState)->\($0.newState)" }
        #expect(mine == ["SYN_SENT->ESTABLISHED", "ESTABLISHED->FIN_WAIT1", "FIN_WAIT1->FIN_WAIT2", "FIN_WAIT2->CLOSE"])
        if let peer {
            usleep(300_000)
            peer.interrupt()
            let theirs = peer.lines(containing: " \(client) ").map(columns).filter { $0[4] == String(client) && $0[6] == String(server) }
            let ours = events.filter { $0.localPort == client && $0.remotePort == server }.map { columns(Tcpstates.line($0, Tcpstates.Options(), startNs: 0)) }
            // SKADDR PID COMM LADDR LPORT RADDR RPORT OLDSTATE -> NEWSTATE (MS differs). The peer's
            // per-CPU perf buffers can deliver changes made on different CPUs out of order, so
            // the lines are compared as sets; ours (one ring buffer) are in order, checked above.
            let key: ([String]) -> String = { $0.prefix(10).joined(separator: " ") }
            #expect(theirs.map(key).sorted() == ours.map(key).sorted())
        }
    }

    @Test(.enabled(if: FileManager.default.fileExists(atPath: "/sys/class/block/vda"), "requires a block device (vda)"))
    func biolatencyAndBitesizeSeeDirectWrites() throws {
        for sizes in [false, true] {
            var o = Biolatency.Options()
            o.sizes = sizes
            o.perDisk = true
            let session = try Biolatency.start(o)
            defer { try? session.close() }
            try Workload.run("/bin/dd", ["if=/dev/zero", "of=/var/tmp/netbpf-bio-\(getpid())", "bs=64k", "count=32", "oflag=direct"])
            unlink("/var/tmp/netbpf-bio-\(getpid())")
            let entries = try Biolatency.collect(session, o)
            #expect(entries.reduce(UInt64(0)) { $0 + $1.histogram.total } >= 32)
            // bitesize keys its histograms by the issuing command (BCC, libbpf-tools), biolatency -D by disk.
            #expect(entries.contains { sizes ? $0.comm == "dd" : $0.disk == "vda" })
            if sizes { #expect(entries.contains { $0.histogram.slots.count > 6 && $0.histogram.slots[6] > 0 }) } // 64 KB requests
        }
    }

    @Test func funccountCountsTracepointHitsExactly() throws {
        var o = Funccount.Options()
        o.pattern = "t:syscalls:sys_enter_getpp*"
        o.pid = UInt32(getpid())
        let counting = try Funccount.start(o)
        defer { try? counting.session.close() }
        #expect(counting.probes == ["syscalls:sys_enter_getppid"])
        for _ in 0..<500 { _ = getppid() }
        #expect(try counting.counts() == [Funccount.Count(function: "syscalls:sys_enter_getppid", count: 500)])
        #expect(try counting.counts(clear: true).first?.count == 500)
        #expect(try counting.counts().isEmpty)
    }

    @Test(.disabled(if: Features.shared.kprobes.available, "this kernel has kprobes: the pattern attaches"))
    func funccountKprobePatternsFailClearly() throws {
        var o = Funccount.Options()
        o.pattern = "tcp_*"
        let e = try #require(throws: BPFError.self) { try Funccount.start(o) }
        #expect(e.code == .unsupported)
        #expect(e.description.contains("kernel built without CONFIG_KPROBES"))
    }

    @Test func traceDecodesAndFiltersATracepoint() throws {
        var o = Trace.Options()
        o.tracepoint = "syscalls:sys_enter_openat"
        o.filter = "filename ~ netbpf-trace-\(getpid())"
        o.pid = UInt32(getpid())
        let tracing = try Trace.start(o)
        defer { try? tracing.session.close() }
        let path = "/tmp/netbpf-trace-\(getpid())"
        _ = open("/tmp/other-\(getpid())", O_RDONLY)
        _ = open(path, O_RDONLY | O_CLOEXEC)
        let events = try collectEvents(tracing.session, decode: tracing.decode) { $0.contains { tracing.filter!.matches($0) } }
        let hits = events.filter { tracing.filter!.matches($0) }
        #expect(hits.count == 1)
        let e = try #require(hits.first)
        #expect(e.value("filename") == .string(path))
        #expect(e.value("dfd") == .signed(-100))
        #expect(e.value("flags") == .signed(Int64(O_RDONLY | O_CLOEXEC)))
        #expect(Trace.line(e, o).contains("filename=\(path)"))
    }

    @Test func traceSymbolizesKernelAndUserStacks() throws {
        var o = Trace.Options()
        o.tracepoint = "syscalls:sys_enter_getppid"
        o.pid = UInt32(getpid())
        o.kernelStacks = true
        o.userStacks = true
        let tracing = try Trace.start(o)
        defer { try? tracing.session.close() }
        _ = getppid()
        let events = try collectEvents(tracing.session, decode: tracing.decode) { !$0.isEmpty }
        let e = try #require(events.first)
        let kernel = e.kernelStack ?? []
        #expect(kernel.contains { $0.hasPrefix("do_syscall_64+") }, "\(kernel)")
        let user = e.userStack ?? []
        #expect(user.first?.hasPrefix("getppid") == true, "\(user)")
        #expect(Trace.line(e, o).contains("\n        -\n        getppid"))
    }

    @Test func badInputGivesClearErrors() throws {
        var t = Trace.Options()
        t.tracepoint = "nosuch:event"
        let e1 = try #require(throws: BPFError.self) { try Trace.start(t) }
        #expect(e1.code == .notFound && e1.description.contains("no such tracepoint"))
        var o = Opensnoop.Options()
        o.pid = 0x3fff_fff0
        let e2 = try #require(throws: BPFError.self) { try Opensnoop.start(o) }
        #expect(e2.description.contains("no such process"))
        t.tracepoint = "syscalls:sys_enter_kill"
        t.filter = "signal == 9"
        let e3 = try #require(throws: BPFError.self) { try Trace.start(t) }
        #expect(e3.code == .invalidArgument && e3.description.contains("no field 'signal'"))
    }

    @Test func toolsLeaveNoFileDescriptorsBehind() throws {
        _ = try Execsnoop.start(Execsnoop.Options())   // compile once outside the count
        try TestEnvironment.expectNoFDLeak {
            for start in [{ try Execsnoop.start(Execsnoop.Options()) }, { try Runqlat.start(Runqlat.Options()) },
                          { try Tcplife.start(Tcplife.Options()) }, { try Biolatency.start(Biolatency.Options()) }] {
                let session = try start()
                if (try? session.map("events")) != nil {
                    _ = try collectEvents(session, timeout: 0.05, decode: { $0.count }, until: { _ in false })
                }
                try? session.close()
            }
            var o = Funccount.Options()
            o.pattern = "u:c:getppid"
            let counting = try Funccount.start(o)
            try? counting.session.close()
        }
    }

    @Test func tplistListsFormats() throws {
        let entries = try Tplist.list(pattern: "sched:sched_switch", verbose: true)
        #expect(entries.map(\.name) == ["sched:sched_switch"])
        #expect(entries.first?.fields?.map(\.name).contains("next_pid") == true)
        #expect(Tplist.format(entries).contains("    pid_t next_pid;"))
        #expect(try Tplist.list(pattern: "sys_enter_openat", verbose: false).map(\.name).contains("syscalls:sys_enter_openat"))
    }

    @Test func bpsListsALoadedToolProgram() throws {
        let session = try Exitsnoop.start(Exitsnoop.Options())
        defer { try? session.close() }
        let rows = try Bps.rows()
        #expect(rows.contains { $0.name == "exitsnoop_exit" && $0.type == "tracepoint" && $0.maps >= 1 })
        #expect(Bps.format(rows).hasPrefix("     BID TYPE                   UID  #MAPS LoadTime     NAME\n"))
    }
}
