import Foundation
import Testing
import NetBPF
import NetBPFCompiler
import NetBPFTestSupport

/// The compiler against real programs, real clang and the real kernel.
@Suite(.serialized, .enabled(if: TestEnvironment.isRoot, "requires root: loads what it compiles"))
struct CompilerTests {
    /// A private cache per test, so hits and misses are the test's own.
    func withCompiler<T>(_ body: (BPFCompiler, String) throws -> T) throws -> T {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("netbpf-cache-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        defer {
            BPFCompiler.waitForBackgroundWork() // a PCH still being built there
            try? FileManager.default.removeItem(atPath: dir)
        }
        return try body(try BPFCompiler(cache: CacheDirectory(path: dir)), dir)
    }

    /// The one file in `directory` (a cache's objects/), as a path.
    static func onlyEntry(in directory: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory)
        #expect(names.count == 1, "\(directory): \(names)", sourceLocation: sourceLocation)
        return directory + "/" + (try #require(names.first, sourceLocation: sourceLocation))
    }

    /// What program `f` of `compiled` returns for a 64-byte packet.
    static func returnValue(_ compiled: CompiledObject) throws -> UInt32 {
        try compiled.open().load().program(named: "f").testRun(data: [UInt8](repeating: 0, count: 64)).returnValue
    }

    static let programs: [String] = (try? FileManager.default.contentsOfDirectory(
        atPath: TestPrograms.repositoryRoot.appendingPathComponent("programs").path))?.filter { $0.hasSuffix(".bpf.c") }.sorted() ?? []

    @Test(arguments: programs)
    func everyProgramCompiles(file: String) throws {
        try withCompiler { compiler, _ in
            let path = TestPrograms.repositoryRoot.appendingPathComponent("programs/" + file).path
            if file == "maps_only.bpf.c" {
                let e = #expect(throws: CompileError.self) { try compiler.compile(file: path) }
                #expect(e?.kind == .object)
                #expect(e?.message.contains("no programs") == true)
                return
            }
            let compiled = try compiler.compile(file: path)
            #expect(compiled.bytes.count > 64)
            #expect(ELFSections.names(compiled.bytes).contains(".BTF"))
            let spec = try compiled.open()
            #expect(!spec.programs.isEmpty)
            #expect(compiled.diagnostics.contains { $0.message.contains("no license") } == (file == "no_license.bpf.c"))
        }
    }

    @Test func repeatedCompilesLeaveNoFileDescriptors() throws {
        try withCompiler { compiler, _ in
            let path = TestPrograms.repositoryRoot.appendingPathComponent("programs/count_packets.bpf.c").path
            var options = CompileOptions(); options.useCache = false
            _ = try compiler.compile(file: path, options: options)
            let before = openFileDescriptorCount()
            for _ in 0..<5 { _ = try compiler.compile(file: path, options: options) }
            #expect(openFileDescriptorCount() == before)
        }
    }

    @Test func objectMatchesWhatClangCLIBuildsAndLoads() throws {
        try withCompiler { compiler, _ in
            let compiled = try compiler.compile(file: TestPrograms.repositoryRoot.appendingPathComponent("programs/count_packets.bpf.c").path)
            let obj = try compiled.open().load()
            let r = try obj.program(named: "count_tc").testRun(data: [UInt8](repeating: 0, count: 64))
            #expect(r.returnValue == 0)
            #expect(try ArrayMap<UInt64>(obj.map(named: "counters")).get(0) == 1)
        }
    }

    @Test func cacheHitMissAndCorruption() throws {
        try withCompiler { compiler, dir in
            let path = TestPrograms.repositoryRoot.appendingPathComponent("programs/count_packets.bpf.c").path
            let first = try compiler.compile(file: path)
            #expect(!first.isCacheHit)
            let second = try compiler.compile(file: path)
            #expect(second.isCacheHit)
            #expect(second.bytes == first.bytes)
            var noCache = CompileOptions(); noCache.useCache = false
            #expect(try !compiler.compile(file: path, options: noCache).isCacheHit)
            var defined = CompileOptions(); defined.defines = ["SOMETHING=1"]
            #expect(try !compiler.compile(file: path, options: defined).isCacheHit)

            // Truncate every cached object: the next compile must notice and rebuild.
            let objects = dir + "/objects"
            for f in try FileManager.default.contentsOfDirectory(atPath: objects) {
                let p = objects + "/" + f
                let d = try Data(contentsOf: URL(fileURLWithPath: p))
                try d.prefix(d.count / 2).write(to: URL(fileURLWithPath: p))
            }
            let rebuilt = try compiler.compile(file: path)
            #expect(!rebuilt.isCacheHit)
            #expect(rebuilt.bytes == first.bytes)
            #expect(try compiler.compile(file: path).isCacheHit)
        }
    }

