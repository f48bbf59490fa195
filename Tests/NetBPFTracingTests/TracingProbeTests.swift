import Foundation
import Glibc
import Testing
import NetBPF
import NetBPFCompiler
import NetBPFTestSupport
@testable import NetBPFTracing

/// The probe layer on the real kernel: uprobes and uretprobes counted exactly (the shared
/// perf-event path), kprobes and fentry refused with the precise reason, raw tracepoints,
/// tracepoint formats, perf_event sampling with stack traces.
@Suite(.serialized, .enabled(if: TestEnvironment.isRoot, "requires root: attaches probes"))
struct TracingProbeTests {
    static let programSource = """
    #include "vmlinux.h"
    #include <bpf/bpf_tracing.h>
    #include <netbpf.h>

    struct {
        __uint(type, BPF_MAP_TYPE_STACK_TRACE);
        __uint(max_entries, 1024);
        __uint(key_size, sizeof(u32));
        __uint(value_size, 127 * sizeof(u64));
    } stacks SEC(".maps");
    BPF_HASH(stack_counts, s32, u64, 1024);
    BPF_ARRAY(hits, u64, 8);
    const volatile u32 target_pid = 0;

    static __always_inline void hit(u32 slot)
    {
        u64 *n = bpf_map_lookup_elem(&hits, &slot);
        if (n)
            __sync_fetch_and_add(n, 1);
    }

    SEC("perf_event")
    int on_sample(struct bpf_perf_event_data *ctx)
    {
        s32 id = bpf_get_stackid(ctx, &stacks, 0);
        hit(0);
        if (id >= 0)
            netbpf_increment(&stack_counts, &id);
        return 0;
    }

    SEC("uprobe")
    int on_uprobe(struct pt_regs *ctx)
    {
        if (target_pid && (bpf_get_current_pid_tgid() >> 32) != target_pid)
            return 0;
        hit((u32)bpf_get_attach_cookie(ctx) & 7);
        return 0;
    }

    SEC("kprobe")
    int on_kprobe(struct pt_regs *ctx)
    {
        hit(5);
        return 0;
    }

    SEC("raw_tracepoint")
    int on_raw(struct bpf_raw_tracepoint_args *ctx)
    {
        if ((bpf_get_current_pid_tgid() >> 32) == target_pid && ctx->args[1] == 110 /* getppid */)
            hit(6);
        return 0;
    }

    SEC("tp_btf/sys_enter")
    int BPF_PROG(on_btf, struct pt_regs *regs, long id)
    {
        if ((bpf_get_current_pid_tgid() >> 32) == target_pid && id == 110 /* getppid */)
            hit(7);
        return 0;
    }

    NETBPF_LICENSE("GPL");
    """

    static let fentrySource = """
    #include "vmlinux.h"
    #include <bpf/bpf_tracing.h>
    #include <netbpf.h>
    SEC("fentry/bpf_fentry_test1")
    int BPF_PROG(on_fentry, int a)
    {
        return 0;
    }
    NETBPF_LICENSE("GPL");
    """

    func load(pid: UInt32 = 0) throws -> BPFObject {
        let compiled = try BPFCompiler().compile(source: Self.programSource, path: "/tmp/netbpf-tracing-probe-test.bpf.c")
        let spec = try compiled.open()
        try spec.setGlobal("target_pid", to: pid)
        return try spec.load()
    }

    /// A small C program built here with gcc: waits for a byte on stdin, then calls
    /// netbpf_probe_target() N times.
    static func buildTarget() throws -> String {
        let dir = NSTemporaryDirectory() + "netbpf-uprobe-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let source = dir + "/target.c", binary = dir + "/target"
        try """
        #include <stdio.h>
        #include <stdlib.h>
        #include <unistd.h>
        __attribute__((noinline)) int netbpf_probe_target(int x)
        {
            __asm__ volatile("" ::: "memory");
            return x * 2 + 1;
        }
        int main(int argc, char **argv)
        {
            int n = atoi(argv[1]), sum = 0;
            char c;
            if (read(0, &c, 1) != 1)
                return 2;
            for (int i = 0; i < n; i++)
                sum += netbpf_probe_target(i);
            printf("%d\\n", sum);
            return 0;
        }
        """.write(toFile: source, atomically: true, encoding: .utf8)
        let (status, _, err) = try TestPrograms.run("/usr/bin/gcc", ["-O2", "-o", binary, source])
        guard status == 0 else { throw BPFError(.state, operation: "gcc", message: err) }
        return binary
    }

