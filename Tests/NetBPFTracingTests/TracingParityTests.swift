import Foundation
import Glibc
import Testing
import NetBPF
import NetBPFTestSupport
@testable import NetBPFTracing

/// Behaviour where netbpf's tools differed from Debian's libbpf-tools (issue 20, "exact, option for
/// option"): each test fails on the old behaviour.
@Suite(.serialized, .enabled(if: TestEnvironment.isRoot, "requires root: loads and attaches tracing programs"))
struct TracingParityTests {
    /// libbpf-tools' sigsnoop -k sees kill(2), tkill(2) and tgkill(2); killsnoop must see all three.
    @Test func killsnoopSeesKillTkillAndTgkill() throws {
        // The sender: starts a child that ignores SIGUSR2, then signals it once with each call.
        // Syscall numbers for tkill/tgkill are per architecture (x86_64, aarch64).
        let script = """
        import ctypes, os, platform, signal, subprocess, sys
        c = subprocess.Popen([sys.executable, '-c', "import signal, sys, time; signal.signal(signal.SIGUSR2, signal.SIG_IGN); print('ready', flush=True); time.sleep(30)"], stdout=subprocess.PIPE)
        c.stdout.readline()
        nr = {'x86_64': (200, 234), 'aarch64': (130, 131)}[platform.machine()]
        libc = ctypes.CDLL(None, use_errno=True)
        os.kill(c.pid, signal.SIGUSR2)
        assert libc.syscall(nr[0], c.pid, signal.SIGUSR2) == 0
        assert libc.syscall(nr[1], c.pid, c.pid, signal.SIGUSR2) == 0
        print(c.pid, flush=True)
        c.kill(); c.wait()
        """
        var o = Killsnoop.Options()
        o.signal = SIGUSR2
        let session = try Killsnoop.start(o)
        defer { try? session.close() }
        let (sender, out, status) = try runPython(script)
        #expect(status == 0, "sender failed: \(out)")
        let child = try #require(Int32(out.split(separator: "\n").last.map(String.init) ?? ""), "sender printed: \(out)")
        let events = try collectEvents(session, timeout: 5, decode: Killsnoop.decode) { $0.filter { $0.targetPID == child }.count >= 3 }
        usleep(200_000)
        let mine = events.filter { $0.targetPID == child }
        #expect(mine.count == 3, "events for \(child): \(mine)")
        for e in mine {
            #expect(e.pid == UInt32(sender) && e.signal == SIGUSR2 && e.result == 0, "\(e)")
        }
    }

    /// --max-args 60 (the most the program copies) used to drop argument 61 onward silently.
    @Test func execsnoopMarksTruncationAtEveryLimit() throws {
        for (limit, count) in [(3, 6), (60, 64)] {
            let marker = "nbtl\(getpid())x\(limit)"
            var o = Execsnoop.Options()
            o.maxArgs = limit
            let session = try Execsnoop.start(o)
            defer { try? session.close() }
            let args = [marker] + (2...count - 1).map { "a\($0)" }
            let (pid, status) = try Workload.run("/bin/true", args)
            #expect(status == 0)
            let events = try collectEvents(session, decode: { Execsnoop.decode($0, maxArgs: limit) }) { $0.contains { $0.pid == UInt32(pid) } }
            let e = try #require(events.first { $0.pid == UInt32(pid) })
            #expect(e.args == Array((["/bin/true"] + args).prefix(limit)), "limit \(limit)")
            #expect(e.truncated, "limit \(limit): \(count) arguments, \(e.args.count) printed, not marked")
            #expect(Execsnoop.line(e, o, startNs: 0).hasSuffix(" ..."))
        }
    }

