import Foundation
import Testing
import NetBPF
import NetBPFCompiler
@testable import NetBPFCLI

/// The scan of raw arguments that lets `netbpf attach tc` and `netbpf compile` start their tcx
/// link and their compile before ArgumentParser runs: it must read exactly what the parsed
/// command will use, or nothing.
struct EarlyStartTests {
    typealias Hook = ArgumentScan.Hook

    static func scan(_ hook: Hook?, _ program: String, defines: [String] = [], includes: [String] = [], noCache: Bool = false) -> ArgumentScan {
        var s = ArgumentScan(["netbpf", "compile", "x.c"])!
        s.hook = hook
        s.program = program
        s.defines = defines
        s.includes = includes
        s.noCache = noCache
        return s
    }

    static let scanned: [([String], ArgumentScan)] = [
        (["attach", "tc", "eth0", "prog.c"], scan(Hook(interface: "eth0", namespace: nil, direction: .ingress), "prog.c")),
        (["attach", "tc", "eth0", "prog.o", "--egress"], scan(Hook(interface: "eth0", namespace: nil, direction: .egress), "prog.o")),
        (["attach", "tc", "b", "prog.c", "--netns", "srv", "--json"], scan(Hook(interface: "b", namespace: "srv", direction: .ingress), "prog.c")),
        (["attach", "tc", "b", "prog.c", "--netns=srv", "--tcx", "--verbose"], scan(Hook(interface: "b", namespace: "srv", direction: .ingress), "prog.c")),
        (["attach", "tc", "b", "prog.c", "-D", "N=1", "-D", "M=2", "-I", "inc", "-I", "inc2", "--no-cache"],
         scan(Hook(interface: "b", namespace: nil, direction: .ingress), "prog.c", defines: ["N=1", "M=2"], includes: ["inc", "inc2"], noCache: true)),
        (["attach", "tc", "b", "prog.c", "--section", "tc", "--program-name", "f"], scan(Hook(interface: "b", namespace: nil, direction: .ingress), "prog.c")),
        (["attach", "tc", "b", "prog.c", "--section=tc"], scan(Hook(interface: "b", namespace: nil, direction: .ingress), "prog.c")),
        (["compile", "prog.c"], scan(nil, "prog.c")),
        (["compile", "prog.c", "-o", "/dev/null", "--no-cache", "-D", "X"], scan(nil, "prog.c", defines: ["X"], noCache: true)),
        (["compile", "--output=p.o", "-I", "/inc", "prog.c", "-v"], scan(nil, "prog.c", includes: ["/inc"])),
    ]

    @Test(arguments: scanned)
    func plainFormsAreScanned(arguments: [String], expected: ArgumentScan) {
        #expect(ArgumentScan(["netbpf"] + arguments) == expected)
    }

    /// Anything that could put the program elsewhere or compile it otherwise, or that is not
    /// one of the two commands.
    static let notScanned: [[String]] = [
        ["attach", "tc", "eth0", "prog.c", "--clsact"],
        ["attach", "tc", "eth0", "prog.c", "--priority", "2"],
        ["attach", "tc", "eth0", "prog.c", "--handle", "2"],
        ["attach", "tc", "eth0", "prog.c", "--classid", "1:10"],
        ["attach", "tc", "eth0", "prog.c", "--before", "0"],
        ["attach", "tc", "eth0", "prog.c", "--after", "12"],
        ["attach", "tc", "eth0", "prog.c", "--ingress", "--egress"],
        ["attach", "tc", "--egress", "eth0", "prog.o", "--ingress"],
        ["attach", "tc", "eth0", "prog.c", "--help"],
        ["attach", "tc", "eth0", "prog.c", "--unknown-option"],
        ["attach", "tc", "eth0", "prog.c", "--netns"],
        ["attach", "tc", "eth0", "prog.c", "--netns", ".."],
        ["attach", "tc", "eth0", "prog.c", "--netns", "a/b"],
        ["attach", "tc", "eth0", "prog.c", "--section"],
        ["attach", "tc", "eth0", "prog.c", "-D"],
        ["attach", "tc", "eth0", "prog.c", "-D", "--egress"],
        ["attach", "tc", "eth0", "prog.c", "-D=X"],
        ["attach", "tc", "eth0", "prog.c", "--netns", "--egress"],
        ["attach", "tc", "eth0", "prog.c", "-o", "x.o"],
        ["attach", "tc", "eth0", "prog.c", "extra"],
        ["attach", "tc", "eth0"],
        ["attach", "tc", "--", "eth0", "prog.c"],
        ["attach", "tc", "this-name-is-far-too-long-for-linux", "prog.c"],
        ["attach", "xdp", "eth0", "prog.c"],
        ["compile", "prog.c", "--emit-header", "/tmp"],
        ["compile", "prog.c", "other.c"],
        ["compile", "prog.c", "--netns", "x"],
        ["compile"],
        ["detach", "tc", "eth0", "--all"],
        [],
    ]

