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
        (["attach", "tc", "b", "prog.c", "-D", "N=1", "-DM=2", "-I", "inc", "-Iinc2", "--no-cache"],
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

    /// What the scan computes for the compiler is what CompileArguments gives after parsing.
    @Test func compileOptionsMatchTheParsedOnes() throws {
        let parsed = try CompileCommand.parse(["prog.c", "-D", "A=1", "-I", "inc", "--no-cache", "-DB"])
        let scanned = try #require(ArgumentScan(["netbpf", "compile", "prog.c", "-D", "A=1", "-I", "inc", "--no-cache", "-DB"]))
        let early = CompileArguments.options(defines: scanned.defines, includes: scanned.includes, noCache: scanned.noCache)
        #expect(early.sameAs(parsed.compile.options))
        var other = early
        other.defines.append("C")
        #expect(!other.sameAs(parsed.compile.options))
    }
}