    /// The same through the command: " ..." on the line and `"truncated":true` in JSON.
    @Test func execsnoopCommandPrintsTruncation() throws {
        let marker = "nbtlcli\(getpid())"
        let args = [marker] + (2...64).map { "a\($0)" }
        let text = try StreamingProcess(CLI.binary, ["trace", "execsnoop", "--max-args", "60"])
        let json = try StreamingProcess(CLI.binary, ["trace", "execsnoop", "--max-args", "60", "--json"])
        defer { text.interrupt(); json.interrupt() }
        #expect(text.wait(for: "PCOMM", timeout: 60), "stderr: \(text.errorText)")
        usleep(1_500_000)  // JSON mode prints no header: give it the time the text one took and more
        try Workload.run("/bin/true", args)
        #expect(text.wait(for: marker, timeout: 10) && json.wait(for: marker, timeout: 10), "stderr: \(json.errorText)")
        let line = try #require(text.lines(containing: marker).first)
        #expect(line.hasSuffix(" a59 ..."), "\(line)")
        let jsonLine = try #require(json.lines(containing: marker).first)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(jsonLine.utf8)) as? [String: Any])
        #expect(object["truncated"] as? Bool == true)
        #expect((object["args"] as? [String])?.count == 60)
    }

    /// bitesize: one histogram per issuing command, and -c keeps only one command (BCC, libbpf-tools).
    @Test func bitesizePerProcessAndCommFilter() throws {
        let comm = "nbtlbs\(getpid() % 100_000)"
        let path = "/var/tmp/netbpf-tl-bitesize-\(getpid())"
        defer { unlink(path) }
        // Direct 64 KiB writes, fsynced: block requests issued from this command's own context.
        let script = """
        import mmap, os
        open('/proc/self/comm', 'w').write('\(comm)')
        buf = mmap.mmap(-1, 65536); buf.write(b'x' * 65536)
        fd = os.open('\(path)', os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_DIRECT, 0o600)
        for i in range(32): os.write(fd, buf)
        os.fsync(fd); os.close(fd)
        """
        var filtered = Biolatency.Options()
        filtered.sizes = true
        filtered.comm = comm
        var all = Biolatency.Options()
        all.sizes = true
        let a = try Biolatency.start(filtered)
        defer { try? a.close() }
        let b = try Biolatency.start(all)
        defer { try? b.close() }
        let (_, out, status) = try runPython(script)
        #expect(status == 0, "writer failed: \(out)")
        usleep(300_000)
        let only = try Biolatency.collect(a, filtered)
        let every = try Biolatency.collect(b, all)
        #expect(!only.isEmpty && only.allSatisfy { $0.comm == comm }, "-c \(comm): \(only.map { $0.comm ?? "nil" })")
        // 64 KiB requests land in the 64 -> 127 slot.
        #expect((only.first?.histogram.slots[6] ?? 0) > 0, "\(only.first?.histogram.slots ?? [])")
        let comms = every.compactMap(\.comm)
        #expect(comms.contains(comm) && Set(comms).count == every.count && every.count == comms.count, "\(comms)")
        let text = Biolatency.format(only, filtered)
        #expect(text.hasPrefix("\nProcess Name = \(comm)\n     Kbytes              : count    distribution\n"), "\(text)")
    }