    @Test func changedHeaderInvalidatesTheCache() throws {
        try withCompiler { compiler, dir in
            let src = dir + "/src"
            try FileManager.default.createDirectory(atPath: src + "/include", withIntermediateDirectories: true)
            try "#define RET 1\n".write(toFile: src + "/include/ret.h", atomically: true, encoding: .utf8)
            try """
            #include <linux/bpf.h>
            #include <bpf/bpf_helpers.h>
            #include "ret.h"
            SEC("socket") int f(struct __sk_buff *skb) { return RET; }
            char LICENSE[] SEC("license") = "GPL";
            """.write(toFile: src + "/p.bpf.c", atomically: true, encoding: .utf8)
            let a = try compiler.compile(file: src + "/p.bpf.c")
            #expect(try Self.returnValue(a) == 1)
            usleep(10_000)
            try "#define RET 7\n".write(toFile: src + "/include/ret.h", atomically: true, encoding: .utf8)
            let b = try compiler.compile(file: src + "/p.bpf.c")
            #expect(!b.isCacheHit)
            #expect(try Self.returnValue(b) == 7)
        }
    }

    /// A flipped byte inside a cached object (not just a cut-off one) fails its CRC: the entry
    /// is rebuilt, never loaded.
    @Test func flippedByteInCachedObjectIsRebuilt() throws {
        try withCompiler { compiler, dir in
            let path = TestPrograms.repositoryRoot.appendingPathComponent("programs/count_packets.bpf.c").path
            let first = try compiler.compile(file: path)
            let p = try Self.onlyEntry(in: dir + "/objects")
            var d = try Data(contentsOf: URL(fileURLWithPath: p))
            d[d.count / 2] ^= 0x40
            try d.write(to: URL(fileURLWithPath: p))
            let rebuilt = try compiler.compile(file: path)
            #expect(!rebuilt.isCacheHit)
            #expect(rebuilt.bytes == first.bytes)
        }
    }

    // What a compile read is what clang reports it read (CompileInputs): every test below
    // reaches a header in a way a scan of `#include` lines cannot see, and each failed with the
    // text scanner the cache used before (a stale object from the cache).

    /// A socket program `f` returning RET, after `includes` (lines of its own).
    static func retProgram(_ includes: String) -> String {
        """
        #include <linux/bpf.h>
        #include <bpf/bpf_helpers.h>
        \(includes)
        SEC("socket") int f(struct __sk_buff *skb) { return RET; }
        char LICENSE[] SEC("license") = "GPL";
        """
    }

    /// Writes each file (path under `dir` -> text), creating directories.
    static func write(_ files: [String: String], in dir: String) throws {
        for (name, text) in files { try write(text, to: dir + "/" + name) }
    }

    /// Compiles `dir/p.bpf.c`: what `f` returns, and whether it came from the cache.
    static func run(_ compiler: BPFCompiler, _ dir: String, _ options: CompileOptions = CompileOptions()) throws -> (UInt32, Bool) {
        let c = try compiler.compile(file: dir + "/p.bpf.c", options: options)
        return (try returnValue(c), c.isCacheHit)
    }

    /// `#include_next` goes on along the search path from the directory its header was found
    /// in; an edit of the header it reaches is seen.
    @Test func headerReachedByIncludeNextIsAnInput() throws {
        try withCompiler { compiler, cache in
            let dir = cache + "/src" // sources of the test's own, outside what netbpf writes
            try Self.write(["a/ret.h": "#include_next <ret.h>\n", "b/ret.h": "#define RET 1\n",
                            "p.bpf.c": Self.retProgram("#include <ret.h>")], in: dir)
            var options = CompileOptions()
            options.includeDirectories = [dir + "/a", dir + "/b"]
            Self.letSettle() // an entry is kept only for headers not changed in the 2 s before the compile
            #expect(try Self.run(compiler, dir, options) == (1, false))
            #expect(try Self.run(compiler, dir, options) == (1, true))
            try Self.write(["b/ret.h": "#define RET 2\n"], in: dir)
            #expect(try Self.run(compiler, dir, options) == (2, false))
        }
    }

