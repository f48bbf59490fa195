import CNetBPFClangABI
import Foundation
import Glibc
import Synchronization

/// The cache's precompiled headers of vmlinux.h (`<kernel dir>/vmlinux-prelude-<hash>.pch`, one
/// per kernel and arguments; a PCH of another clang is rejected by clang and rebuilt). A missing
/// one is built in the background, by a netbpf-cc of its own, while the compile that found it
/// missing goes on without it: on two cores that compile costs about what it costs alone instead of PCH
/// build + compile (the first vmlinux.h compile: ~150 ms less). With one core, where the two
/// would only take turns, it is built first. The PCH appears complete or not at all
/// (nb_cc_build_pch: an unnamed file linked into place), so a process may exit while its
/// builder runs: the builder finishes alone. `waitForBackgroundBuilds()` is for callers that
/// want the PCH there before they go on (tests, benchmarks).
enum PrecompiledHeaders {
    /// The PCHs this process is building now (checked by the compiler: a `Mutex`).
    private static let building = Mutex<Set<String>>([])
    private static let group = DispatchGroup()

    /// The PCH to compile with, or nil when there is none yet (or clang cannot build one; the
    /// compile is then just slower).
    static func available(for prelude: Prelude, args: [String], helper: CompilerHelper, cache: CacheDirectory) throws -> String? {
        var h = Hasher256()
        h.add(args.joined(separator: "\u{1}"))
        h.add(prelude.text)
        let header = prelude.directory + "/\(prelude.name).h"
        let pch = prelude.directory + "/\(prelude.name)-\(h.finish().prefix(16)).pch"
        if cache.isTrusted(pch) { return pch }
        let alreadyBuilding = building.withLock { $0.contains(pch) }
        if alreadyBuilding { return nil }
        if cache.read(header) != Data(prelude.text.utf8) { try cache.writeAtomically(Data(prelude.text.utf8), to: header) }
        guard ProcessInfo.processInfo.activeProcessorCount > 1 else {
            return helper.buildPCH(header: header, args: args, pch: pch) ? pch : nil
        }
        let inserted = building.withLock { $0.insert(pch).inserted }
        guard inserted else { return nil }
        group.enter()
        Thread.detachNewThread {
            _ = helper.buildPCH(header: header, args: args, pch: pch)
            _ = building.withLock { $0.remove(pch) }
            group.leave()
        }
        return nil
    }

    /// Blocks until every PCH build this process started in the background has finished.
    static func waitForBackgroundBuilds() {
        group.wait()
    }
}
