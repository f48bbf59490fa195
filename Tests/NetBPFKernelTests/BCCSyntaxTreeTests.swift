import Foundation
import Testing
import NetBPF
import NetBPFCompiler
import NetBPFTestSupport

/// BCC mode's rewrites on clang's syntax tree (CNetBPFClang/bcc_kernel_reads.cpp): kernel
/// memory read through kernel pointers, packet-header fields through cursors. Each program is
/// compiled, loaded and run; the results are the values the kernel or the packet holds.
@Suite(.serialized, .enabled(if: TestEnvironment.isRoot, "requires root: loads and runs what it compiles"))
struct BCCSyntaxTreeTests {
    func withCompiler<T>(_ body: (BPFCompiler) throws -> T) throws -> T {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("netbpf-bcst-cache-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        defer {
            BPFCompiler.waitForBackgroundWork()
            try? FileManager.default.removeItem(atPath: dir)
        }
        return try body(try BPFCompiler(cache: CacheDirectory(path: dir)))
    }

    static var hasSyscallTracepoints: Bool {
        FileManager.default.fileExists(atPath: "/sys/kernel/tracing/events/syscalls/sys_enter_getppid/format")
    }

    /// `task->real_parent->tgid` through bpf_get_current_task(), a char of `task->comm`, a
    /// bitfield, a kernel pointer passed to a function of the program: read as BCC reads them
    /// (probe reads, here CO-RE ones), in a tracepoint fired by this process's getppid().
    @Test(.enabled(if: hasSyscallTracepoints, "requires tracefs with syscall tracepoints (scripts/setup.sh mounts it)"))
    func kernelPointerChainsAreReadFromTheKernel() throws {
        let source = """
        #include <uapi/linux/ptrace.h>
        #include <linux/sched.h>

        BPF_HASH(seen, u32, u64);

        static u64 parent_of(struct task_struct *t) {
            return t->real_parent->tgid;
        }

        TRACEPOINT_PROBE(syscalls, sys_enter_getppid) {
            struct task_struct *task = (struct task_struct *)bpf_get_current_task();
            u32 pid = bpf_get_current_pid_tgid() >> 32;
            if (pid != WANTED)
                return 0;
            u32 k = 0;
            u64 v = task->real_parent->tgid;
            seen.update(&k, &v);
            k = 1; v = parent_of(task);
            seen.update(&k, &v);
            k = 2; v = task->comm[0];
            seen.update(&k, &v);
            k = 3; v = task->sched_reset_on_fork + 40;
            seen.update(&k, &v);
            k = 4; v = args->__syscall_nr;
            seen.update(&k, &v);
            return 0;
        }
        """
        try withCompiler { compiler in
            var options = CompileOptions()
            options.defines = ["WANTED=\(getpid())"]
            let object = try compiler.compile(source: source, path: "/tmp/bcc_kernel_reads.c", options: options).open().load()
            let link = try object.program(named: "tracepoint__syscalls__sys_enter_getppid").attachTracepoint(category: "syscalls", name: "sys_enter_getppid")
            defer { try? link.detach() }
            let parent = getppid()
            let map = try object.map(named: "seen")
            func value(_ k: UInt32) throws -> UInt64? {
                try map.lookup(key: withUnsafeBytes(of: k) { Array($0) }).map { $0.withUnsafeBytes { $0.load(as: UInt64.self) } }
            }
            let comm = (try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? "" // task->comm is the thread's
            #expect(try value(0) == UInt64(parent))
            #expect(try value(1) == UInt64(parent))
            #expect(try value(2) == UInt64(comm.utf8.first ?? 0))
            #expect(try value(3) == 40)
            #expect(try value(4) == 110) // __NR_getppid on x86-64
        }
    }

    /// kprobe arguments, `sk->sk_family`-style shorthands, a pointer kept in a map, a kernel
    /// struct copied whole, a bitfield: the program loads (the verifier accepts every read); it
    /// cannot attach on a kernel without kprobes.
    @Test func kprobeArgumentChainsLoad() throws {
        let source = """
        #include <uapi/linux/ptrace.h>
        #include <net/sock.h>

        BPF_HASH(currsock, u32, struct sock *);
        BPF_HASH(out, u32, u64);

        int kprobe__tcp_v4_connect(struct pt_regs *ctx, struct sock *sk) {
            u32 tid = bpf_get_current_pid_tgid();
            currsock.update(&tid, &sk);
            return 0;
        }

        int kretprobe__tcp_v4_connect(struct pt_regs *ctx) {
            u32 tid = bpf_get_current_pid_tgid();
            struct sock **skpp = currsock.lookup(&tid);
            if (skpp == 0)
                return 0;
            struct sock *skp = *skpp;
            u64 v = skp->__sk_common.skc_daddr + skp->sk_dport + skp->sk_family;
            struct sock_common common = skp->__sk_common;
            v += common.skc_num + skp->sk_protocol;
            v += skp->sk_net.net->ns.inum;
            out.update(&tid, &v);
            currsock.delete(&tid);
            return 0;
        }
        """
        try withCompiler { compiler in
            let object = try compiler.compile(source: source, path: "/tmp/bcc_kprobe_reads.c").open().load()
            #expect(try object.program(named: "kretprobe__tcp_v4_connect").section == "kretprobe/tcp_v4_connect")
        }
    }

    /// A write to kernel memory is one error at the program's line that says what to do.
    @Test func writingKernelMemoryIsAnErrorAtTheUsersLine() throws {
        let source = "#include <linux/sched.h>\nBPF_HASH(m, u32);\n\nint kprobe__f(struct pt_regs *ctx) {\n  struct task_struct *t = (struct task_struct *)bpf_get_current_task();\n  t->pid = 1;\n  return 0;\n}\n"
        try withCompiler { compiler in
            let e = #expect(throws: CompileError.self) { try compiler.compile(source: source, path: "/tmp/bcc_write.c") }
            let errors = e?.diagnostics.filter { $0.severity >= .error } ?? []
            #expect(errors.count == 1)
            #expect(errors.first?.line == 6)
            #expect(errors.first?.message.contains("`t->pid` is kernel memory") == true)
        }
    }

    /// A frame: Ethernet, IPv4 (ttl 64, 10.0.0.1 -> 10.0.0.2), UDP 1234 -> 53, 4 bytes payload.
    static let udpFrame: [UInt8] = {
        var f: [UInt8] = [0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00]
        f += [0x45, 0x00, 0x00, 32, 0x12, 0x34, 0x40, 0x00, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]
        f += [0x04, 0xd2, 0x00, 0x35, 0x00, 12, 0, 0, 0xde, 0xad, 0xbe, 0xef]
        return f
    }()

    /// bcc/proto.h's cursor dialect: fields read big-endian into host order (bitfields by
    /// BCC's numbering: ver is the high nibble), and written back with bpf_dins_pkt.
    @Test func packetHeaderFieldsAreReadAndWrittenAsBCCDoes() throws {
        let source = """
        #include <bcc/proto.h>
        BPF_ARRAY(fields, u64, 8);

        int parse(struct __sk_buff *skb) {
            u8 *cursor = 0;
            struct ethernet_t *ethernet = cursor_advance(cursor, sizeof(*ethernet));
            if (ethernet->type != 0x0800)
                return 1;
            struct ip_t *ip = cursor_advance(cursor, sizeof(*ip));
            if (ip->nextp != 17)
                return 2;
            struct udp_t *udp = cursor_advance(cursor, sizeof(*udp));
            fields.update(&(int){0}, &(u64){ethernet->src});
            fields.update(&(int){1}, &(u64){ip->src});
            fields.update(&(int){2}, &(u64){ip->ver * 100 + ip->hlen});
            fields.update(&(int){3}, &(u64){udp->dport});
            fields.update(&(int){4}, &(u64){ip->df * 10 + ip->mf});
            ip->ttl = ip->ttl - 1;
            ethernet->dst = 0x0a0b0c0d0e0fULL;
            udp->sport = 4321;
            return udp->dport == 53 ? 7 : 3;
        }
        """
        try withCompiler { compiler in
            var options = CompileOptions()
            options.bccSections = ["parse": "tc"]
            let object = try compiler.compile(source: source, path: "/tmp/bcc_cursor.c", options: options).open().load()
            let run = try object.program(named: "parse").testRun(data: Self.udpFrame)
            #expect(run.returnValue == 7)
            let map = try object.map(named: "fields")
            func value(_ k: UInt32) throws -> UInt64? {
                try map.lookup(key: withUnsafeBytes(of: k) { Array($0) }).map { $0.withUnsafeBytes { $0.load(as: UInt64.self) } }
            }
            #expect(try value(0) == 0x0200_0000_0001)
            #expect(try value(1) == 0x0a00_0001)
            #expect(try value(2) == 405)
            #expect(try value(3) == 53)
            #expect(try value(4) == 10)
            #expect(Array(run.dataOut.prefix(6)) == [0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f])
            #expect(run.dataOut[22] == 63)
            #expect(Array(run.dataOut[34..<36]) == [0x10, 0xe1])
            #expect(Array(run.dataOut[6..<22]) == Array(Self.udpFrame[6..<22]))
        }
    }

    /// `h->f += n` on a packet header is one error naming the construct and the fix.
    @Test func compoundPacketWritesAreAnError() throws {
        let source = "#include <bcc/proto.h>\nint f(struct __sk_buff *skb) {\n  u8 *cursor = 0;\n  struct ethernet_t *e = cursor_advance(cursor, sizeof(*e));\n  struct ip_t *ip = cursor_advance(cursor, sizeof(*ip));\n  ip->ttl += 1;\n  return 0;\n}\n"
        try withCompiler { compiler in
            var options = CompileOptions()
            options.dialect = .bcc
            let e = #expect(throws: CompileError.self) { try compiler.compile(source: source, path: "/tmp/bcc_cursor_bad.c", options: options) }
            let errors = e?.diagnostics.filter { $0.severity >= .error } ?? []
            #expect(errors.count == 1)
            #expect(errors.first?.line == 6)
            #expect(errors.first?.message.contains("h->f = h->f + n") == true)
        }
    }
}
