import Foundation
import Glibc

/// A test hook: with NETBPF_TEST_HOOKS=1 and NETBPF_ATTACH_KILL_AT=STEP the process SIGKILLs
/// itself right after that step of an attach (clsact: "clsact", "filter", "pins"; tcx: "pins", "link"), so KillTests can
/// check what a kill at each point leaves and that `netbpf doctor --fix` removes it. Both
/// variables are needed, and the hook says on stderr that it is armed: a stray
/// NETBPF_ATTACH_KILL_AT alone (a shell profile, a CI environment) does nothing.
enum FaultInjection {
    static let killAt: String? = {
        let env = ProcessInfo.processInfo.environment
        guard env["NETBPF_TEST_HOOKS"] == "1", let step = env["NETBPF_ATTACH_KILL_AT"] else { return nil }
        FileHandle.standardError.write(Data("netbpf: test hook armed: SIGKILL after attach step '\(step)'\n".utf8))
        return step
    }()

    /// NETBPF_ATTACH_PAUSE_AT=STEP (with NETBPF_TEST_HOOKS=1): sleep 3 s after that step, so a
    /// test can run another command against an attach in progress.
    static let pauseAt: String? = {
        let env = ProcessInfo.processInfo.environment
        guard env["NETBPF_TEST_HOOKS"] == "1", let step = env["NETBPF_ATTACH_PAUSE_AT"] else { return nil }
        FileHandle.standardError.write(Data("netbpf: test hook armed: pause after attach step '\(step)'\n".utf8))
        return step
    }()

    static func step(_ name: String) {
        if killAt == name { kill(getpid(), SIGKILL) }
        if pauseAt == name { sleep(3) }
    }
}
