import Foundation
import Testing
import NetBPF
import NetBPFCompiler
import NetBPFTestSupport

/// BCC mode (docs/bcc-c.md): BCC's C compiled unchanged into CO-RE objects and loaded.
@Suite(.serialized, .enabled(if: TestEnvironment.isRoot, "requires root: loads what it compiles"))
struct BCCCompatTests {
    func withCompiler<T>(_ body: (BPFCompiler) throws -> T) throws -> T {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("netbpf-bcc-cache-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        defer {
            BPFCompiler.waitForBackgroundWork()
            try? FileManager.default.removeItem(atPath: dir)
        }
        return try body(try BPFCompiler(cache: CacheDirectory(path: dir)))
    }

    /// Every map macro of the prelude, in one program in BCC's style, loads with the map types
    /// and sizes BCC gives; the map methods work when run.
    @Test func everyMapMacroExpandsAndLoads() throws {
        let source = """
        #include <uapi/linux/ptrace.h>
        #include <linux/skbuff.h>
        #include <bcc/proto.h>

        struct key_t { u32 a; u32 b; };
        struct lpm_key { u32 prefixlen; u32 addr; };
        BPF_HASH(h1);
        BPF_HASH(h2, struct key_t);
        BPF_HASH(h3, u32, struct key_t);
        BPF_HASH(h4, u32, u64, 16);
        BPF_LRU_HASH(lru, u32, u64, 32);
        BPF_PERCPU_HASH(pch, u32);
        BPF_ARRAY(a1);
        BPF_ARRAY(a3, u64, 4);
        BPF_PERCPU_ARRAY(pca, u64, 2);
        BPF_HISTOGRAM(hist);
        BPF_HISTOGRAM(hist2, u32, 8);
        BPF_LPM_TRIE(trie, struct lpm_key, u32, 64);
        BPF_STACK_TRACE(stacks, 128);
        BPF_PERF_OUTPUT(events);
        BPF_RINGBUF_OUTPUT(ring, 8);
        BPF_PROG_ARRAY(jumps, 4);
        BPF_DEVMAP(devs, 4);
        BPF_CPUMAP(cpus, 4);
        BPF_XSKMAP(xsks, 4);
        BPF_SOCKMAP(socks, 4);
        BPF_TABLE("lru_hash", u32, u64, table, 64);
        BPF_F_TABLE("hash", u32, u64, ftable, 64, BPF_F_NO_PREALLOC);

        int count(struct __sk_buff *skb) {
            u32 zero = 0, len = skb->len;
            u64 one = 1, init = 7, *v;
            a3.increment(zero);
            a3.increment(zero, 2);
            hist.increment(bpf_log2l(len));
            h4.update(&len, &one);
            v = table.lookup_or_try_init(&zero, &init);
            if (v)
                table.increment(zero); /* 8 */
            v = a3.lookup(&zero);
            u64 *w = table.lookup(&zero);
            if (!v || !w)
                return 99;
            h4.delete(&len);
            if (h4.lookup(&len))
                return 98;
            return *v * 100 + *w; /* 3 * 100 + 8 */
        }
        """
        try withCompiler { compiler in
            var options = CompileOptions()
            options.bccSections = ["count": "socket"]
            let compiled = try compiler.compile(source: source, path: "/tmp/bcc_macros.c", options: options)
            let spec = try compiled.open()
            let types = Dictionary(uniqueKeysWithValues: spec.maps.map { ($0.name, $0) })
            #expect(types["h1"]?.maxEntries == 10240)
            #expect(types["h4"]?.maxEntries == 16)
            #expect(types["hist"]?.maxEntries == 64)
            #expect(types["a1"]?.maxEntries == 10240)
            #expect(types["ring"].map { Int($0.maxEntries) } == 8 * 4096)
            #expect(types.count == 22)
            let object = try spec.load()
            let result = try object.program(named: "count").testRun(data: [UInt8](repeating: 0, count: 64))
            #expect(result.returnValue == 308)
        }
    }