    @Test(arguments: notScanned)
    func otherFormsAreLeftToTheParser(arguments: [String]) {
        #expect(ArgumentScan(["netbpf"] + arguments) == nil)
    }

    /// Each scanned form, parsed by ArgumentParser (after the same normalization `main`
    /// applies), asks for the hook, program and compile options the scan read: an early start
    /// is never for something else.
    @Test(arguments: scanned)
    func scanAgreesWithTheParser(arguments: [String], expected: ArgumentScan) throws {
        let argv = EarlyStart.normalized(["netbpf"] + arguments)
        let scan = try #require(ArgumentScan(argv))
        let early = CompileArguments.options(defines: scan.defines, includes: scan.includes, noCache: scan.noCache)
        let parsed = try NetBPFCommand.parseAsRoot(Array(argv.dropFirst()))
        if let tc = parsed as? AttachCommand.TC {
            #expect(scan.hook == ArgumentScan.Hook(interface: tc.target.interface, namespace: tc.target.netns, direction: tc.egress ? .egress : .ingress))
            #expect(!tc.clsact && tc.before == nil && tc.after == nil && tc.priority == nil)
            #expect(scan.program == tc.target.program)
            #expect(early == tc.compile.options)
        } else if let compile = parsed as? CompileCommand {
            #expect(scan.hook == nil)
            #expect(scan.program == compile.source)
            #expect(early == compile.compile.options)
        } else {
            Issue.record("parsed as \(type(of: parsed))")
        }
    }

    /// `-DNAME=VALUE` and `-IDIR`, as compilers take them, reach ArgumentParser split in two
    /// (it reads `-DNAME=VALUE` as an unknown option); trace tools' own -D is left alone.
    @Test func joinedDefinesAndIncludesAreSplit() throws {
        #expect(EarlyStart.normalized(["netbpf", "compile", "p.c", "-DA=1", "-Iinc", "-D", "B", "--", "-DC"])
                == ["netbpf", "compile", "p.c", "-D", "A=1", "-I", "inc", "-D", "B", "--", "-DC"])
        #expect(EarlyStart.normalized(["netbpf", "trace", "tcplife", "-D80"]) == ["netbpf", "trace", "tcplife", "-D80"])
        let parsed = try CompileCommand.parse(Array(EarlyStart.normalized(["netbpf", "compile", "p.c", "-DDEBUG=1", "-Iinc"]).dropFirst(2)))
        #expect(parsed.compile.defines == ["DEBUG=1"])
        #expect(parsed.compile.includes == ["inc"])
    }

    /// The early compile is handed over only for the same path and options; one that was not
    /// taken is still waited for by abandon().
    @Test func earlyCompileIsTakenOnlyWhenItMatches() throws {
        let missing = "/nonexistent-\(getpid())/p.bpf.c"
        // The compile makes its cache directory before it finds the source missing.
        let cache = FileManager.default.temporaryDirectory.appendingPathComponent("netbpf-early-\(getpid())").path
        setenv("NETBPF_CACHE_DIR", cache, 1)
        defer {
            unsetenv("NETBPF_CACHE_DIR")
            try? FileManager.default.removeItem(atPath: cache)
        }
        EarlyStart.begin(arguments: ["netbpf", "compile", missing, "-D", "X=1"])
        var options = CompileArguments.options(defines: ["X=1"], includes: [], noCache: false)
        var other = options
        other.defines = ["X=2"]
        #expect(EarlyStart.takeCompile(path: missing, options: other) == nil)
        #expect(EarlyStart.takeCompile(path: missing + "x", options: options) == nil)
        let taken = try #require(EarlyStart.takeCompile(path: missing, options: options))
        #expect(throws: CompileError.self) { try taken.result() } // the error the compile itself gives
        #expect(EarlyStart.takeCompile(path: missing, options: options) == nil) // handed over once
        options.useCache = false
        EarlyStart.begin(arguments: ["netbpf", "compile", missing, "--no-cache"])
        #expect(EarlyStart.takeCompile(path: missing, options: other) == nil)
        EarlyStart.abandon() // waits for the one nobody took
        #expect(EarlyStart.takeCompile(path: missing, options: options) == nil)
    }

    /// What the scan computes for the compiler is what CompileArguments gives after parsing.
    @Test func compileOptionsMatchTheParsedOnes() throws {
        let argv = EarlyStart.normalized(["netbpf", "compile", "prog.c", "-D", "A=1", "-I", "inc", "--no-cache", "-DB"])
        let parsed = try CompileCommand.parse(Array(argv.dropFirst(2)))
        let scanned = try #require(ArgumentScan(argv))
        let early = CompileArguments.options(defines: scanned.defines, includes: scanned.includes, noCache: scanned.noCache)
        #expect(early == parsed.compile.options)
        var other = early
        other.defines.append("C")
        #expect(other != parsed.compile.options)
    }
}