    @Test func uprobeAndUretprobeCountCallsExactly() throws {
        let binary = try Self.buildTarget()
        let elf = try ELFFile(path: binary)
        #expect(try elf.fileOffset(ofSymbol: "netbpf_probe_target") > 0)

        // Two processes: the probe is filtered to the first; the second's calls must not count.
        func start() throws -> (Process, Pipe) {
            let p = Process(), input = Pipe()
            p.executableURL = URL(fileURLWithPath: binary)
            p.arguments = ["1234"]
            p.standardInput = input
            p.standardOutput = FileHandle.nullDevice
            try p.run()
            return (p, input)
        }
        let (target, targetIn) = try start()
        let (other, otherIn) = try start()
        let object = try load(pid: UInt32(target.processIdentifier))
        let program = try object.program(named: "on_uprobe")
        let entry = try program.attachUprobe(binary: binary, symbol: "netbpf_probe_target", pid: target.processIdentifier, cookie: 1)
        let exit = try program.attachUprobe(binary: binary, symbol: "netbpf_probe_target", pid: target.processIdentifier, retprobe: true, cookie: 2)
        #expect(entry.attachPoint.hasPrefix("uprobe:") && exit.attachPoint.hasPrefix("uretprobe:"))
        for (p, input) in [(target, targetIn), (other, otherIn)] {
            input.fileHandleForWriting.write(Data("g".utf8))
            p.waitUntilExit()
            #expect(p.terminationStatus == 0)
        }
        let hits = try ArrayMap<UInt64>(object.map(named: "hits"))
        #expect(try hits.get(1) == 1234)
        #expect(try hits.get(2) == 1234)
        try entry.detach(); try exit.detach()
    }

    @Test func uprobeOnALibcFunctionWithoutPID() throws {
        let object = try load()
        let link = try object.program(named: "on_uprobe").attachUprobe(binary: "c", symbol: "getpid", cookie: 3)
        defer { try? link.detach() }
        for _ in 0..<10 { try Workload.run("/usr/bin/python3", ["-c", "import os; os.getpid()"]) }
        #expect(try ArrayMap<UInt64>(object.map(named: "hits")).get(3) >= 10)
    }

    @Test func uprobeBadTargetsAreClear() throws {
        let program = try load().program(named: "on_uprobe")
        let e1 = try #require(throws: BPFError.self) { try program.attachUprobe(binary: "c", symbol: "no_such_function_netbpf") }
        #expect(e1.code == .notFound && e1.description.contains("no function 'no_such_function_netbpf'"))
        let e2 = try #require(throws: BPFError.self) { try program.attachUprobe(binary: "/nonexistent/netbpf", symbol: "main") }
        #expect(e2.code == .notFound)
        let e3 = try #require(throws: BPFError.self) { try program.attachUprobe(binary: "c", symbol: "getpid", pid: 0x3fff_fff0) }
        #expect(e3.description.contains("no such process"))
    }

    @Test(.disabled(if: Features.shared.kprobes.available, "this kernel has kprobes: kprobeCountsOpens covers it"))
    func kprobeAttachSaysTheKernelHasNoKprobes() throws {
        let program = try load().program(named: "on_kprobe")
        for attempt in [{ try program.attachKprobe(function: "do_sys_openat2") },
                        { try program.attachKprobe(function: "do_sys_openat2", retprobe: true) },
                        { try program.attachKprobeMulti(pattern: "tcp_*") }] {
            let e = try #require(throws: BPFError.self) { _ = try attempt() }
            #expect(e.code == .unsupported)
            #expect(e.description.contains("kernel built without CONFIG_KPROBES"))
            #expect(e.hint?.contains("`netbpf trace tplist`") == true)
        }
    }

    @Test(.enabled(if: Features.shared.kprobes.available, "requires kprobes: kernel built without CONFIG_KPROBES"))
    func kprobeCountsOpens() throws {
        let object = try load()
        let link = try object.program(named: "on_kprobe").attachKprobe(function: "do_sys_openat2")
        for _ in 0..<20 { close(open("/dev/null", O_RDONLY)) }
        try link.detach()
        #expect(try ArrayMap<UInt64>(object.map(named: "hits")).get(5) >= 20)
    }

    func loadFentry() throws -> BPFObject {
        try BPFCompiler().compile(source: Self.fentrySource, path: "/tmp/netbpf-tracing-fentry-test.bpf.c").open().load()
    }