    /// biolatency -F: direct writes then direct reads of the same file give Write and Read
    /// histograms (Sync-Write, Sync-Read: O_DIRECT requests carry REQ_SYNC), named as
    /// libbpf-tools names request flags, with the layout "flags = NAME" before each histogram.
    @Test func biolatencyPerFlagSeparatesReadsFromWrites() throws {
        let path = "/var/tmp/netbpf-tl-bioflags-\(getpid())"
        defer { unlink(path) }
        let script = """
        import mmap, os
        buf = mmap.mmap(-1, 65536); buf.write(b'y' * 65536)
        fd = os.open('\(path)', os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_DIRECT, 0o600)
        for i in range(16): os.write(fd, buf)
        os.fsync(fd)
        for i in range(16): os.preadv(fd, [buf], i * 65536)
        os.close(fd)
        """
        var o = Biolatency.Options()
        o.perFlag = true
        let session = try Biolatency.start(o)
        defer { try? session.close() }
        let (_, out, status) = try runPython(script)
        #expect(status == 0, "reader/writer failed: \(out)")
        usleep(300_000)
        let entries = try Biolatency.collect(session, o)
        let names = entries.compactMap(\.flags)
        #expect(names.count == entries.count && Set(names).count == names.count, "one histogram per flag set: \(names)")
        // O_DIRECT reads are issued with REQ_SYNC: libbpf-tools shows them as "Sync-Read".
        let reads = entries.filter { $0.flags?.hasSuffix("Read") == true }.reduce(0) { $0 + $1.histogram.slots.reduce(0, +) }
        let writes = entries.filter { $0.flags?.hasSuffix("Write") == true }.reduce(0) { $0 + $1.histogram.slots.reduce(0, +) }
        #expect(reads >= 16, "16 direct 64 KiB reads, got \(reads) in \(names)")
        #expect(writes >= 16, "16 direct 64 KiB writes, got \(writes) in \(names)")
        let text = Biolatency.format(entries, o)
        for name in names {
            #expect(text.contains("flags = \(name)\n     usecs               : count    distribution\n"), "\(text)")
        }
    }

    /// Layouts scripts parse, as libbpf-tools 0.26 prints them: opensnoop -T (HH:MM:SS under
    /// TIME), -U (7 wide), -e (%08o); tcplife -T (headed TIME(s)); syscount -l ("%3d: %s").
    /// Where the peer is installed its own output is the reference too.
    @Test func layoutsMatchLibbpfTools() throws {
        var o = Opensnoop.Options()
        o.timestamp = true
        o.printUID = true
        o.extended = true
        let header = Opensnoop.header(o)
        #expect(header == "TIME     UID     PID    COMM              FD ERR FLAGS    PATH")
        let e = Opensnoop.Event(timestampNs: 0, pid: 42, tid: 42, uid: 0, ret: 3, flags: 0, comm: "cat", path: "/etc/hosts")
        let line = Opensnoop.line(e, o, startNs: 0)
        #expect(line.range(of: #"^\d\d:\d\d:\d\d 0       42     cat                3   0 00000000 /etc/hosts$"#, options: .regularExpression) != nil, "\(line)")
        var t = Tcplife.Options()
        t.time = true
        #expect(Tcplife.header(t).hasPrefix("TIME(s)  PID     COMM"))
        #expect(Syscount.listing.prefix(3) == ["  0: read", "  1: write", "  2: open"])
        if hasPeer("opensnoop") {
            let peer = try startPeer("opensnoop", ["-T", "-U", "-e"], header: "PATH")
            let theirs = peer.interrupt().split(separator: "\n").first.map(String.init)
            #expect(theirs == header)
        }
        if hasPeer("syscount") {
            let (status, out, _) = try TestPrograms.run("\(libbpfTools)/syscount", ["-l"])
            let ours = Set(Syscount.listing)
            #expect(status == 0)
            // Every line the peer prints, ours prints the same (ours knows newer syscalls too).
            let missing = out.split(separator: "\n").map(String.init).filter { !ours.contains($0) }
            #expect(missing.isEmpty, "libbpf-tools' syscount -l lines netbpf does not print: \(missing.prefix(10))")
        }
    }

    /// runqlat's report, run side by side with libbpf-tools' for one second: the same header lines.
    @Test(.enabled(if: hasPeer("runqlat"), "libbpf-tools runqlat is not installed"))
    func runqlatReportLayoutMatchesPeer() throws {
        let peer = try StreamingProcess("/usr/bin/stdbuf", ["-oL", "\(libbpfTools)/runqlat", "1", "1"])
        defer { peer.interrupt() }
        let (status, ours, err) = try CLI.run(["trace", "runqlat", "1", "1"])
        #expect(status == 0, "\(err)")
        #expect(peer.wait(for: "distribution", timeout: 30))
        let theirs = peer.interrupt()
        let head: (String) -> [String] = { text in text.split(separator: "\n").map(String.init).filter { $0.contains("distribution") || $0.hasPrefix("Tracing") } }
        #expect(head(ours) == head(theirs), "ours:\n\(ours)\ntheirs:\n\(theirs)")
    }

