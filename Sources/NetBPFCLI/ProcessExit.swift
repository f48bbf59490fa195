import Glibc
import NetBPFCompiler

/// Work that must finish before a netbpf process exits, however it exits (a command returning,
/// ArgumentParser's exit() after an error, an exit(0) on a closed stdout): a precompiled header
/// a compile started building in the background is completed, not left to an orphaned child.
public enum ProcessExit {
    public static func install() {
        atexit {
            BPFCompiler.waitForBackgroundWork()
        }
    }
}