    /// `#include MACRO`: the header the macro names is an input like any other.
    @Test func headerNamedByAMacroIsAnInput() throws {
        try withCompiler { compiler, cache in
            let dir = cache + "/src" // sources of the test's own, outside what netbpf writes
            try Self.write(["cfg.h": "#define RET 1\n",
                            "p.bpf.c": Self.retProgram("#define CONFIG_HEADER \"cfg.h\"\n#include CONFIG_HEADER")], in: dir)
            Self.letSettle()
            #expect(try Self.run(compiler, dir) == (1, false))
            #expect(try Self.run(compiler, dir) == (1, true))
            try Self.write(["cfg.h": "#define RET 3\n"], in: dir)
            #expect(try Self.run(compiler, dir) == (3, false))
        }
    }

    /// A header created in a directory searched before the one whose header was used (here by
    /// `#include_next`) is used from then on; removed again, the first one is.
    @Test func headerCreatedEarlierOnTheSearchPathIsSeen() throws {
        try withCompiler { compiler, cache in
            let dir = cache + "/src" // sources of the test's own, outside what netbpf writes
            try FileManager.default.createDirectory(atPath: dir + "/m", withIntermediateDirectories: true)
            try Self.write(["a/ret.h": "#include_next <ret.h>\n", "b/ret.h": "#define RET 1\n",
                            "p.bpf.c": Self.retProgram("#include <ret.h>")], in: dir)
            var options = CompileOptions()
            options.includeDirectories = [dir + "/a", dir + "/m", dir + "/b"]
            Self.letSettle()
            #expect(try Self.run(compiler, dir, options) == (1, false))
            #expect(try Self.run(compiler, dir, options) == (1, true))
            try Self.write(["m/ret.h": "#define RET 9\n"], in: dir)
            #expect(try Self.run(compiler, dir, options) == (9, false))
            Self.letSettle()
            #expect(try Self.run(compiler, dir, options) == (9, false)) // now settled: kept
            #expect(try Self.run(compiler, dir, options) == (9, true))
            try FileManager.default.removeItem(atPath: dir + "/m/ret.h")
            #expect(try Self.run(compiler, dir, options) == (1, false))
        }
    }

    /// `__has_include` of a header that does not exist yet: creating it changes the object.
    @Test func headerCreatedThatHasIncludeLookedForIsSeen() throws {
        try withCompiler { compiler, cache in
            let dir = cache + "/src" // sources of the test's own, outside what netbpf writes
            try Self.write(["p.bpf.c": Self.retProgram("#if __has_include(<opt.h>)\n#define RET 2\n#else\n#define RET 1\n#endif")], in: dir)
            var options = CompileOptions()
            options.includeDirectories = [dir + "/opt"]
            Self.letSettle()
            #expect(try Self.run(compiler, dir, options) == (1, false))
            #expect(try Self.run(compiler, dir, options) == (1, true))
            try Self.write(["opt/opt.h": "\n"], in: dir) // the directory was not there either
            #expect(try Self.run(compiler, dir, options) == (2, false))
        }
    }

    /// Waits until files written now are older than the 2 s a header must have been left alone
    /// for a compile that read it to be kept (their ctime cannot be set back).
    static func letSettle() { usleep(3_100_000) }