    /// TRACEPOINT_PROBE with `args` from tracefs, kprobe__ functions with BCC's extra
    /// parameters, bpf_trace_printk's one-argument form, perf_submit: compiled and loaded (a
    /// kprobe program loads on a kernel without kprobes; only attaching needs them).
    @Test func tracingProgramsCompileAndLoad() throws {
        let source = """
        #include <uapi/linux/ptrace.h>
        #include <net/sock.h>
        #include <linux/sched.h>

        struct event_t { u32 pid; u16 family; char comm[TASK_COMM_LEN]; char file[64]; };
        BPF_PERF_OUTPUT(events);
        BPF_HASH(socks, u32, struct sock *);

        int kprobe__tcp_v4_connect(struct pt_regs *ctx, struct sock *sk) {
            u32 pid = bpf_get_current_pid_tgid();
            socks.update(&pid, &sk);
            bpf_trace_printk("connect %d\\n", pid);
            return 0;
        }

        TRACEPOINT_PROBE(syscalls, sys_enter_openat) {
            struct event_t e = {};
            e.pid = bpf_get_current_pid_tgid() >> 32;
            bpf_get_current_comm(&e.comm, sizeof(e.comm));
            bpf_probe_read_user_str(&e.file, sizeof(e.file), args->filename);
            events.perf_submit(args, &e, sizeof(e));
            return 0;
        }

        TRACEPOINT_PROBE(sched, sched_process_exit) {
            bpf_trace_printk("exit\\n");
            return args->pid == 0;
        }
        """
        guard FileManager.default.fileExists(atPath: "/sys/kernel/tracing/events/syscalls/sys_enter_openat/format") else {
            Issue.record("tracefs is not mounted at /sys/kernel/tracing (scripts/setup.sh mounts it)")
            return
        }
        try withCompiler { compiler in
            let compiled = try compiler.compile(source: source, path: "/tmp/bcc_tracing.c")
            let sections = Dictionary(uniqueKeysWithValues: try compiled.open().programs.map { ($0.name, $0.section) })
            #expect(sections["kprobe__tcp_v4_connect"] == "kprobe/tcp_v4_connect")
            #expect(sections["tracepoint__syscalls__sys_enter_openat"] == "tracepoint/syscalls/sys_enter_openat")
            #expect(sections["tracepoint__sched__sched_process_exit"] == "tracepoint/sched/sched_process_exit")
            _ = try compiled.open().load()
        }
    }

    /// Diagnostics point at the program's own lines, whatever the rewrite added.
    @Test func errorsKeepTheProgramsLineNumbers() throws {
        let source = "#include <uapi/linux/ptrace.h>\nBPF_HASH(m, u32);\n\nint kprobe__f(struct pt_regs *ctx,\n struct sock *sk) {\n  return undefined_thing;\n}\n"
        try withCompiler { compiler in
            let e = #expect(throws: CompileError.self) { try compiler.compile(source: source, path: "/tmp/bcc_lines.c") }
            let first = e?.diagnostics.first { $0.severity >= .error }
            #expect(first?.line == 6)
            #expect(first?.file == "/tmp/bcc_lines.c")
        }
    }

    // MARK: - The corpus: Debian's bpfcc-tools, extracted at run time

    /// What was measured on this project's machines (docs/bcc-c.md): of the programs
    /// scripts/bcc-corpus.py captures from bpfcc-tools 0.26, how many compile, and how many of
    /// those load on Linux 6.18.
    static let measuredCompiled = 115
    static let measuredLoaded = 110

    struct CorpusProgram {
        let name: String
        /// "networking", "tracing" (BCC's examples) or "tools".
        let group: String
        let path: String
        let defines: [String]
        let sections: [String: String]
    }

