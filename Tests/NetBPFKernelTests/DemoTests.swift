import Foundation
import Testing
import NetBPFTestSupport

/// The README's first command, as a user runs it (minus set-up and build): it must show each
/// controller working and leave nothing behind.
@Suite(.serialized, .enabled(if: TestEnvironment.isRoot, "requires root: the demo builds a simulated network"))
struct DemoTests {
    @Test func demoRunsAndCleansUp() throws {
        let report = FileManager.default.temporaryDirectory.appendingPathComponent("netbpf-demo-\(getpid()).html").path
        defer { try? FileManager.default.removeItem(atPath: report) }
        let r = try TestPrograms.run(CLI.binary, ["demo", "--seconds", "2", "--report", report, "--topology",
                                                  TestPrograms.repositoryRoot.appendingPathComponent("topologies/demo.yaml").path])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("curl http://192.168.100.1/ -> 200"))
        #expect(r.stdout.contains("/secret -> no answer (blocked)"))
        #expect(r.stdout.contains("GET 192.168.100.1 /missing 404"))
        #expect(r.stdout.contains("3 received, 0% packet loss"))
        #expect(r.stdout.contains("client1  configured  10.0 Mbit/s"))
        #expect(r.stdout.contains("done; nothing is left"))
        #expect(r.stdout.contains("VNI 100: "))
        #expect(r.stdout.contains("VNI 200: "))
        let html = (try? String(contentsOfFile: report, encoding: .utf8)) ?? ""
        #expect(html.contains("<html") && html.contains("192.168.100.11"), "the HTML tunnel report names the conversations")
        let namespaces = try TestPrograms.run("/usr/sbin/ip", ["netns", "list"]).stdout
        #expect(!namespaces.contains("nb-demo-"))
        #expect(!FileManager.default.fileExists(atPath: "/run/netbpf/sim/demo"))
    }
}