    /// Here the kernel refuses fentry programs at load with EPERM (the probe's detail says
    /// whether at load or at attach): the error says it is a refusal of the trampoline, not the
    /// verifier, and suggests tracepoints.
    @Test(.disabled(if: Features.shared.fentry.available, "fentry works on this kernel: fentryAttaches covers it"))
    func fentryIsRefusedWithTheReason() throws {
        let refusedAtLoad = Features.shared.fentry.detail.hasPrefix("fentry program load refused")
        let e: BPFError
        if refusedAtLoad {
            e = try #require(throws: BPFError.self) { try loadFentry() }
        } else {
            let program = try loadFentry().program(named: "on_fentry")
            e = try #require(throws: BPFError.self) { try program.attachTrampoline() }
        }
        #expect(e.code == .unsupported || e.code == .permission, "\(e)")
        #expect(!e.description.contains("verifier rejected"), "\(e)")
        #expect(e.description.contains("fentry/fexit"), "\(e)")
        #expect(e.hint?.contains("`netbpf trace tplist`") == true, "\(e.hint ?? "no hint")")
        #expect(!e.description.contains("\n"))
    }

    @Test(.enabled(if: Features.shared.fentry.available, "requires fentry/fexit: the kernel refuses BPF trampolines"))
    func fentryAttaches() throws {
        let object = try loadFentry()
        let link = try object.program(named: "on_fentry").attachTrampoline()
        let id = try link.info().id
        #expect(try Inventory.links().contains { $0.id == id })
        try link.detach()
    }

    @Test func rawTracepointSeesSyscalls() throws {
        let object = try load(pid: UInt32(getpid()))
        let link = try object.program(named: "on_raw").attachRawTracepoint("sys_enter")
        for _ in 0..<100 { _ = getppid() }
        try link.detach()
        #expect(try ArrayMap<UInt64>(object.map(named: "hits")).get(6) == 100)
        let e = try #require(throws: BPFError.self) { try object.program(named: "on_raw").attachRawTracepoint("no_such_tracepoint_netbpf") }
        #expect(e.code == .notFound)
    }

    @Test func tpBTFAttachesBySection() throws {
        let object = try load(pid: UInt32(getpid()))
        let link = try object.program(named: "on_btf").attach()
        for _ in 0..<100 { _ = getppid() }
        try link.detach()
        #expect(try ArrayMap<UInt64>(object.map(named: "hits")).get(7) == 100)
    }

    @Test func tracepointFormatsComeFromTracefs() throws {
        let f = try Tracefs.format(category: "syscalls", event: "sys_enter_openat")
        #expect(f.field(named: "filename")?.isPointer == true)
        let s = try Tracefs.format(category: "sched", event: "sched_switch")
        #expect(s.field(named: "prev_comm")?.arrayLength == 16)
        let e = try #require(throws: BPFError.self) { try Tracefs.format(category: "sched", event: "nosuch") }
        #expect(e.code == .notFound)
        #expect(try Tracefs.tracepoints(matching: "sched:sched_wakeup*").contains("sched:sched_wakeup"))
    }

    @Test func perfEventSamplingCollectsKernelStacks() throws {
        let object = try load()
        let links = try object.program(named: "on_sample").attachPerfEvent(.cpuClock(frequency: 499))
        #expect(links.count == CPUs.online().count)
        // Keep a CPU busy in the kernel for a while (getppid in a loop).
        let end = Date().addingTimeInterval(0.6)
        while Date() < end { for _ in 0..<1000 { _ = getppid() } }
        for l in links { try l.detach() }
        #expect(try ArrayMap<UInt64>(object.map(named: "hits")).get(0) > 50)
        let stacks = try StackTraceMap(object.map(named: "stacks"))
        let counts = try HashMap<Int32, UInt64>(object.map(named: "stack_counts")).entries()
        #expect(!counts.isEmpty)
        let kernel = try KernelSymbols()
        var symbolized = 0
        for (id, _) in counts {
            let frames = try stacks.addresses(id) ?? []
            let lines = StackFormatter.lines(kernel: frames, user: [], kernelSymbols: kernel, userSymbols: nil)
            symbolized += lines.filter { !$0.contains("[unknown]") }.count
        }
        #expect(symbolized > 0)
    }

    @Test func processSymbolsResolveThisProcess() throws {
        let syms = try ProcessSymbols(pid: getpid())
        let address = UInt64(UInt(bitPattern: dlsym(nil, "getpid")))  // RTLD_DEFAULT
        #expect(syms.describe(address, offset: false).contains("getpid"))
    }
}