    /// opensnoop sees openat2(2) too, with how->flags as the flags.
    @Test func opensnoopSeesOpenat2() throws {
        let missing = "/nonexistent-netbpf-tl-\(getpid())-openat2"
        // struct open_how { u64 flags, mode, resolve }; openat2 is 437 on x86_64 and aarch64.
        let script = """
        import ctypes, os
        libc = ctypes.CDLL(None, use_errno=True)
        how = (ctypes.c_uint64 * 3)(os.O_RDONLY | os.O_CLOEXEC, 0, 0)
        fd = libc.syscall(437, -100, b'\(missing)', ctypes.byref(how), 24)
        print(fd, ctypes.get_errno(), flush=True)
        """
        var o = Opensnoop.Options()
        o.failedOnly = true
        let session = try Opensnoop.start(o)
        defer { try? session.close() }
        let (pid, out, status) = try runPython(script)
        #expect(status == 0 && out == "-1 \(ENOENT)", "openat2 from python3: \(out)")
        let events = try collectEvents(session, decode: Opensnoop.decode) { $0.contains { $0.path == missing } }
        let e = try #require(events.first { $0.path == missing }, "no openat2 event among \(events.count)")
        #expect(e.pid == UInt32(pid) && e.errno == ENOENT && e.fd == -1)
        #expect(e.flags == O_RDONLY | O_CLOEXEC)
    }

    /// killsnoop -a: RESULT is signal_generate's errno, as in sigsnoop; an ignored signal (result
    /// code 1) is no failure, so -a -x does not list it.
    @Test func killsnoopAllReportsErrnoNotResultCode() throws {
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        child.arguments = ["-c", "import signal, time; signal.signal(signal.SIGUSR2, signal.SIG_IGN); signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGUSR2]); print('ready', flush=True); time.sleep(30)"]
        let pipe = Pipe()
        child.standardOutput = pipe
        try child.run()
        defer { kill(child.processIdentifier, SIGKILL); child.waitUntilExit() }
        _ = pipe.fileHandleForReading.availableData  // "ready": SIGUSR2 is ignored and unblocked
        var o = Killsnoop.Options()
        o.allSignals = true
        o.signal = SIGUSR2
        o.pid = UInt32(getpid())
        var failed = o
        failed.failedOnly = true
        let all = try Killsnoop.start(o)
        defer { try? all.close() }
        let onlyFailed = try Killsnoop.start(failed)
        defer { try? onlyFailed.close() }
        #expect(kill(child.processIdentifier, SIGUSR2) == 0)
        let events = try collectEvents(all, decode: Killsnoop.decode) { $0.contains { $0.targetPID == child.processIdentifier } }
        let e = try #require(events.first { $0.targetPID == child.processIdentifier })
        #expect(e.result == 0, "RESULT \(e.result) for an ignored signal (signal_generate result code leaked)")
        let failures = try collectEvents(onlyFailed, timeout: 1, decode: Killsnoop.decode) { _ in false }
        #expect(!failures.contains { $0.targetPID == child.processIdentifier }, "-a -x listed an ignored signal")
    }

