import Testing
import ArgumentParser
import NetBPF
@testable import NetBPFCLI

/// Keys and values typed on the command line.
struct CLIParsingTests {
    @Test func hexAndTypedValues() throws {
        #expect(try parseBytes("0a 00 00 00", expectedSize: 4, what: "key") == [10, 0, 0, 0])
        #expect(try parseBytes("0x0a000000", expectedSize: 4, what: "key") == [10, 0, 0, 0])
        #expect(try parseBytes("u32:10", expectedSize: 4, what: "key") == [10, 0, 0, 0])
        #expect(try parseBytes("u64:258", expectedSize: 8, what: "value") == [2, 1, 0, 0, 0, 0, 0, 0])
        #expect(try parseBytes("i16:-2", expectedSize: 2, what: "key") == [0xfe, 0xff])
        #expect(try parseBytes("ipv4:10.1.2.3", expectedSize: 4, what: "key") == [10, 1, 2, 3])
    }

    @Test(arguments: ["ipv4:1.2.3.999.4", "ipv4:1.2.3", "ipv4:1..2.3", "u8:256", "i8:-200", "i8:128", "zz", "0a0", "u32:-1", "float:1"])
    func badValuesAreRefused(text: String) {
        #expect(throws: BPFError.self) { try parseBytes(text, expectedSize: text.hasPrefix("u8") || text.hasPrefix("i8") ? 1 : 4, what: "key") }
    }

    @Test func wrongSizeSaysBoth() {
        let e = #expect(throws: BPFError.self) { try parseBytes("u64:1", expectedSize: 4, what: "key") }
        #expect(e?.description.contains("key is 8 bytes, the map takes 4") == true)
    }
}

/// Start-up: ArgumentParser derives a missing command name from the type's name by reflection
/// (a protocol-conformance scan over every loaded image, ~0.1-0.3 ms per command, on every run of
/// netbpf). Every command names itself.
struct CommandNameTests {
    @Test func everyCommandHasAnExplicitName() {
        var missing: [String] = []
        var seen = 0
        func walk(_ command: ParsableCommand.Type, path: String) {
            seen += 1
            let name = command.configuration.commandName
            if name == nil { missing.append(path + "/" + String(describing: command)) }
            for sub in command.configuration.subcommands { walk(sub, path: path + "/" + (name ?? "?")) }
        }
        walk(NetBPFCommand.self, path: "")
        #expect(seen > 40, "walked only \(seen) commands")
        #expect(missing.isEmpty, "commands without commandName: \(missing)")
    }
}

/// `-DNAME=VALUE` and `-IDIR`, as compilers take them, reach ArgumentParser split in two (it
/// reads `-DNAME=VALUE` as an unknown option); trace tools' own -D is left alone.
struct CompileArgumentSplittingTests {
    @Test func joinedDefinesAndIncludesAreSplit() throws {
        #expect(NetBPFCommand.normalizedArguments(["compile", "p.c", "-DA=1", "-Iinc", "-D", "B", "--", "-DC"])
                == ["compile", "p.c", "-D", "A=1", "-I", "inc", "-D", "B", "--", "-DC"])
        #expect(NetBPFCommand.normalizedArguments(["trace", "tcplife", "-D80"]) == ["trace", "tcplife", "-D80"])
        let parsed = try CompileCommand.parse(Array(NetBPFCommand.normalizedArguments(["compile", "p.c", "-DDEBUG=1", "-Iinc"]).dropFirst()))
        #expect(parsed.compile.defines == ["DEBUG=1"])
        #expect(parsed.compile.includes == ["inc"])
    }
}
