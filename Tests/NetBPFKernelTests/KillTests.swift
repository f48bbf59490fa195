import Foundation
import Glibc
import Testing
import NetBPF
import NetBPFAttach
import NetBPFNetlink
import NetBPFTestSupport

/// SIGKILL at any moment of `netbpf attach tc` or of a controller: whatever the kill leaves,
/// `netbpf doctor --netns NS` lists it and `netbpf doctor --fix --netns NS` (then `netbpf
/// detach --all` for an attach that had finished) leaves the namespace clean: no records, no
/// pins, no filters, tcx links, XDP programs or clsact qdiscs. (`netbpf sim up` has the same
/// checks in SimKernelTests: killedHalfWayIsCleanedByDown, sigkillAtAnyMomentIsCleanedByDown.)
/// Doctor runs are scoped to the lab's own namespace: others test on this machine too.
@Suite(.serialized, .enabled(if: TestEnvironment.isRoot, "requires root: namespaces, tc, XDP, pins"))
struct KillTests {
    static func object() throws -> String { try TestPrograms.object("count_packets") }

    func attachArgs(_ lab: AttachLab) throws -> [String] {
        ["attach", "tc", "b", try Self.object(), "--program-name", "count_tc", "--netns", lab.server, "--clsact"]
    }

    /// NETBPF_ATTACH_KILL_AT kills the attach right after each step of the clsact path: the
    /// qdisc made, the filter added, the pins made (the record is still marked pending).
    @Test(arguments: ["clsact", "filter", "pins"])
    func attachKilledAfterAStepIsListedAndFixedByDoctor(_ step: String) throws {
        try AttachLab.with { lab in
            let killed = try lab.netbpf(try attachArgs(lab), environment: ["NETBPF_TEST_HOOKS": "1", "NETBPF_ATTACH_KILL_AT": step])
            #expect(killed.status == 128 + SIGKILL, "attach should die of SIGKILL after '\(step)': \(killed.stderr)")
            #expect(try lab.hasClsact(), "the qdisc was made before the kill")
            if step != "clsact" { #expect(try lab.right.filters(on: "b", hook: .ingress).count == 1) }
            let listed = try lab.netbpfOK(["doctor", "--netns", lab.server])
            #expect(listed.contains("stale-record") && listed.contains("the attach was interrupted"), "\(listed)")
            #expect(listed.contains("1 leftover(s); run `netbpf doctor --fix --netns \(lab.server)`"), "\(listed)")
            let fixed = try lab.netbpfOK(["doctor", "--fix", "--netns", lab.server])
            #expect(fixed.contains("yes"), "\(fixed)")
            #expect(try lab.right.filters(on: "b", hook: .ingress).isEmpty)
            try lab.expectNothingLeft("after a kill after '\(step)'")
            #expect(try lab.netbpfOK(["doctor", "--netns", lab.server]).contains("nothing of netbpf's is left in namespace \(lab.server)"))
        }
    }

    /// SIGKILL at 5 to 400 ms after posix_spawn: before, during or after the attach (which
    /// finishes after 60-100 ms here), doctor --fix and detach --all return the namespace to clean.
    @Test(arguments: [5, 20, 50, 60, 70, 80, 90, 100, 200, 400])
    func attachKilledAtATimeIsCleanedByDoctorAndDetach(_ milliseconds: Int) throws {
        _ = try Self.object() // compiled before the clock starts
        try AttachLab.with { lab in
            let env = ["NETBPF_STATE_DIR": lab.stateDirectory]
            let attach = try BackgroundProcess([CLI.binary] + (try attachArgs(lab)), environment: env)
            usleep(UInt32(milliseconds) * 1000)
            kill(attach.pid, SIGKILL)
            let status = attach.finish(timeout: 10).status
            #expect(status == 128 + SIGKILL || status == 0, "attach ended with \(status)")
            let found = try lab.netbpfOK(["doctor", "--json", "--netns", lab.server])
            _ = try lab.netbpfOK(["doctor", "--fix", "--netns", lab.server])
            // An attach that finished is live, not a leftover: detach removes it.
            let detach = try lab.netbpf(["detach", "tc", "b", "--all", "--netns", lab.server])
            #expect(detach.status == 0 || detach.stderr.contains("netbpf has nothing attached"), "\(detach.stderr)")
            let kinds = ((try? JSONSerialization.jsonObject(with: Data(found.utf8))) as? [[String: Any]] ?? []).compactMap { $0["kind"] as? String }
            print("kill: attach killed at \(milliseconds) ms (status \(status)); doctor found \(kinds)")
            try lab.expectNothingLeft("after a kill at \(milliseconds) ms")
        }
    }

    /// A controller killed while running: what `netbpf xdp-drop-count` attached belongs to its
    /// process (lifetime .process), so after a SIGKILL doctor calls the record stale ("its
    /// process ... has exited", or an interrupted attach), `doctor --fix` removes it and the
    /// XDP program with it, the interface passes frames again, and the same command starts
    /// again. "early": killed 30 ms after posix_spawn, attached or not. "attached": killed once
    /// its finished record is there (polled for up to 20 s on a loaded machine).
    @Test(arguments: ["early", "attached"])
    func xdpDropCountKilledIsCleaned(_ when: String) throws {
        try AttachLab.with { lab in
            let env = ["NETBPF_STATE_DIR": lab.stateDirectory]
            let run = try BackgroundProcess([CLI.binary, "xdp-drop-count", "b", "--netns", lab.server], environment: env)
            let start = Date()
            if when == "early" {
                usleep(30_000)
            } else {
                while !lab.records().contains(where: { !$0.isPending }) && Date().timeIntervalSince(start) < 20 { usleep(20_000) }
            }
            let attached = lab.records().contains { !$0.isPending }
            let elapsed = Int(Date().timeIntervalSince(start) * 1000)
            kill(run.pid, SIGKILL)
            #expect(run.finish(timeout: 10).status == 128 + SIGKILL)
            if when == "attached" { #expect(attached, "xdp-drop-count should have attached within 20 s") }
            print("kill: xdp-drop-count killed \(when) at \(elapsed) ms, attached: \(attached)")
            let listed = try lab.netbpfOK(["doctor", "--netns", lab.server])
            if attached {
                #expect(listed.contains("stale-record") && listed.contains("xdp_drop_count"), "\(listed)")
                #expect(!(try lab.ping(3)), "frames pass while the killed controller's program is attached")
            }
            _ = try lab.netbpfOK(["doctor", "--fix", "--netns", lab.server])
            try lab.expectNothingLeft("after killing xdp-drop-count \(when) (\(elapsed) ms)")
            #expect(try lab.ping(3), "the interface passes frames once doctor removed the killed controller's program")
            // The same command starts again and runs to its end.
            let again = try lab.netbpf(["xdp-drop-count", "b", "--netns", lab.server, "--seconds", "0.5"], environment: env)
            #expect(again.status == 0, "\(again.stderr)")
            try lab.expectNothingLeft("after xdp-drop-count ran again")
        }
    }
}
