import Foundation
import Testing
import NetBPFTestSupport
@testable import NetBPFCLI

/// What the install and the package rely on: the version text, the version number the package
/// script reads, and shipped topologies found by name (docs/install.md). The install itself is
/// tested end to end by scripts/install-test.sh.
struct InstallLayoutTests {
    @Test func versionNamesNumberAndCommit() throws {
        let text = NetBPFVersion.text
        #expect(text.wholeMatch(of: /[0-9]+\.[0-9]+\.[0-9]+ \((git [0-9a-f]{7}(-dirty)?|unknown commit)\)/) != nil, "\(text)")
        #expect(NetBPFCommand.configuration.version == text)
    }

    /// scripts/package-deb.sh takes the package version from Version.swift with sed: the line it
    /// matches must give exactly NetBPFVersion.number.
    @Test func packageScriptReadsTheSameVersion() throws {
        let source = try String(contentsOf: TestPrograms.repositoryRoot.appendingPathComponent("Sources/NetBPFCLI/Version.swift"), encoding: .utf8)
        let matches = source.split(separator: "\n").compactMap { line in
            line.firstMatch(of: /static let number = "(.*)"/).map { String($0.1) }
        }
        #expect(matches == [NetBPFVersion.number])
    }

    /// A bare name is a shipped topology (here: the checkout's, as the test binary is under .build);
    /// a path or an existing file is taken as given.
    @Test func shippedTopologiesByName() throws {
        let pair = TestPrograms.repositoryRoot.appendingPathComponent("topologies/pair.yaml").resolvingSymlinksInPath().path
        #expect(TopologyLocation.resolve("pair") == pair)
        #expect(TopologyLocation.resolve("pair.yaml") == pair)
        #expect(TopologyLocation.resolve("./pair") == "./pair")
        #expect(TopologyLocation.resolve("no-such-topology-pk") == "no-such-topology-pk")
    }
}
