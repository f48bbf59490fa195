import Foundation
import Glibc
import NetBPF
import NetBPFCompiler
import NetBPFTestSupport
import Testing
@testable import NetBPFTracing

/// A temporary network namespace (helper tag `tc4`, the pid and a counter) with loopback up,
/// removed on the way out whatever happened. The TCP tools trace every namespace; the workloads
/// run in this one so ports and addresses are the test's own.
struct TCPLab {
    let ns: String
    nonisolated(unsafe) static var counter = 0

    static func with<T>(_ body: (TCPLab) throws -> T) throws -> T {
        counter += 1
        let lab = TCPLab(ns: "tc4\(getpid() % 100000)n\(counter)")
        defer { _ = try? TestPrograms.run("/usr/sbin/ip", ["netns", "del", lab.ns]) }
        for args in [["netns", "add", lab.ns], ["-n", lab.ns, "link", "set", "lo", "up"]] {
            let r = try TestPrograms.run("/usr/sbin/ip", args)
            guard r.status == 0 else { throw BPFError(.state, operation: "ip \(args.joined(separator: " "))", message: r.stderr) }
        }
        return try body(lab)
    }

    /// Runs a python3 script in the namespace; returns the integers it printed on its last line.
    func python(_ script: String) throws -> [Int] {
        let r = try TestPrograms.run("/usr/sbin/ip", ["netns", "exec", ns, "python3", "-c", script])
        guard r.status == 0 else { throw BPFError(.state, operation: "python3 in \(ns)", message: r.stderr) }
        let last = r.stdout.split(separator: "\n").last.map(String.init) ?? ""
        return last.split(separator: " ").compactMap { Int($0) }
    }
}

/// Polls a ring a little longer after `collectEvents` so extra (wrong) events would show up.
func settle<E>(_ session: ToolSession, _ events: [E], decode: @escaping (UnsafeRawBufferPointer) -> E) throws -> [E] {
    events + (try collectEvents(session, timeout: 0.5, decode: decode) { _ in false })
}

@Suite(.serialized, .enabled(if: TestEnvironment.isRoot, "requires root: loads tracing programs and makes namespaces"))
struct TCPToolTests {
    /// A python3 process in a fresh namespace connects 5 times to its listener and once to a
    /// closed port: tcpconnect prints exactly those 6 connects, with the pid, both addresses,
    /// the local ports the sockets got and the destination ports.
    static let connectScript = """
        import os, socket
        s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(16)
        port = s.getsockname()[1]
        closed = socket.socket(); closed.bind(('127.0.0.1', 0)); cport = closed.getsockname()[1]; closed.close()
        mine = []
        for _ in range(5):
            c = socket.create_connection(('127.0.0.1', port)); mine.append(c.getsockname()[1])
            a, _ = s.accept(); a.close(); c.close()
        r = socket.socket()
        try:
            r.connect(('127.0.0.1', cport))
        except ConnectionRefusedError:
            pass
        print(os.getpid(), port, cport, *mine)
        """

    @Test func tcpconnectSeesEachConnect() throws {
        try TCPLab.with { lab in
            var o = Tcpconnect.Options()
            o.localPort = true
            let session = try Tcpconnect.start(o)
            defer { try? session.close() }
            let out = try lab.python(Self.connectScript)
            try #require(out.count == 8, "\(out)")
            let (pid, port, closed, mine) = (UInt32(out[0]), UInt16(out[1]), UInt16(out[2]), out[3...].map { UInt16($0) })
            var events = try collectEvents(session, decode: Tcpconnect.decode) { $0.filter { $0.pid == pid }.count >= 6 }
            events = try settle(session, events, decode: Tcpconnect.decode).filter { $0.pid == pid }
            #expect(events.count == 6, "\(events)")
            #expect(events.filter { $0.destinationPort == port }.map(\.sourcePort).sorted() == mine.sorted())
            #expect(events.filter { $0.destinationPort == closed }.count == 1)
            #expect(events.allSatisfy { $0.comm == "python3" && $0.family == 2 && $0.sourceAddress == "127.0.0.1" && $0.destinationAddress == "127.0.0.1" && $0.sourcePort != 0 })
            let e = try #require(events.first)
            // BCC: PID COMM IP SADDR LPORT DADDR DPORT, "%-7d %-12.12s %-2d %-16s %-6d %-16s %-6d".
            var expected: String = pad(String(pid), 7) + " python3      4  127.0.0.1        "
            expected += pad(String(e.sourcePort), 6) + " 127.0.0.1        \(e.destinationPort)"
            #expect(Tcpconnect.line(e, o, startNs: e.timestampNs) == expected)
            #expect(Tcpconnect.header(o) == "PID     COMM         IP SADDR            LPORT  DADDR            DPORT")
        }
    }