    /// tcplife's MS counts from the session's establishment, as BCC and libbpf-tools do: a
    /// connect whose first SYN is dropped (the listener's accept queue is full) and retransmitted
    /// a second later does not count that second.
    @Test func tcplifeDoesNotCountSynRetransmission() throws {
        // The first SYN is dropped (the accept queue is full) and retransmitted after ~1 s.
        let script = TCPToolTests.synDropScript
        let session = try Tcplife.start(Tcplife.Options())
        defer { try? session.close() }
        let (_, out, status) = try runPython(script)
        let parts = out.split(separator: " ").compactMap { Int($0) }
        #expect(status == 0, "\(out)")
        try #require(parts.count == 3, "\(out)")
        let (server, client, connectMs) = (UInt16(parts[0]), UInt16(parts[1]), parts[2])
        #expect(connectMs >= 800, "the first SYN was not dropped (connect took \(connectMs) ms): the test proves nothing")
        let events = try collectEvents(session, decode: Tcplife.decode) { $0.contains { $0.localPort == client && $0.remotePort == server } }
        let c = try #require(events.first { $0.localPort == client && $0.remotePort == server })
        #expect(c.milliseconds < 500, "MS \(c.milliseconds) includes the SYN retransmission (connect took \(connectMs) ms)")
    }

