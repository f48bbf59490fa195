import Foundation
import Testing
import NetBPF
import NetBPFCompiler
import NetBPFTestSupport

/// What root compiles and loads comes only from places root (or the user) alone can write:
/// netbpf's own programs (BundledPrograms) and the compile cache (CacheDirectory).
extension CompilerTests {
    /// A scratch directory under /tmp (mode 0755, root's), removed afterwards.
    func withScratch<T>(_ body: (String) throws -> T) throws -> T {
        let dir = "/tmp/netbpf-trust-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        chmod(dir, 0o755)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        return try body(dir)
    }

    static func write(_ text: String, to path: String) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try text.write(toFile: path, atomically: false, encoding: .utf8)
    }

    /// An installed-style netbpf (a copy of the built binary in T/bin, its programs in
    /// T/share/netbpf/programs) run from T/cwd, which holds a programs/ of its own. Both
    /// copies of the program `tc-events` compiles fail with an #error that says which it is.
    func runInstalledCopy(_ scratch: String, environment extra: [String: String] = [:]) throws -> (status: Int32, stdout: String, stderr: String) {
        var env = ["PATH": "/usr/bin:/bin", "NETBPF_CACHE_DIR": scratch + "/cache",
                   "NETBPF_CC": TestPrograms.repositoryRoot.appendingPathComponent(".build/debug/netbpf-cc").path]
        env.merge(extra) { $1 }
        return try TestPrograms.run("/usr/bin/env", ["-C", scratch + "/cwd", scratch + "/bin/netbpf", "tc-events", "nb-no-such-if0"], environment: env)
    }

    func makeInstalledCopy(_ scratch: String) throws {
        try FileManager.default.createDirectory(atPath: scratch + "/bin", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: CLI.binary, toPath: scratch + "/bin/netbpf")
        try Self.write("#error installed copy\n", to: scratch + "/share/netbpf/programs/tc_icmp6_events.bpf.c")
        try Self.write("#error working-directory copy\n", to: scratch + "/cwd/programs/tc_icmp6_events.bpf.c")
    }

    /// Root running netbpf in a directory that holds a programs/ must not compile and load
    /// that: the installed programs are used, and without them it is an error.
    @Test func bundledProgramsNeverComeFromTheWorkingDirectory() throws {
        try withScratch { scratch in
            try makeInstalledCopy(scratch)
            let r = try runInstalledCopy(scratch)
            #expect(r.status != 0)
            #expect(r.stderr.contains("installed copy"), "\(r.stderr)")
            #expect(!r.stderr.contains("working-directory copy"), "\(r.stderr)")

            try FileManager.default.removeItem(atPath: scratch + "/share")
            let none = try runInstalledCopy(scratch)
            #expect(none.status != 0)
            #expect(none.stderr.contains("cannot find programs/tc_icmp6_events.bpf.c"), "\(none.stderr)")
            #expect(!none.stderr.contains("working-directory copy"), "\(none.stderr)")
        }
    }

    /// A programs/ folder (or its file, or a directory above it) that someone else can write
    /// is refused with one line naming it, also when $NETBPF_PROGRAMS names it.
    @Test func untrustedProgramLocationsAreRefused() throws {
        try withScratch { scratch in
            try makeInstalledCopy(scratch)
            let programs = scratch + "/share/netbpf/programs"
            chmod(programs, 0o777)
            let open = try runInstalledCopy(scratch)
            #expect(open.status != 0)
            #expect(open.stderr.contains("refusing \(programs): it is writable by group and others (mode 0777); hint: "), "\(open.stderr)")
            #expect(open.stderr.split(separator: "\n").count == 1, "not one line: \(open.stderr)")
            chmod(programs, 0o755)

            // $NETBPF_PROGRAMS is an explicit choice, checked the same way and not looked past.
            let mine = scratch + "/mine"
            try Self.write("#error explicit copy\n", to: mine + "/tc_icmp6_events.bpf.c")
            chmod(mine, 0o757)
            let env = try runInstalledCopy(scratch, environment: ["NETBPF_PROGRAMS": mine])
            #expect(env.stderr.contains("refusing \(mine): it is writable by others (mode 0757)"), "\(env.stderr)")
            #expect(!env.stderr.contains("copy"), "\(env.stderr)")

            // Through the API: a file of another user, a group-writable file, a directory
            // above that others can write (not sticky), a header in include/.
            chmod(mine, 0o755)
            #expect(try BundledPrograms.path("tc_icmp6_events.bpf.c", inDirectory: mine) == mine + "/tc_icmp6_events.bpf.c")
            chown(mine + "/tc_icmp6_events.bpf.c", 65534, 65534)
            #expect(Self.refusal { try BundledPrograms.path("tc_icmp6_events.bpf.c", inDirectory: mine) }.contains("it is owned by uid 65534, not by root"))
            chown(mine + "/tc_icmp6_events.bpf.c", 0, 0)
            chmod(mine + "/tc_icmp6_events.bpf.c", 0o664)
            #expect(Self.refusal { try BundledPrograms.path("tc_icmp6_events.bpf.c", inDirectory: mine) }.contains("it is writable by its group (mode 0664)"))
            chmod(mine + "/tc_icmp6_events.bpf.c", 0o644)
            try Self.write("#define X 1\n", to: mine + "/include/x.h")
            chmod(mine + "/include/x.h", 0o666)
            #expect(Self.refusal { try BundledPrograms.path("tc_icmp6_events.bpf.c", inDirectory: mine) }.contains("refusing \(mine)/include/x.h: it is writable"))
            try FileManager.default.removeItem(atPath: mine + "/include")
            chmod(scratch, 0o777)
            #expect(Self.refusal { try BundledPrograms.path("tc_icmp6_events.bpf.c", inDirectory: mine) }.contains("\(scratch) is writable by group and others (mode 0777)"))
            chmod(scratch, 0o1777) // sticky, as /tmp: others cannot rename what is in it
            #expect(try BundledPrograms.path("tc_icmp6_events.bpf.c", inDirectory: mine) == mine + "/tc_icmp6_events.bpf.c")
            chmod(scratch, 0o755)
        }
    }

    /// The compiler is code netbpf runs: $NETBPF_CC naming one that others can write is
    /// refused before it is run.
    @Test func untrustedCompilerIsRefused() throws {
        try withScratch { scratch in
            let helper = scratch + "/lib/netbpf-cc"
            try Self.write("#!/bin/sh\nexit 0\n", to: helper)
            chmod(helper, 0o777)
            let source = TestPrograms.repositoryRoot.appendingPathComponent("programs/count_packets.bpf.c").path
            let r = try TestPrograms.run(CLI.binary, ["compile", "--no-cache", source, "-o", "/dev/null"],
                                         environment: ["PATH": "/usr/bin:/bin", "NETBPF_CACHE_DIR": scratch + "/cache", "NETBPF_CC": helper])
            #expect(r.status != 0)
            #expect(r.stderr.contains("refusing \(helper): it is writable by group and others (mode 0777)"), "\(r.stderr)")
            #expect(r.stderr.split(separator: "\n").count == 1, "not one line: \(r.stderr)")
            // Trusted, but not a compiler: it ends without a result, and that is one line too.
            chmod(helper, 0o755)
            let wrong = try TestPrograms.run(CLI.binary, ["compile", "--no-cache", source, "-o", "/dev/null"],
                                             environment: ["PATH": "/usr/bin:/bin", "NETBPF_CACHE_DIR": scratch + "/cache", "NETBPF_CC": helper])
            #expect(wrong.status != 0)
            #expect(wrong.stderr.contains("exited with status 0 without a result"), "\(wrong.stderr)")
            #expect(wrong.stderr.split(separator: "\n").count == 1, "not one line: \(wrong.stderr)")
        }
    }

    /// The description of the CompileError `body` throws ("" if it throws none).
    static func refusal(_ body: () throws -> Any) -> String {
        do { _ = try body(); return "" } catch { return "\(error)" }
    }

    /// A cache directory that is someone else's, or that others can write, is refused; one that
    /// is only readable by others is made 0700; so is the default location when it is ours.
    @Test func cacheDirectoryMustBePrivate() throws {
        try withScratch { scratch in
            let cache = scratch + "/cache"
            try FileManager.default.createDirectory(atPath: cache, withIntermediateDirectories: true)
            func mode(_ p: String) -> mode_t { var st = stat(); stat(p, &st); return st.st_mode & 0o7777 }

            chmod(cache, 0o777)
            #expect(Self.refusal { try CacheDirectory(path: cache) } == "compile: refusing cache directory \(cache): it is writable by group or others (mode 0777); hint: a compile cache must be private: chmod 700 \(cache)")
            chmod(cache, 0o700)
            chown(cache, 65534, 65534)
            #expect(Self.refusal { try CacheDirectory(path: cache) }.contains("refusing cache directory \(cache): it is owned by uid 65534, not by uid 0"))
            chown(cache, 0, 0)
            chmod(cache, 0o755)
            _ = try CacheDirectory(path: cache)
            #expect(mode(cache) == 0o700)
            chmod(scratch, 0o777)
            #expect(Self.refusal { try CacheDirectory(path: cache) }.contains("refusing cache directory \(cache): \(scratch) is writable by group and others"))
            chmod(scratch, 0o755)

            // The default location (here a user's: $XDG_CACHE_HOME/netbpf) is fixed, not refused,
            // when it is that user's; named explicitly, the same directory is refused.
            let xdg = scratch + "/xdg"
            try FileManager.default.createDirectory(atPath: xdg + "/netbpf", withIntermediateDirectories: true)
            chown(xdg, 65534, 65534)
            chown(xdg + "/netbpf", 65534, 65534)
            chmod(xdg + "/netbpf", 0o777)
            let source = TestPrograms.repositoryRoot.appendingPathComponent("programs/count_packets.bpf.c").path
            func compileAsNobody(_ env: [String: String]) throws -> (status: Int32, stdout: String, stderr: String) {
                try TestPrograms.run("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
                                                           CLI.binary, "compile", source, "-o", "/dev/null"],
                                     environment: ["PATH": "/usr/bin:/bin", "HOME": "/nonexistent"].merging(env) { $1 })
            }
            let explicit = try compileAsNobody(["NETBPF_CACHE_DIR": xdg + "/netbpf"])
            #expect(explicit.status != 0)
            #expect(explicit.stderr.contains("refusing cache directory \(xdg)/netbpf: it is writable by group or others (mode 0777); hint: a compile cache must be private: chmod 700 \(xdg)/netbpf"), "\(explicit.stderr)")
            #expect(explicit.stderr.split(separator: "\n").count == 1, "not one line: \(explicit.stderr)")
            let byDefault = try compileAsNobody(["XDG_CACHE_HOME": xdg])
            #expect(byDefault.status == 0, "\(byDefault.stderr)")
            #expect(mode(xdg + "/netbpf") == 0o700)
        }
    }

    /// Entries in the cache that are not the user's, or that others can write (left from before
    /// the directory was private), are misses: removed, rebuilt and never used. Here one is a
    /// valid entry of another program planted under the right key.
    @Test func untrustedCacheEntriesAreMisses() throws {
        try withCompiler { compiler, dir in
            func owner(_ p: String) -> uid_t { var st = stat(); stat(p, &st); return st.st_uid }
            let path = TestPrograms.repositoryRoot.appendingPathComponent("programs/count_packets.bpf.c").path
            let first = try compiler.compile(file: path)
            let entry = try Self.onlyEntry(in: dir + "/objects")

            // Another program's valid entry, planted under count_packets' key by another user.
            let other = try withCompiler { otherCompiler, otherDir in
                _ = try otherCompiler.compile(file: TestPrograms.repositoryRoot.appendingPathComponent("programs/xdp_pass.bpf.c").path)
                return try Data(contentsOf: URL(fileURLWithPath: try Self.onlyEntry(in: otherDir + "/objects")))
            }
            try other.write(to: URL(fileURLWithPath: entry))
            chown(entry, 65534, 65534)
            let planted = try compiler.compile(file: path)
            #expect(!planted.isCacheHit)
            #expect(planted.bytes == first.bytes)
            #expect(owner(entry) == 0) // rewritten
            #expect(try compiler.compile(file: path).isCacheHit)

            chmod(entry, 0o666)
            #expect(try !compiler.compile(file: path).isCacheHit)
            #expect(try compiler.compile(file: path).isCacheHit)

            // vmlinux.h and its PCH: another user's are replaced, not used.
            let tp = TestPrograms.repositoryRoot.appendingPathComponent("programs/tp_vmlinux.bpf.c").path
            var noCache = CompileOptions()
            noCache.useCache = false
            let reference = try compiler.compile(file: tp, options: noCache)
            BPFCompiler.waitForBackgroundWork()
            let kernel = dir + "/" + (try #require(try FileManager.default.contentsOfDirectory(atPath: dir).first { $0.hasPrefix("kernel-") }))
            let pch = try Self.onlyEntry(in: kernel, suffix: ".pch")
            #expect(try compiler.compile(file: tp, options: noCache).usedPrecompiledHeader)
            chown(pch, 65534, 65534)
            #expect(try !compiler.compile(file: tp, options: noCache).usedPrecompiledHeader)
            BPFCompiler.waitForBackgroundWork()
            #expect(owner(pch) == 0)
            try "#error planted vmlinux.h\n".write(toFile: kernel + "/vmlinux.h", atomically: false, encoding: .utf8)
            chown(kernel + "/vmlinux.h", 65534, 65534)
            unlink(pch)
            let regenerated = try compiler.compile(file: tp, options: noCache)
            #expect(regenerated.bytes == reference.bytes)
            #expect(owner(kernel + "/vmlinux.h") == 0)
        }
    }

    /// The one file ending in `suffix` in `directory`.
    static func onlyEntry(in directory: String, suffix: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(suffix) }
        #expect(names.count == 1, "\(directory): \(names)", sourceLocation: sourceLocation)
        return directory + "/" + (try #require(names.first, sourceLocation: sourceLocation))
    }
}