    /// A header swapped through a symlinked include directory for another file with other
    /// includes: the entry, made for one state of the headers, is a miss.
    @Test func symlinkedIncludeDirectoryPointedElsewhereIsSeen() throws {
        try withCompiler { compiler, cache in
            let dir = cache + "/src" // sources of the test's own, outside what netbpf writes
            // cur -> v1: cfg.h includes opt.h if it exists; cur -> v2: cfg.h includes nothing.
            for v in ["v1", "v2", "common"] { try FileManager.default.createDirectory(atPath: dir + "/" + v, withIntermediateDirectories: true) }
            try "#if __has_include(<opt.h>)\n#include <opt.h>\n#endif\n#ifndef RET\n#define RET 1\n#endif\n".write(toFile: dir + "/v1/cfg.h", atomically: true, encoding: .utf8)
            try "#define RET 2\n".write(toFile: dir + "/v2/cfg.h", atomically: true, encoding: .utf8)
            try FileManager.default.createSymbolicLink(atPath: dir + "/cur", withDestinationPath: dir + "/v1")
            try Self.write(["p.bpf.c": Self.retProgram("#include <cfg.h>")], in: dir)
            var options = CompileOptions()
            options.includeDirectories = [dir + "/cur", dir + "/common"]
            Self.letSettle()
            #expect(try Self.run(compiler, dir, options) == (1, false))
            #expect(try Self.run(compiler, dir, options) == (1, true))
            func repoint(_ to: String) throws {
                try FileManager.default.removeItem(atPath: dir + "/cur")
                try FileManager.default.createSymbolicLink(atPath: dir + "/cur", withDestinationPath: dir + "/" + to)
            }
            try repoint("v2")
            #expect(try Self.run(compiler, dir, options).0 == 2)
            try "#define RET 3\n".write(toFile: dir + "/common/opt.h", atomically: true, encoding: .utf8)
            try repoint("v1")
            #expect(try Self.run(compiler, dir, options).0 == 3) // v1's cfg.h now finds common/opt.h
        }
    }

    /// A program whose own header includes vmlinux.h (the source never names it) gets the
    /// kernel's types: the first compile shows clang looked for vmlinux.h, and it is compiled
    /// again with them.
    @Test func vmlinuxIncludedByAHeaderOfTheProgram() throws {
        try withCompiler { compiler, cache in
            let dir = cache + "/src" // sources of the test's own, outside what netbpf writes
            try Self.write(["include/kernel.h": "#include \"vmlinux.h\"\n#include <bpf/bpf_helpers.h>\n",
                            "p.bpf.c": """
                            #include "kernel.h"
                            SEC("socket") int f(struct __sk_buff *skb) { return sizeof(struct task_struct) > 64; }
                            char LICENSE[] SEC("license") = "GPL";
                            """], in: dir)
            Self.letSettle()
            #expect(try Self.run(compiler, dir) == (1, false))
            #expect(try Self.run(compiler, dir) == (1, true))
        }
    }

    @Test func vmlinuxAndCORE() throws {
        try withCompiler { compiler, _ in
            let path = TestPrograms.repositoryRoot.appendingPathComponent("programs/tp_vmlinux.bpf.c").path
            let first = try compiler.compile(file: path)
            // With two or more cores the first compile goes without the PCH while it is built
            // in the background; once that is done, the next compile uses it.
            #expect(first.usedPrecompiledHeader == (ProcessInfo.processInfo.activeProcessorCount == 1))
            BPFCompiler.waitForBackgroundWork()
            var again = CompileOptions()
            again.useCache = false
            let compiled = try compiler.compile(file: path, options: again)
            #expect(compiled.usedPrecompiledHeader)
            let spec = try compiled.open()
            try spec.setGlobal("target_tgid", to: UInt32(getpid()))
            let obj = try spec.load()
            let link = try obj.program(named: "on_sys_enter").attach()
            _ = getppid()
            try link.detach()
            let seen = try ArrayMap<UInt64>(obj.map(named: "seen"))
            #expect(try seen.get(1) == UInt64(getpid()))
            #expect(try seen.get(0) > 0)
        }
    }

    /// A PCH build that fails (here: the cache's file system is full) leaves no temporary file.
    @Test func failedPrecompiledHeaderBuildLeavesNoTemporaryFile() throws {
        try withScratch { scratch in
            let cache = scratch + "/cache"
            try FileManager.default.createDirectory(atPath: cache, withIntermediateDirectories: true)
            // vmlinux.h (2.8 MB) and the object fit in 8 MB; its PCH (~15 MB) does not.
            try #require(mount("tmpfs", cache, "tmpfs", 0, "size=8m,mode=0700") == 0, "mount tmpfs: \(String(cString: strerror(errno)))")
            defer { umount2(cache, Int32(MNT_DETACH)) }
            let compiler = try BPFCompiler(cache: CacheDirectory(path: cache))
            let tp = TestPrograms.repositoryRoot.appendingPathComponent("programs/tp_vmlinux.bpf.c").path
            var noCache = CompileOptions()
            noCache.useCache = false
            _ = try compiler.compile(file: tp, options: noCache)
            BPFCompiler.waitForBackgroundWork()
            let left = (FileManager.default.subpaths(atPath: cache) ?? []).filter { $0.hasSuffix(".tmp") || $0.hasSuffix(".pch") || $0.contains(".pch.") }
            #expect(left.isEmpty, "left in the cache: \(left)")
            #expect(try !compiler.compile(file: tp, options: noCache).usedPrecompiledHeader)
            BPFCompiler.waitForBackgroundWork()
        }
    }