    /// tcpstates -w and tcplife -w as libbpf-tools prints them: COMM 16 wide and an IP column
    /// (tcpstates), addresses 26 wide. Against the installed peer, character for character up to
    /// the MS column.
    @Test func tcpWideLayoutsMatchLibbpfTools() throws {
        var s = Tcpstates.Options()
        s.wide = true
        var l = Tcplife.Options()
        l.wide = true
        #expect(Tcpstates.header(s) == "SKADDR           PID     COMM             IP LADDR" + String(repeating: " ", count: 22)
            + "LPORT RADDR" + String(repeating: " ", count: 22) + "RPORT OLDSTATE    -> NEWSTATE    MS")
        #expect(Tcplife.header(l) == "PID     COMM             LADDR" + String(repeating: " ", count: 22)
            + "LPORT RADDR" + String(repeating: " ", count: 22) + "RPORT TX_KB  RX_KB  MS")
    }

    /// tcpstates -w next to libbpf-tools' tcpstates -w: one ESTABLISHED line, character for
    /// character up to the MS column (which each reads from its own clock).
    @Test(.enabled(if: hasPeer("tcpstates"), "libbpf-tools tcpstates is not installed"))
    func tcpstatesWideLineMatchesPeer() throws {
        var s = Tcpstates.Options()
        s.wide = true
        let peer = try startPeer("tcpstates", ["-w"], header: "SKADDR")
        defer { peer.interrupt() }
        s.family = 2
        let session = try Tcpstates.start(s)
        defer { try? session.close() }
        let (server, client) = try Workload.tcpSession(clientBytes: 10, serverBytes: 10)
        let events = try collectEvents(session, decode: Tcpstates.decode) { $0.contains { $0.localPort == client && $0.newState == "CLOSE" } }
        let e = try #require(events.first { $0.localPort == client && $0.remotePort == server && $0.newState == "ESTABLISHED" })
        usleep(300_000)
        let text = peer.interrupt()
        let ours = Tcpstates.line(e, s, startNs: 0)
        let key = String(e.skaddr, radix: 16)
        let theirs = try #require(text.split(separator: "\n").map(String.init).first { $0.hasPrefix(key) && $0.contains("-> ESTABLISHED") }, "\(text.suffix(600))")
        let cut: (String) -> String = { $0.components(separatedBy: "-> ESTABLISHED").first ?? $0 }
        #expect(cut(ours) == cut(theirs))
    }

    /// -c CGROUP (libbpf-tools): execsnoop and exitsnoop see the process moved into a fresh
    /// cgroup v2 directory and not one outside it; syscount, runqlat and biolatency load with the
    /// filter too; a path that is not a cgroup v2 directory is refused before anything loads.
    @Test(.enabled(if: cgroup2Mount() != nil, "no cgroup2 mount"))
    func cgroupFilterKeepsOnlyThatCgroup() throws {
        let mount = try #require(cgroup2Mount())
        let dir = "\(mount)/netbpf-tl-\(getpid())"
        #expect(mkdir(dir, 0o755) == 0, "mkdir \(dir): errno \(errno)")
        defer { rmdir(dir) }
        let inside = "nbtlcgin\(getpid())", outside = "nbtlcgout\(getpid())"
        var e = Execsnoop.Options()
        e.cgroup = dir
        let exec = try Execsnoop.start(e)
        defer { try? exec.close() }
        var x = Exitsnoop.Options()
        x.cgroup = dir
        let exits = try Exitsnoop.start(x)
        defer { try? exits.close() }
        let (pid, status) = try Workload.run("/bin/sh", ["-c", "echo $$ > \(dir)/cgroup.procs && exec /bin/true \(inside)"])
        #expect(status == 0)
        let (outPid, _) = try Workload.run("/bin/true", [outside])
        let execs = try collectEvents(exec, decode: { Execsnoop.decode($0, maxArgs: 20) }) { $0.contains { $0.args.contains(inside) } }
        #expect(execs.contains { $0.pid == UInt32(pid) && $0.args.contains(inside) })
        #expect(!execs.contains { $0.args.contains(outside) }, "an exec outside the cgroup passed the filter")
        let exited = try collectEvents(exits, decode: Exitsnoop.decode) { $0.contains { $0.pid == UInt32(pid) } }
        #expect(exited.contains { $0.pid == UInt32(pid) })
        #expect(!exited.contains { $0.pid == UInt32(outPid) })
        var sc = Syscount.Options()
        sc.cgroup = dir
        try Syscount.start(sc).close()
        var rq = Runqlat.Options()
        rq.cgroup = dir
        try Runqlat.start(rq).close()
        var bl = Biolatency.Options()
        bl.cgroup = dir
        try Biolatency.start(bl).close()
        let (code, _, err) = try CLI.run(["trace", "execsnoop", "-c", "/tmp"])
        #expect(code != 0 && err.contains("not a cgroup v2 directory"), "\(err)")
    }

    /// runqlat --pidnss: one histogram per PID namespace, keyed by its inode number; a task in a
    /// fresh namespace (unshare -p -f) gets its own, this process's namespace another.
    @Test func runqlatPerPIDNamespace() throws {
        var o = Runqlat.Options()
        o.byPIDNamespace = true
        let session = try Runqlat.start(o)
        defer { try? session.close() }
        let mine = try #require(UInt32(String((try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/pid")).filter(\.isNumber))))
        // A loop of short sleeps inside a new PID namespace: wake-ups there.
        let (status, out, err) = try TestPrograms.run("/usr/bin/unshare", ["-p", "-f", "--mount-proc", "/bin/sh", "-c",
            "readlink /proc/self/ns/pid; for i in 1 2 3 4 5 6 7 8 9 10; do sleep 0.01; done"])
        #expect(status == 0, "\(err)")
        let theirs = try #require(UInt32(out.filter(\.isNumber)), "readlink printed \(out)")
        for _ in 0..<50 { usleep(1000) }
        let entries = try Runqlat.collect(session, o)
        let ids = Set(entries.compactMap(\.id))
        #expect(ids.contains(theirs) && ids.contains(mine), "namespaces \(ids.sorted()), want \(theirs) and \(mine)")
        let text = Runqlat.format(entries, o)
        #expect(text.contains("\npidns = \(theirs) "), "\(text.prefix(300))")
    }
}

/// The cgroup2 mount point (/sys/fs/cgroup, or /sys/fs/cgroup/unified on hybrid systems).
func cgroup2Mount() -> String? {
    guard let text = try? String(contentsOfFile: "/proc/self/mounts", encoding: .utf8) else { return nil }
    for line in text.split(separator: "\n") {
        let f = line.split(separator: " ")
        if f.count > 2 && f[2] == "cgroup2" { return String(f[1]) }
    }
    return nil
}

/// Runs a python3 script to completion: its pid, stdout and exit status.
func runPython(_ script: String) throws -> (pid: Int32, stdout: String, status: Int32) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
    p.arguments = ["-c", script]
    let pipe = Pipe()
    p.standardOutput = pipe
    try p.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.processIdentifier, String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines), p.terminationStatus)
}
