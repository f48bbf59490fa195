import Foundation
import Glibc
import Testing
import NetBPFTestSupport

enum Examples {
    static func binary(_ name: String) -> String {
        TestPrograms.repositoryRoot.appendingPathComponent("examples/.build/debug/\(name)").path
    }

    /// In CI the examples must run: a missing build is a failure there, not a skip.
    static let canRun = TestEnvironment.isRoot
        && (FileManager.default.fileExists(atPath: binary("hello-world")) || ProcessInfo.processInfo.environment["CI"] != nil)
}

/// The examples package (examples/), built as an outside consumer builds it (`swift build
/// --package-path examples`, scripts/test.sh does), run against the real kernel with exact
/// checks of what each prints.
@Suite(.serialized, .enabled(if: Examples.canRun, "requires root and the examples package built (swift build --package-path examples)"))
struct ExamplesTests {
    static func binary(_ name: String) -> String { Examples.binary(name) }

    /// An example running in the background; its stdout collected as it comes.
    final class Running: @unchecked Sendable {
        let process = Process()
        private let output = Pipe()
        private let lock = NSLock()
        private var text = ""

        init(_ name: String, _ arguments: [String] = []) throws {
            process.executableURL = URL(fileURLWithPath: Examples.binary(name))
            process.arguments = arguments
            process.standardOutput = output
            process.standardError = output
            output.fileHandleForReading.readabilityHandler = { [self] handle in
                let chunk = String(decoding: handle.availableData, as: UTF8.self)
                lock.withLock { text += chunk }
            }
            try process.run()
        }

        var printed: String { lock.withLock { text } }

        /// Waits until the output contains `marker` (true) or `timeout` passes (false).
        func waitFor(_ marker: String, timeout: Double = 60) -> Bool {
            let deadline = Date().addingTimeInterval(timeout)
            while !printed.contains(marker) {
                if Date() > deadline || !process.isRunning && !printed.contains(marker) { return printed.contains(marker) }
                usleep(20_000)
            }
            return true
        }

        /// Waits for the exit (killing it after `timeout`) and returns everything it printed.
        func finish(timeout: Double = 60) -> (status: Int32, output: String) {
            let deadline = Date().addingTimeInterval(timeout)
            while process.isRunning && Date() < deadline { usleep(20_000) }
            if process.isRunning { process.terminate(); process.waitUntilExit() }
            usleep(100_000) // the last chunk
            output.fileHandleForReading.readabilityHandler = nil
            return (process.terminationStatus, printed)
        }
    }

    /// A copy of /bin/true under a name no other process on the machine uses.
    func uniqueTrue() throws -> String {
        let path = "/tmp/nbex-true-\(getpid())"
        if !FileManager.default.fileExists(atPath: path) { try FileManager.default.copyItem(atPath: "/bin/true", toPath: path) }
        return path
    }

    func run(_ argv: [String]) throws {
        _ = try TestPrograms.run(argv[0], Array(argv.dropFirst()))
    }

    @Test func helloWorldPrintsEachExec() throws {
        let marker = try uniqueTrue()
        defer { unlink(marker) }
        let hello = try Running("hello-world", ["4"])
        #expect(hello.waitFor("Tracing execve"), "\(hello.printed)")
        for _ in 0..<3 { try run([marker]) }
        let (status, out) = hello.finish()
        #expect(status == 0, "\(out)")
        let lines = out.split(separator: "\n").filter { $0.hasPrefix("Hello, World! pid ") && $0.hasSuffix(" runs \(marker)") }
        #expect(lines.count == 3, "\(out)")
    }

    @Test func sleepsnoopPrintsEachSleep() throws {
        let snoop = try Running("sleepsnoop", ["4"])
        #expect(snoop.waitFor("PID      COMM"), "\(snoop.printed)")
        // Durations no other sleeper on a busy machine asks for (scripts sleep 0.05, 0.5, 1 ...):
        // the snoop sees every process, so the test looks for exactly these two, in order.
        try run(["/bin/sleep", "0.257"])
        try run(["/bin/sleep", "0.131"])
        let (status, out) = snoop.finish()
        #expect(status == 0, "\(out)")
        let sleeps = out.split(separator: "\n").filter { $0.contains(" sleep ") }.map { $0.split(separator: " ").last.map(String.init) ?? "" }
        #expect(sleeps.filter { $0 == "0.257" || $0 == "0.131" } == ["0.257", "0.131"], "\(out)")
    }

    @Test func bitehistCountsACommandsWrites() throws {
        let r = try TestPrograms.run(Self.binary("bitehist"), ["dd", "if=/dev/zero", "of=/dev/null", "bs=4096", "count=8", "status=none"])
        #expect(r.status == 0, "\(r.stderr)")
        let rows = r.stdout.split(separator: "\n").filter { $0.contains("->") }
        #expect(r.stdout.contains("     bytes               : count     distribution"), "\(r.stdout)")
        #expect(rows.last == "      4096 -> 8191       : 8        |****************************************|", "\(r.stdout)")
        #expect(rows.dropLast().allSatisfy { $0.contains(": 0 ") }, "\(r.stdout)")
    }

    @Test func tcCounterCountsFivePings() throws {
        let r = try TestPrograms.run(Self.binary("tc-counter"), [])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("ping exited 0; ICMP packets seen on ") && r.stdout.hasSuffix("/vb ingress: 5\n"), "\(r.stdout) \(r.stderr)")
    }

    @Test func socketCaptureSeesEachPing() throws {
        let r = try TestPrograms.run(Self.binary("socket-capture"), ["icmp"])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n")
        // On loopback a packet socket sees each packet twice: sent (out) and received (in).
        #expect(lines.last == "12 frames matched 'icmp'", "\(r.stdout)")
        #expect(lines.filter { $0.hasPrefix("out ") }.count == 6 && lines.filter { $0.hasPrefix("in  ") }.count == 6, "\(r.stdout)")
        #expect(lines.filter { $0.contains("echo request") }.count == 6 && lines.filter { $0.contains("echo reply") }.count == 6, "\(r.stdout)")
    }

    @Test func blockListDropsOnlyWhileBlocked() throws {
        let r = try TestPrograms.run(Self.binary("block-list"), [])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == """
            before: ping answered
            blocked 10.78.0.1: ping dropped, 2 packets dropped
            unblocked: ping answered

            """, "\(r.stdout)")
    }

    /// Every example is shorter than BCC's original; the controller stays under 60 lines.
    @Test func examplesStaySmall() throws {
        for name in ["hello-world", "sleepsnoop", "bitehist", "tc-counter", "socket-capture", "block-list"] {
            let path = TestPrograms.repositoryRoot.appendingPathComponent("examples/Sources/\(name)/main.swift").path
            let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").count
            #expect(lines <= 70, "\(name) has \(lines) lines")
        }
    }
}