    @Test func netbpfHeaderMacrosAndNaming() throws {
        try withCompiler { compiler, _ in
            let compiled = try compiler.compile(file: TestPrograms.repositoryRoot.appendingPathComponent("programs/netbpf_h_demo.bpf.c").path)
            #expect(compiled.autoAttached == [AutoAttachedFunction(function: "tracepoint__syscalls__sys_enter_getpgid", section: "tracepoint/syscalls/sys_enter_getpgid")])
            let spec = try compiled.open()
            try spec.setGlobal("target_tgid", to: UInt32(getpid()))
            let obj = try spec.load()
            let link = try obj.program(named: "tracepoint__syscalls__sys_enter_getpgid").attach()
            for _ in 0..<5 { _ = getpgid(0) }
            try link.detach()
            #expect(try HashMap<UInt32, UInt64>(obj.map(named: "calls")).lookup(UInt32(getpid())) == 5)
            #expect(try ArrayMap<UInt64>(obj.map(named: "totals")).get(0) == 5)
            let hist = try HashMap<Int32, UInt64>(obj.map(named: "pid_log2")).entries()
            #expect(hist.count == 1)
            #expect(hist.first?.key == Int32(Int(getpid()).bitWidth - Int(getpid()).leadingZeroBitCount - 1))
        }
    }

    @Test(.disabled(if: Features.shared.kprobes.available, "this kernel has kprobes: kprobeNamingAttaches covers it"))
    func kprobeNamingLoadsButAttachSaysNoKprobes() throws {
        try withCompiler { compiler, _ in
            let prog = try Self.loadKprobeNaming(compiler)
            let e = #expect(throws: BPFError.self) { try prog.attach() }
            #expect(e?.code == .unsupported)
            #expect(e?.description.contains("this kernel has no kprobes") == true)
        }
    }

    @Test(.enabled(if: Features.shared.kprobes.available, "requires kprobes: kernel built without CONFIG_KPROBES"))
    func kprobeNamingAttaches() throws {
        try withCompiler { compiler, _ in
            try Self.loadKprobeNaming(compiler).attach().detach()
        }
    }

    static func loadKprobeNaming(_ compiler: BPFCompiler) throws -> BPFProgram {
        let compiled = try compiler.compile(file: TestPrograms.repositoryRoot.appendingPathComponent("programs/kprobe_naming.bpf.c").path)
        let prog = try compiled.open().load().program(named: "kprobe__tcp_v4_connect")
        #expect(prog.section == "kprobe/tcp_v4_connect")
        return prog
    }

    @Test(arguments: [
        ("int f( { return 0; }", "expected"),
        ("#include \"no_such_header.h\"\nint x;", "'no_such_header.h' file not found"),
        ("struct nothing *p; int f(void) { return p->x; }", "incomplete definition"),
    ])
    func sourceErrorsAreStructured(source: String, says: String) throws {
        try withCompiler { compiler, dir in
            let e = #expect(throws: CompileError.self) { try compiler.compile(source: source, path: dir + "/bad.bpf.c") }
            #expect(e?.kind == .source)
            let first = e?.diagnostics.first { $0.severity >= .error }
            #expect(first?.file == dir + "/bad.bpf.c")
            #expect((first?.line ?? 0) >= 1)
            #expect((first?.column ?? 0) >= 1)
            #expect(first?.message.contains(says) == true, "\(first?.message ?? "none")")
            #expect(first?.sourceLine != nil)
            #expect(e?.description.contains("\n") == false)
        }
    }