    /// The section for each function from BCC's load_func/attach_* calls the recorder saw.
    static func sections(_ meta: [String: Any]) -> [String: String] {
        var out: [String: String] = [:]
        for a in meta["attaches"] as? [[String: Any]] ?? [] {
            guard let fn = a["fn_name"] as? String, !fn.isEmpty, let kind = a["kind"] as? String else { continue }
            var s: String
            switch kind {
            case "kprobe", "kretprobe": s = kind + ((a["event"] as? String).map { $0.isEmpty ? "" : "/" + $0 } ?? "")
            case "tracepoint": s = (a["tp"] as? String).map { "tracepoint/" + $0.replacingOccurrences(of: ":", with: "/") } ?? "tracepoint"
            case "raw_tracepoint": s = "raw_tracepoint/" + (a["tp"] as? String ?? "")
            case "uprobe", "uretprobe", "perf_event", "xdp": s = kind
            default: continue
            }
            if let old = out[fn], old != s { s = String(s.split(separator: "/").first ?? "") }
            out[fn] = s
        }
        let types: [Int: String] = [1: "socket", 2: "kprobe", 3: "tc", 5: "tracepoint", 6: "xdp", 7: "perf_event", 13: "sockops",
                                    14: "sk_skb", 16: "sk_msg", 17: "raw_tracepoint"]
        for l in meta["loads"] as? [[String: Any]] ?? [] {
            if let fn = l["function"] as? String, let t = l["prog_type"] as? Int, let s = types[t], out[fn] == nil { out[fn] = s }
        }
        return out
    }

