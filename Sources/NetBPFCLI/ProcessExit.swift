import Glibc
import NetBPFCompiler

/// Work that must finish before a netbpf process exits, however it exits (a command returning,
/// ArgumentParser's exit() after an error, an exit(0) on a closed stdout): early work no command
/// took is settled (EarlyStart), a precompiled header a compile started building in the
/// background is completed, not left to an orphaned child, and a library load in progress ends.
public enum ProcessExit {
    public static func install() {
        atexit {
            EarlyStart.abandon()
            BPFCompiler.waitForBackgroundWork()
        }
    }
}