    /// A call to a function the program never declares (here the helper bpf_trace_printk,
    /// without <bpf/bpf_helpers.h>) is clang's error at the call, with the header to include,
    /// not libbpf's bare ENOENT from opening the object.
    @Test func callToAnUndeclaredHelperIsAClangError() throws {
        try withCompiler { compiler, dir in
            let source = """
            #include <linux/bpf.h>
            #define SEC(name) __attribute__((section(name), used))

            SEC("socket")
            int f(struct __sk_buff *skb)
            {
            	char fmt[] = "hi\\n";
            	bpf_trace_printk(fmt, sizeof(fmt));
            	return 0;
            }
            char LICENSE[] SEC("license") = "GPL";
            """
            let e = #expect(throws: CompileError.self) { try compiler.compile(source: source, path: dir + "/printk.bpf.c") }
            #expect(e?.kind == .source)
            let first = e?.diagnostics.first { $0.severity >= .error }
            #expect(first?.message.hasPrefix("implicit declaration of function 'bpf_trace_printk'") == true, "\(first?.message ?? "none")")
            #expect(first?.line == 8)
            #expect(first?.column == 2)
            #expect(e?.hint?.contains("<bpf/bpf_helpers.h>") == true, "\(e?.hint ?? "no hint")")
            #expect(e?.description.contains("ENOENT") == false)
            #expect(e?.description.contains("\n") == false)
        }
    }