    static func extractCorpus(into dir: String, only: [String] = []) throws -> [CorpusProgram] {
        let script = TestPrograms.repositoryRoot.appendingPathComponent("scripts/bcc-corpus.py").path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        p.arguments = [script, dir] + only.flatMap { ["--only", $0] }
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw CompileError(kind: .input, message: "bcc-corpus.py exited with \(p.terminationStatus)") }
        return try readCorpus(dir)
    }

    /// The programs of a corpus directory (NAME.c and NAME.json per program).
    static func readCorpus(_ dir: String) throws -> [CorpusProgram] {
        var out: [CorpusProgram] = []
        for file in try FileManager.default.contentsOfDirectory(atPath: dir).sorted() where file.hasSuffix(".c") {
            let name = String(file.dropLast(2))
            let data = try Data(contentsOf: URL(fileURLWithPath: dir + "/" + name + ".json"))
            let meta = try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
            let defines = (meta["cflags"] as? [String] ?? []).filter { $0.hasPrefix("-D") }.map { String($0.dropFirst(2)) }
            let script = meta["script"] as? String ?? ""
            let group = script.contains("/examples/networking/") ? "networking" : script.contains("/examples/") ? "tracing" : "tools"
            out.append(CorpusProgram(name: name, group: group, path: dir + "/" + file, defines: defines, sections: sections(meta)))
        }
        return out
    }

    static var bpfccInstalled: Bool {
        FileManager.default.fileExists(atPath: "/usr/share/doc/bpfcc-tools/examples") && FileManager.default.fileExists(atPath: "/usr/lib/python3/dist-packages/bcc/__init__.py")
    }

    /// Extracts the corpus from the installed bpfcc-tools, compiles every program unchanged
    /// (BCC mode), loads what compiled, prints one line per program, and holds the measured
    /// numbers as a floor. NETBPF_BCC_REPORT=FILE writes the table as markdown.
    @Test(.enabled(if: bpfccInstalled, "requires Debian's bpfcc-tools and python3-bpfcc (apt-get install bpfcc-tools)"))
    func corpusCompilesUnchanged() throws {
        // NETBPF_BCC_CORPUS=DIR: a corpus scripts/bcc-corpus.py extracted before (kept).
        let given = ProcessInfo.processInfo.environment["NETBPF_BCC_CORPUS"]
        let dir = given ?? FileManager.default.temporaryDirectory.appendingPathComponent("netbpf-bcc-corpus-\(getpid())").path
        defer { if given == nil { try? FileManager.default.removeItem(atPath: dir) } }
        let programs = try given.map { try Self.readCorpus($0) } ?? Self.extractCorpus(into: dir)
        #expect(programs.count >= 100, "the corpus shrank: \(programs.count) programs")
        var compiled = 0, loaded = 0
        var perGroup: [String: (programs: Int, compiled: Int, loaded: Int)] = [:]
        var rows: [String] = []
        try withCompiler { compiler in
            for p in programs {
                var options = CompileOptions()
                options.dialect = .bcc
                options.defines = p.defines
                options.bccSections = p.sections
                var status: String
                perGroup[p.group, default: (0, 0, 0)].programs += 1
                do {
                    let object = try compiler.compile(file: p.path, options: options)
                    compiled += 1
                    perGroup[p.group, default: (0, 0, 0)].compiled += 1
                    do {
                        // What BCC's Python would load: the functions its load_func/attach_*
                        // calls named, and those BPF() attaches by their names (kprobe__ ...).
                        let spec = try object.open()
                        if !p.sections.isEmpty {
                            for prog in spec.programs where p.sections[prog.name] == nil && !Self.autoAttachedPrefixes.contains(where: { prog.name.hasPrefix($0) }) {
                                try spec.setAutoload(false, forProgram: prog.name)
                            }
                        }
                        _ = try spec.load()
                        loaded += 1
                        perGroup[p.group, default: (0, 0, 0)].loaded += 1
                        status = "loads"
                    } catch let e as BPFError {
                        status = "compiles; load: " + Self.oneLine(e.description)
                    }
                } catch let e as CompileError {
                    status = "compile: " + Self.oneLine(e.message)
                }
                rows.append("| \(p.name) | \(p.group) | \(status.replacingOccurrences(of: "|", with: "\\|")) |")
            }
        }
        let groups = perGroup.keys.sorted().map { g in
            let c = perGroup[g] ?? (0, 0, 0)
            return "\(g): \(c.compiled) of \(c.programs) compile, \(c.loaded) load"
        }
        let summary = "\(compiled) of \(programs.count) compile, \(loaded) load (" + groups.joined(separator: "; ") + ")"
        print("BCC corpus: " + summary)
        for r in rows { print(r) }
        if let report = ProcessInfo.processInfo.environment["NETBPF_BCC_REPORT"] {
            try ("| program | group | result |\n|---|---|---|\n" + rows.joined(separator: "\n") + "\n\n" + summary + "\n").write(toFile: report, atomically: true, encoding: .utf8)
        }
        #expect(compiled >= Self.measuredCompiled, "\(summary)")
        #expect(loaded >= Self.measuredLoaded, "\(summary)")
    }

    // MARK: - Networking examples run on packets

    /// Ethernet + IPv4 10.0.0.1 -> 10.0.0.2 + `l4` (protocol `proto`).
    static func frame(proto: UInt8, l4: [UInt8]) -> [UInt8] {
        let total = UInt16(20 + l4.count)
        var f: [UInt8] = [0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00]
        f += [0x45, 0, UInt8(total >> 8), UInt8(total & 0xff), 0, 1, 0x40, 0, 64, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]
        return f + l4
    }
    static let udpFrame = frame(proto: 17, l4: [0x04, 0xd2, 0x00, 0x35, 0x00, 12, 0, 0, 1, 2, 3, 4])
    static let httpFrame = frame(proto: 6, l4: [0x9c, 0x40, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0]
                                            + Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8))

    /// BCC's networking examples, extracted from bpfcc-tools and compiled unchanged, run with
    /// BPF_PROG_TEST_RUN on packets that take their main path; the results are what BCC's
    /// Python side would see (a kept packet, a counter, a drop, swapped MACs).
    @Test(.enabled(if: bpfccInstalled, "requires Debian's bpfcc-tools and python3-bpfcc (apt-get install bpfcc-tools)"))
    func networkingExamplesRunOnPackets() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("netbpf-bcc-net-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let names = ["http-parse-simple", "http-parse-complete", "net_monitor", "simple_tc", "xdp_drop_count", "xdp_macswap_count"]
        let programs = Dictionary(uniqueKeysWithValues: try Self.extractCorpus(into: dir, only: names).map { ($0.name, $0) })
        #expect(programs.count == names.count, "captured: \(programs.keys.sorted())")
        func load(_ name: String) throws -> BPFObject? {
            guard let p = programs[name] else { return nil }
            var options = CompileOptions()
            options.dialect = .bcc
            options.defines = p.defines
            // A socket filter's test run starts the packet at its IP header; on the AF_PACKET
            // socket BCC attaches it to it starts at Ethernet, as tc's does: run those as tc.
            options.bccSections = p.sections.mapValues { $0 == "socket" ? "tc" : $0 }
            return try withCompiler { try $0.compile(file: p.path, options: options).open().load() }
        }
        func sum(_ bytes: [UInt8]?) -> Int64 {
            guard let bytes else { return -1 }
            return stride(from: 0, to: bytes.count, by: 8).reduce(0) { acc, i in acc + bytes[i..<i + 8].withUnsafeBytes { $0.loadUnaligned(as: Int64.self) } }
        }
        // http_filter: HTTP kept (-1), anything else dropped (0); complete also opens a session.
        for name in ["http-parse-simple", "http-parse-complete"] {
            guard let o = try load(name) else { continue }
            let prog = try o.program(named: "http_filter")
            #expect(try prog.testRun(data: Self.httpFrame).returnValue == UInt32(bitPattern: -1), "\(name)")
            #expect(try prog.testRun(data: Self.udpFrame).returnValue == 0, "\(name)")
            if name == "http-parse-complete" { #expect(try o.map(named: "sessions").keys().count == 1) }
        }
        // net_monitor: keeps the packet and counts it under (saddr << 32) + daddr, host order.
        if let o = try load("net_monitor") {
            #expect(try o.program(named: "packet_monitor").testRun(data: Self.udpFrame).returnValue == UInt32(bitPattern: -1))
            let key = withUnsafeBytes(of: UInt64(0x0a00_0001_0a00_0002)) { Array($0) }
            #expect(sum(try o.map(named: "packet_cnt").lookup(key: key)) == 1)
        }
        if let o = try load("simple_tc") {
            #expect(try o.program(named: "hello").testRun(data: Self.udpFrame).returnValue == 1)
        }
        // xdp_drop_count: drops and counts by IP protocol; xdp_macswap_count: sends back, MACs swapped.
        if let o = try load("xdp_drop_count") {
            #expect(try o.program(named: "xdp_prog1").testRun(data: Self.udpFrame).returnValue == 1) // XDP_DROP
            #expect(sum(try o.map(named: "dropcnt").lookup(key: withUnsafeBytes(of: UInt32(17)) { Array($0) })) == 1)
        }
        if let o = try load("xdp_macswap_count") {
            let run = try o.program(named: "xdp_prog1").testRun(data: Self.udpFrame)
            #expect(run.returnValue == 3) // XDP_TX
            #expect(Array(run.dataOut[0..<12]) == Array(Self.udpFrame[6..<12] + Self.udpFrame[0..<6]))
        }
    }

    /// Functions BCC's BPF() attaches by their name alone.
    static let autoAttachedPrefixes = ["kprobe__", "kretprobe__", "tracepoint__", "raw_tracepoint__", "kfunc__", "kretfunc__", "lsm__"]

    static func oneLine(_ s: String) -> String {
        let first = s.split(separator: "\n").first.map(String.init) ?? s
        return first.count > 160 ? String(first.prefix(157)) + "..." : first
    }
}
