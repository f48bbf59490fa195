import Foundation
import Testing
import ArgumentParser
import NetBPF
import NetBPFTestSupport
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

/// Hints and docs tell people which command to run (`netbpf trace tplist`): every command they
/// name must exist (a hint once said `netbpf tplist`).
struct CommandsNamedInTextTests {
    static func namedCommands() throws -> [(file: String, words: [String])] {
        let root = TestPrograms.repositoryRoot.path
        let regex = try NSRegularExpression(pattern: #"`netbpf ([a-z][a-z0-9-]*)(?: ([a-z][a-z0-9-]*))?"#)
        var found: [(String, [String])] = []
        for dir in ["Sources", "docs", "Tools"] {
            guard let files = FileManager.default.enumerator(atPath: root + "/" + dir) else { continue }
            for case let file as String in files where file.hasSuffix(".swift") || file.hasSuffix(".md") {
                let text = try String(contentsOfFile: root + "/\(dir)/\(file)", encoding: .utf8)
                for m in regex.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                    let words = (1...2).compactMap { Range(m.range(at: $0), in: text).map { String(text[$0]) } }
                    found.append(("\(dir)/\(file)", words))
                }
            }
        }
        return found
    }

    @Test func everyCommandNamedInSourcesAndDocsExists() throws {
        let named = try Self.namedCommands()
        #expect(named.count > 20, "found only \(named.count) commands named")
        func sub(_ command: ParsableCommand.Type, _ name: String) -> ParsableCommand.Type? {
            command.configuration.subcommands.first { $0.configuration.commandName == name }
        }
        // `netbpf help` is ArgumentParser's; `netbpf has nothing attached ...` is a quoted error.
        let notSubcommands: Set<String> = ["help", "has"]
        var wrong: [String] = []
        for (file, words) in named where !notSubcommands.contains(words[0]) {
            guard let first = sub(NetBPFCommand.self, words[0]) else { wrong.append("\(file): netbpf \(words[0])"); continue }
            // A second word is a subcommand unless the command takes arguments there.
            let subs = first.configuration.subcommands
            if words.count == 2, !subs.isEmpty, first.configuration.defaultSubcommand == nil, sub(first, words[1]) == nil {
                wrong.append("\(file): netbpf \(words.joined(separator: " "))")
            }
        }
        #expect(wrong.isEmpty, "commands that do not exist: \(wrong)")
    }
}