    @Test func unknownSectionAndHugeAndBinaryInput() throws {
        try withCompiler { compiler, dir in
            let unknown = #expect(throws: CompileError.self) {
                try compiler.compile(source: "#include <linux/bpf.h>\n#include <bpf/bpf_helpers.h>\nSEC(\"bogus/thing\") int f(void *c) { return 0; }\nchar LICENSE[] SEC(\"license\") = \"GPL\";\n", path: dir + "/u.bpf.c")
            }
            #expect(unknown?.kind == .object)
            #expect(unknown?.message.contains("'bogus/thing'") == true)

            let huge = dir + "/huge.bpf.c"
            try Data(repeating: 0x20, count: 10 << 20).write(to: URL(fileURLWithPath: huge))
            let tooBig = #expect(throws: CompileError.self) { try compiler.compile(file: huge) }
            #expect(tooBig?.kind == .input)
            #expect(tooBig?.message.contains("10.5 MB") == true)

            let binary = dir + "/bin.bpf.c"
            try Data([0xff, 0xfe, 0x00, 0x80, 0xc3, 0x28, 0x0a, 0x7f, 0x45]).write(to: URL(fileURLWithPath: binary))
            let notC = #expect(throws: CompileError.self) { try compiler.compile(file: binary) }
            #expect(notC?.kind == .source)
            #expect(notC?.diagnostics.isEmpty == false)
        }
    }

    /// netbpf never maps LLVM, not even to compile: the compiler is netbpf-cc, a process of its
    /// own (and it gets no environment, so LD_DEBUG shows only netbpf's libraries here).
    @Test func netbpfNeverMapsLLVM() throws {
        let r = try TestPrograms.run(CLI.binary, ["features", "--no-helpers"], environment: ["LD_DEBUG": "libs", "PATH": "/usr/bin:/bin"])
        #expect(r.status == 0)
        #expect(r.stderr.contains("libbpf"), "LD_DEBUG output missing")
        let c = try TestPrograms.run(CLI.binary, ["compile", "--no-cache", TestPrograms.repositoryRoot.appendingPathComponent("programs/count_packets.bpf.c").path, "-o", "/dev/null"],
                                     environment: ["LD_DEBUG": "libs", "PATH": "/usr/bin:/bin", "NETBPF_CACHE_DIR": "/tmp/netbpf-ldtest-\(getpid())"])
        defer { try? FileManager.default.removeItem(atPath: "/tmp/netbpf-ldtest-\(getpid())") }
        #expect(c.status == 0)
        for output in [r.stderr, c.stderr] {
            #expect(output.contains("libbpf"), "LD_DEBUG output missing")
            #expect(!output.contains("LLVM"))
            #expect(!output.contains("libclang"))
            #expect(!output.contains("NetBPFClang"))
        }
    }

    /// A clang crash and an LLVM fatal error end the compiler's process, not the caller's: each
    /// is one line, a toolchain error.
    @Test(arguments: [
        ("#pragma clang __debug crash\n", "clang crashed (signal "),
        // LLVM 14's CO-RE pass calls report_fatal_error on this instead of a diagnostic.
        ("typedef int arr_t[4];\nint field_info(arr_t *p) { return __builtin_preserve_field_info((*p)[1], 0); }\n", "LLVM fatal error: "),
    ])
    func compilerFailuresAreOneLine(source: String, says: String) throws {
        try withCompiler { compiler, dir in
            var options = CompileOptions()
            options.useCache = false
            let e = #expect(throws: CompileError.self) { try compiler.compile(source: source, path: dir + "/bad.bpf.c", options: options) }
            #expect(e?.kind == .toolchain)
            #expect(e?.message.hasPrefix(says) == true, "\(e?.message ?? "none")")
            #expect(e?.description.contains("\n") == false)
            // And the next compile works.
            _ = try compiler.compile(file: TestPrograms.repositoryRoot.appendingPathComponent("programs/count_packets.bpf.c").path, options: options)
            // The CLI says it in one line on stderr.
            try source.write(toFile: dir + "/bad.bpf.c", atomically: false, encoding: .utf8)
            let r = try TestPrograms.run(CLI.binary, ["compile", "--no-cache", dir + "/bad.bpf.c", "-o", "/dev/null"],
                                         environment: ["PATH": "/usr/bin:/bin", "NETBPF_CACHE_DIR": dir])
            #expect(r.status != 0)
            #expect(r.stderr.hasPrefix("netbpf: compile: " + says), "\(r.stderr)")
            #expect(r.stderr.split(separator: "\n").count == 1, "not one line: \(r.stderr)")
        }
    }

    /// The compiler gets none of the caller's descriptors (a copy of, say, the tcx link
    /// `attach tc` holds while it compiles would otherwise live on in it): a descriptor open
    /// here without O_CLOEXEC is not there for the source to include.
    @Test func compilerInheritsNoDescriptors() throws {
        try withCompiler { compiler, dir in
            try "#define INHERITED 1\n".write(toFile: dir + "/inherited.h", atomically: false, encoding: .utf8)
            // Far above what the compiler opens itself (no O_CLOEXEC: it would survive an exec).
            let opened = open(dir + "/inherited.h", O_RDONLY)
            let fd = fcntl(opened, F_DUPFD, 200)
            close(opened)
            try #require(fd >= 200)
            defer { close(fd) }
            let source = """
            #include <linux/bpf.h>
            #include <bpf/bpf_helpers.h>
            #if __has_include("/proc/self/fd/\(fd)")
            #error the compiler has descriptor \(fd) of its caller
            #endif
            SEC("socket") int f(struct __sk_buff *skb) { return 0; }
            char LICENSE[] SEC("license") = "GPL";
            """
            var options = CompileOptions()
            options.useCache = false
            #expect(try Self.returnValue(compiler.compile(source: source, path: dir + "/p.bpf.c", options: options)) == 0)
        }
    }

    /// `-o` onto something that is not a regular file writes through it: an atomic rename would
    /// replace /dev/null (as root, for the whole machine) or a symlink with a regular file.
    @Test func outputsThatAreNotRegularFilesAreWrittenInPlace() throws {
        let source = TestPrograms.repositoryRoot.appendingPathComponent("programs/count_packets.bpf.c").path
        let dir = "/tmp/netbpf-out-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let env = ["NETBPF_CACHE_DIR": dir + "/cache"]
        func kind(_ path: String) -> mode_t { var st = stat(); return lstat(path, &st) == 0 ? st.st_mode & S_IFMT : 0 }

        #expect(kind("/dev/null") == S_IFCHR)
        #expect(try TestPrograms.run(CLI.binary, ["compile", source, "-o", "/dev/null"], environment: env).status == 0)
        #expect(kind("/dev/null") == S_IFCHR, "/dev/null was replaced")

        // A symlink stays a symlink and its target gets the object.
        symlink(dir + "/target.o", dir + "/link.o")
        #expect(try TestPrograms.run(CLI.binary, ["compile", source, "-o", dir + "/link.o"], environment: env).status == 0)
        #expect(kind(dir + "/link.o") == S_IFLNK)
        #expect(kind(dir + "/target.o") == S_IFREG)
        #expect(FileManager.default.contents(atPath: dir + "/target.o")?.prefix(4) == Data([0x7f, 0x45, 0x4c, 0x46]))

        // A regular file is replaced whole; an unwritable target is one line and a failure.
        #expect(try TestPrograms.run(CLI.binary, ["compile", source, "-o", dir + "/plain.o"], environment: env).status == 0)
        #expect(kind(dir + "/plain.o") == S_IFREG)
        let bad = try TestPrograms.run(CLI.binary, ["compile", source, "-o", "/proc/version"], environment: env)
        #expect(bad.status != 0)
        #expect(bad.stderr.split(separator: "\n").count == 1, "not one line: \(bad.stderr)")
        #expect(kind("/proc/version") == S_IFREG)
    }
}