    /// -c counts the same workload per (source, destination, port) in the kernel; -P keeps
    /// only the listed destination ports.
    @Test func tcpconnectCountsAndFiltersPorts() throws {
        try TCPLab.with { lab in
            var o = Tcpconnect.Options()
            o.count = true
            let counting = try Tcpconnect.start(o)
            defer { try? counting.close() }
            let out = try lab.python(Self.connectScript)
            try #require(out.count == 8, "\(out)")
            let (port, closed) = (UInt16(out[1]), UInt16(out[2]))
            usleep(200_000)
            let rows = try Tcpconnect.counts(counting).filter { $0.destinationPort == port || $0.destinationPort == closed }
            #expect(rows == [Tcpconnect.Count(sourceAddress: "127.0.0.1", destinationAddress: "127.0.0.1", destinationPort: port, connects: 5),
                             Tcpconnect.Count(sourceAddress: "127.0.0.1", destinationAddress: "127.0.0.1", destinationPort: closed, connects: 1)])
            #expect(Tcpconnect.format(rows).hasPrefix("\nLADDR                     RADDR                     RPORT                CONNECTS\n127.0.0.1"))
        }
        // -P: a port filter that matches none of the workload's ports.
        try TCPLab.with { lab in
            var o = Tcpconnect.Options()
            o.ports = [9]
            let session = try Tcpconnect.start(o)
            defer { try? session.close() }
            let out = try lab.python(Self.connectScript)
            let events = try collectEvents(session, timeout: 1, decode: Tcpconnect.decode) { _ in false }
            #expect(!events.contains { $0.pid == UInt32(out.first ?? 0) }, "\(events)")
        }
    }

    /// The binary: `netbpf trace tcpconnect --json` prints one object per connect.
    @Test func tcpconnectCLIPrintsJSON() throws {
        try TCPLab.with { lab in
            let p = try StreamingProcess(CLI.binary, ["trace", "tcpconnect", "--json", "--duration", "20"])
            defer { p.interrupt(interruptible: true) }
            // Ready once a probe connect (another process) shows up.
            var ready = false
            for _ in 0..<50 where !ready {
                _ = try lab.python("import socket\ntry:\n  socket.create_connection(('127.0.0.1', 9))\nexcept OSError:\n  pass")
                ready = p.wait(for: "\"destinationPort\":9,", timeout: 0.3)
            }
            try #require(ready, "no event from netbpf trace tcpconnect: \(p.errorText)")
            let out = try lab.python(Self.connectScript)
            try #require(out.count == 8)
            let pid = out[0]
            #expect(p.wait(for: "\"destinationPort\":\(out[2])", timeout: 10), "\(p.text) \(p.errorText)")
            let text = p.interrupt(interruptible: true)
            let mine = text.split(separator: "\n").filter { $0.contains("\"pid\":\(pid),") }
            #expect(mine.count == 6, "\(text)")
        }
    }

    /// A python3 server in a fresh namespace accepts 4 connections with accept4(2) and one
    /// with accept(2) (through ctypes): tcpaccept prints exactly 5 lines for it, each with the
    /// listening port and the client's port.
    @Test func tcpacceptSeesEachAccept() throws {
        try TCPLab.with { lab in
            var o = Tcpaccept.Options()
            o.time = true
            let session = try Tcpaccept.start(o)
            defer { try? session.close() }
            let out = try lab.python("""
                import ctypes, os, socket
                s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(16)
                port = s.getsockname()[1]
                clients = [socket.create_connection(('127.0.0.1', port)) for _ in range(5)]
                for _ in range(4):
                    a, _ = s.accept(); a.close()
                fd = ctypes.CDLL(None, use_errno=True).accept(s.fileno(), None, None)
                assert fd >= 0
                os.close(fd)
                print(os.getpid(), port, *[c.getsockname()[1] for c in clients])
                """)
            try #require(out.count == 7, "\(out)")
            let (pid, port, clients) = (UInt32(out[0]), UInt16(out[1]), out[2...].map { UInt16($0) })
            var events = try collectEvents(session, decode: Tcpaccept.decode) { $0.filter { $0.pid == pid }.count >= 5 }
            events = try settle(session, events, decode: Tcpaccept.decode).filter { $0.pid == pid }
            #expect(events.count == 5, "\(events)")
            #expect(events.map(\.remotePort).sorted() == clients.sorted())
            #expect(events.allSatisfy { $0.localPort == port && $0.localAddress == "127.0.0.1" && $0.remoteAddress == "127.0.0.1" && $0.comm == "python3" && $0.family == 2 })
            let e = try #require(events.first)
            // BCC: [TIME %-9s] "%-7d %-12.12s %-2d %-16s %-5d %-16s %-5d".
            let line = Tcpaccept.line(e, o, startNs: 0)
            var expected: String = pad(String(pid), 7) + " python3      4  127.0.0.1        "
            expected += pad(String(e.remotePort), 5) + " 127.0.0.1        \(port)"
            #expect(String(line.dropFirst(9)) == expected)
            #expect(Tcpaccept.header(o) == "TIME     PID     COMM         IP RADDR            RPORT LADDR            LPORT")
        }
    }

    /// A connect whose first SYN the listener drops (its accept queue is full: listen(0) and
    /// one connection waiting), retransmitted about a second later and then accepted.
    static let synDropScript = """
        import socket, threading, time
        s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(0)
        port = s.getsockname()[1]
        first = socket.create_connection(('127.0.0.1', port))
        time.sleep(0.1)
        def drain():
            time.sleep(0.3)
            a, _ = s.accept(); a.close()
            b, _ = s.accept(); b.recv(10); b.close()
        t = threading.Thread(target=drain); t.start()
        c = socket.socket()
        started = time.monotonic()
        c.connect(('127.0.0.1', port))
        took = time.monotonic() - started
        cport = c.getsockname()[1]
        c.sendall(b'x'); time.sleep(0.05); c.close(); t.join(); first.close(); s.close()
        print(port, cport, int(took * 1000), flush=True)
        """

    /// tcpretrans: the dropped SYN is retransmitted exactly once, in SYN_SENT, from the
    /// client's port to the listener's; -c counts that one retransmit for the flow; tcpconnect
    /// prints that connect once.
    @Test func tcpretransSeesTheSynRetransmit() throws {
        try TCPLab.with { lab in
            var o = Tcpretrans.Options()
            o.sequence = true
            let session = try Tcpretrans.start(o)
            defer { try? session.close() }
            var c = Tcpretrans.Options()
            c.count = true
            let counting = try Tcpretrans.start(c)
            defer { try? counting.close() }
            // tcpconnect reports that blocking connect once, from the SYN's retransmission.
            let connects = try Tcpconnect.start(Tcpconnect.Options())
            defer { try? connects.close() }
            let out = try lab.python(Self.synDropScript)
            try #require(out.count == 3, "\(out)")
            let (port, client, took) = (UInt16(out[0]), UInt16(out[1]), out[2])
            #expect(took >= 800, "the first SYN was not dropped (connect took \(took) ms): the test proves nothing")
            var events = try collectEvents(session, decode: Tcpretrans.decode) { $0.contains { $0.localPort == client } }
            events = try settle(session, events, decode: Tcpretrans.decode).filter { $0.localPort == client || $0.remotePort == client }
            #expect(events.count == 1, "\(events)")
            let e = try #require(events.first)
            #expect(e.state == "SYN_SENT" && e.remotePort == port && e.localAddress == "127.0.0.1" && e.remoteAddress == "127.0.0.1" && e.family == 2)
            // BCC: "%-8s %-7d %-2d %-20s %1s> %-20s" then " %-12s %s" (state, seq) with -s.
            var expected: String = pad(String(e.pid), 7) + " 4  "
            expected += pad("127.0.0.1:\(client)", 20) + " R> "
            expected += pad("127.0.0.1:\(port)", 20) + " SYN_SENT     \(e.sequence)"
            #expect(String(Tcpretrans.line(e, o).dropFirst(9)) == expected)
            let seen = try collectEvents(connects, timeout: 1, decode: Tcpconnect.decode) { _ in false }.filter { $0.sourcePort == client }
            #expect(seen.count == 1 && seen.first?.destinationPort == port, "\(seen)")
            let rows = try Tcpretrans.counts(counting).filter { $0.localPort == client }
            #expect(rows == [Tcpretrans.Count(localAddress: "127.0.0.1", localPort: client, remoteAddress: "127.0.0.1", remotePort: port, retransmits: 1)])
            #expect(Tcpretrans.format(rows).contains("[127.0.0.1]#\(client)".padding(toLength: 20, withPad: " ", startingAt: 0) + " <-> "))
        }
    }

    /// Three connects from bound ports to a closed port (each SYN dropped as NO_SOCKET and
    /// answered with a reset), then one connection aborted with SO_LINGER 0 (a reset from the
    /// client, received by the server).
    static let resetScript = """
        import os, socket, struct
        closed = socket.socket(); closed.bind(('127.0.0.1', 0)); cport = closed.getsockname()[1]; closed.close()
        refused = []
        for _ in range(3):
            r = socket.socket(); r.bind(('127.0.0.1', 0)); refused.append(r.getsockname()[1])
            try:
                r.connect(('127.0.0.1', cport))
            except ConnectionRefusedError:
                pass
            r.close()
        s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(1); port = s.getsockname()[1]
        c = socket.create_connection(('127.0.0.1', port)); a, _ = s.accept()
        aborter = c.getsockname()[1]
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0)); c.close()
        try:
            a.recv(10)
        except ConnectionResetError:
            pass
        a.close(); s.close()
        print(cport, port, aborter, *refused)
        """

    /// tcpreset: each refused connect is one reset sent for the closed port (no socket: state
    /// "-", reason NO_SOCKET) and one received by the client in SYN_SENT; the abort is one
    /// reset sent by the client and one received by the server in ESTABLISHED. Nothing else
    /// for these ports.
    @Test func tcpresetSeesSentAndReceivedResets() throws {
        try TCPLab.with { lab in
            let session = try Tcpreset.start(Tcpreset.Options())
            defer { try? session.close() }
            let out = try lab.python(Self.resetScript)
            try #require(out.count == 6, "\(out)")
            let (closed, port, aborter, refused) = (UInt16(out[0]), UInt16(out[1]), UInt16(out[2]), out[3...].map { UInt16($0) })
            let ours: (Tcpreset.Event) -> Bool = { [closed, port].contains($0.localPort) || [closed, port].contains($0.remotePort) }
            var events = try collectEvents(session, decode: Tcpreset.decode) { $0.filter(ours).count >= 8 }
            events = try settle(session, events, decode: Tcpreset.decode).filter(ours)
            #expect(events.count == 8, "\(events)")
            let sentClosed = events.filter { $0.direction == "sent" && $0.localPort == closed }
            #expect(sentClosed.map(\.remotePort).sorted() == refused.sorted())
            #expect(sentClosed.allSatisfy { $0.state == "-" && $0.reason == "NO_SOCKET" && $0.localAddress == "127.0.0.1" })
            let gotRefused = events.filter { $0.direction == "received" && $0.remotePort == closed }
            #expect(gotRefused.map(\.localPort).sorted() == refused.sorted())
            #expect(gotRefused.allSatisfy { $0.state == "SYN_SENT" && $0.reason == "-" })
            let abort = events.filter { $0.direction == "sent" && $0.localPort == aborter }
            #expect(abort.count == 1 && abort.first?.remotePort == port && abort.first?.reason != "-", "\(abort)")
            let aborted = events.filter { $0.direction == "received" && $0.localPort == port }
            #expect(aborted.count == 1 && aborted.first?.remotePort == aborter && aborted.first?.state == "ESTABLISHED", "\(aborted)")
            let e = try #require(sentClosed.first)
            var expected: String = pad(String(e.pid), 7) + " 4  "
            expected += pad("127.0.0.1:\(closed)", 20) + " out "
            expected += pad("127.0.0.1:\(e.remotePort)", 20) + " -            NO_SOCKET"
            #expect(String(Tcpreset.line(e).dropFirst(9)) == expected)
        }
    }

    /// tcpdrop: the three SYNs to the closed port are dropped (NO_SOCKET) and reported with
    /// their addresses, ports, flags and a kernel stack through tcp_v4_rcv; -4 keeps them, -6
    /// does not.
    @Test func tcpdropSeesTheSynsToAClosedPort() throws {
        try TCPLab.with { lab in
            let session = try Tcpdrop.start(Tcpdrop.Options())
            defer { try? session.close() }
            var six = Tcpdrop.Options()
            six.family = 10
            let ipv6Only = try Tcpdrop.start(six)
            defer { try? ipv6Only.close() }
            let out = try lab.python(Self.resetScript)
            try #require(out.count == 6, "\(out)")
            let (closed, refused) = (UInt16(out[0]), out[3...].map { UInt16($0) })
            let decoder = Tcpdrop.Decoder(session)
            var events = try collectEvents(session, decode: decoder.decode) { $0.filter { $0.destinationPort == closed }.count >= 3 }
            events = try settle(session, events, decode: decoder.decode).filter { $0.destinationPort == closed }
            #expect(events.count == 3, "\(events)")
            #expect(events.map(\.sourcePort).sorted() == refused.sorted())
            #expect(events.allSatisfy { $0.flags == "SYN" && $0.reason == "NO_SOCKET" && $0.state == "-" && $0.sourceAddress == "127.0.0.1"
                && $0.destinationAddress == "127.0.0.1" && $0.family == 2 })
            #expect(events.allSatisfy { $0.stack.contains { $0.hasPrefix("tcp_v4_rcv+") } }, "\(events.first?.stack ?? [])")
            let e = try #require(events.first)
            let text = Tcpdrop.text(e)
            let first = String(text.split(separator: "\n", omittingEmptySubsequences: false).first ?? "")
            var expected: String = pad(String(e.pid), 7) + " 4  "
            expected += pad("127.0.0.1:\(e.sourcePort)", 20) + " > "
            expected += pad("127.0.0.1:\(closed)", 20) + " - (SYN)"
            #expect(String(first.dropFirst(9)) == expected)
            #expect(text.hasSuffix("\n\n") && text.contains("\n\ttcp_v4_rcv+"))
            let none = try collectEvents(ipv6Only, timeout: 0.3, decode: Tcpdrop.Decoder(ipv6Only).decode) { _ in false }
            #expect(!none.contains { $0.destinationPort == closed })
        }
    }

    /// An independent count of tcp:tcp_probe hits on a port, in the kernel (a ring would drop
    /// under other traffic): slot 0 local port, slot 1 remote port.
    static let probeCounter = """
        #include "vmlinux.h"
        #include <netbpf.h>
        const volatile u16 port = 0;
        BPF_ARRAY(hits, u64, 2);
        SEC("tracepoint/tcp/tcp_probe")
        int count_probe(struct trace_event_raw_tcp_probe *ctx)
        {
            u32 k;
            u64 *n;
            if (ctx->sport == port)
                k = 0;
            else if (ctx->dport == port)
                k = 1;
            else
                return 0;
            n = bpf_map_lookup_elem(&hits, &k);
            if (n)
                __sync_fetch_and_add(n, 1);
            return 0;
        }
        NETBPF_LICENSE("GPL");
        """

    /// tcprtt: 50 request/response round trips on a port of the test's own namespace. The
    /// histogram of the server's sockets (-p PORT) counts exactly the tcp:tcp_probe hits on
    /// them that an independent counter sees, at least one per request; -P PORT (the client
    /// side) likewise; -b keys it by the local address.
    @Test func tcprttCountsEveryProbe() throws {
        try TCPLab.with { lab in
            let port = UInt16(40000 + getpid() % 20000)
            let spec = try BPFCompiler().compile(source: Self.probeCounter, path: "/tmp/netbpf-tc4-probe-counter.bpf.c").open()
            try spec.setGlobal("port", to: port)
            let counter = try spec.load()
            let link = try #require(counter.programs.first).attachTracepoint(category: "tcp", name: "tcp_probe", cookie: 0)
            defer { try? link.detach() }
            var server = Tcprtt.Options()
            server.localPort = port
            server.extended = true
            let serverSide = try Tcprtt.start(server)
            defer { try? serverSide.close() }
            var client = Tcprtt.Options()
            client.remotePort = port
            client.byLocalAddress = true
            let clientSide = try Tcprtt.start(client)
            defer { try? clientSide.close() }
            _ = try lab.python("""
                import socket, threading
                s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(('127.0.0.1', \(port))); s.listen(1)
                def serve():
                    a, _ = s.accept(); a.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    while True:
                        d = a.recv(100)
                        if not d: break
                        a.sendall(d)
                    a.close()
                t = threading.Thread(target=serve); t.start()
                c = socket.create_connection(('127.0.0.1', \(port))); c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                for i in range(50):
                    c.sendall(b'ping'); assert c.recv(100) == b'ping'
                c.close(); t.join(); s.close()
                print(0)
                """)
            usleep(200_000)
            try link.detach()
            let hits = try ArrayMap<UInt64>(counter.map(named: "hits"))
            let (onServer, onClient) = (try hits.get(0), try hits.get(1))
            let s = try Tcprtt.collect(serverSide, server)
            let c = try Tcprtt.collect(clientSide, client)
            #expect(s.count == 1 && s.first?.address == nil)
            #expect(s.first?.histogram.total == onServer && onServer >= 50, "histogram \(s), tracepoint hits \(onServer)")
            #expect(c.count == 1 && c.first?.address == "127.0.0.1")
            #expect(c.first?.histogram.total == onClient && onClient >= 49, "histogram \(c), tracepoint hits \(onClient)")
            let text = Tcprtt.format(s, server)
            #expect(text.hasPrefix("All Addresses = ****** [AVG \(s.first?.average ?? 0)]\n     usecs               : count    distribution\n"), "\(text)")
            #expect(Tcprtt.format(c, client).hasPrefix("Local Address = 127.0.0.1 \n"))
        }
    }

    /// sofdsnoop: a python3 process sends three open files over a Unix socket pair and receives
    /// them: exactly one SEND with the sender's three descriptors and their paths, and one RECV
    /// with the receiver's new descriptors, on the right socket descriptors.
    @Test func sofdsnoopSeesPassedDescriptors() throws {
        let base = "/tmp/tc4-sofd-\(getpid())"
        defer { for i in 0..<3 { unlink("\(base)-\(i)") } }
        let session = try Sofdsnoop.start(Sofdsnoop.Options())
        defer { try? session.close() }
        let p = try StreamingProcess("/usr/bin/python3", ["-c", """
            import os, socket, sys, time
            a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            files = [open('\(base)-%d' % i, 'w') for i in range(3)]
            socket.send_fds(a, [b'x'], [f.fileno() for f in files])
            msg, fds, flags, addr = socket.recv_fds(b, 10, 5)
            print(os.getpid(), a.fileno(), b.fileno(), *[f.fileno() for f in files], *fds, flush=True)
            time.sleep(5)
            """])
        defer { p.interrupt() }
        #expect(p.wait(for: "\n", timeout: 10), "\(p.errorText)")
        let out = p.text.split(separator: " ").compactMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        try #require(out.count == 9, "\(p.text)")
        let (pid, sender, receiver, sent, received) = (UInt32(out[0]), out[1], out[2], Array(out[3..<6]), Array(out[6..<9]))
        var events = try collectEvents(session, decode: Sofdsnoop.decode) { $0.filter { $0.pid == pid }.count >= 2 }
        events = try settle(session, events, decode: Sofdsnoop.decode).filter { $0.pid == pid }
        #expect(events.count == 2, "\(events)")
        let send = try #require(events.first { $0.action == "SEND" })
        let recv = try #require(events.first { $0.action == "RECV" })
        #expect(send.fds == sent && send.names == (0..<3).map { "\(base)-\($0)" } && send.socketFD == sender && send.count == 3)
        #expect(recv.fds == received && recv.socketFD == receiver && recv.names == ["", "", ""])
        #expect(send.socketName.hasPrefix("socket:[") && send.comm == "python3")
        let o = Sofdsnoop.Options()
        let lines = Sofdsnoop.lines(send, o, startNs: send.timestampNs)
        #expect(lines.count == 3)
        // BCC: "%-6s %-6d %-16s " "%-25s " "%-5d %s".
        var expected: String = "SEND   " + pad(String(send.tid), 6) + " python3          "
        expected += pad("\(sender):\(send.socketName)", 25) + " "
        expected += pad(String(sent[0]), 5) + " \(base)-0"
        #expect(lines.first == expected)
    }

    /// IPv6: two connects over ::1 are seen by tcpconnect -6 and tcpaccept -6 with IPv6
    /// addresses and the IP column 6; tcpconnect -4 sees none of them.
    @Test func tcpconnectAndTcpacceptOverIPv6() throws {
        try TCPLab.with { lab in
            var six = Tcpconnect.Options()
            six.family = 10
            let connects = try Tcpconnect.start(six)
            defer { try? connects.close() }
            var four = Tcpconnect.Options()
            four.family = 2
            let connects4 = try Tcpconnect.start(four)
            defer { try? connects4.close() }
            var a = Tcpaccept.Options()
            a.family = 10
            let accepts = try Tcpaccept.start(a)
            defer { try? accepts.close() }
            let out = try lab.python("""
                import os, socket
                s = socket.socket(socket.AF_INET6); s.bind(('::1', 0)); s.listen(4)
                port = s.getsockname()[1]
                mine = []
                for _ in range(2):
                    c = socket.create_connection(('::1', port)); mine.append(c.getsockname()[1])
                    x, _ = s.accept(); x.close(); c.close()
                print(os.getpid(), port, *mine)
                """)
            try #require(out.count == 4, "\(out)")
            let (pid, port, mine) = (UInt32(out[0]), UInt16(out[1]), out[2...].map { UInt16($0) })
            var c = try collectEvents(connects, decode: Tcpconnect.decode) { $0.filter { $0.pid == pid }.count >= 2 }
            c = try settle(connects, c, decode: Tcpconnect.decode).filter { $0.pid == pid }
            #expect(c.map(\.sourcePort).sorted() == mine.sorted() && c.allSatisfy { $0.family == 10 && $0.sourceAddress == "::1" && $0.destinationAddress == "::1" && $0.destinationPort == port }, "\(c)")
            let line = Tcpconnect.line(try #require(c.first), six, startNs: 0)
            #expect(line.contains(" python3      6  ::1              ::1              \(port)"), "\(line)")
            var x = try collectEvents(accepts, decode: Tcpaccept.decode) { $0.filter { $0.pid == pid }.count >= 2 }
            x = try settle(accepts, x, decode: Tcpaccept.decode).filter { $0.pid == pid }
            #expect(x.map(\.remotePort).sorted() == mine.sorted() && x.allSatisfy { $0.family == 10 && $0.localAddress == "::1" && $0.localPort == port }, "\(x)")
            let none = try collectEvents(connects4, timeout: 0.3, decode: Tcpconnect.decode) { _ in false }
            #expect(!none.contains { $0.pid == pid })
        }
    }
}
