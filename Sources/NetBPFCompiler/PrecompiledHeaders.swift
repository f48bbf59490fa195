import CNetBPFClangABI
import Foundation
import Glibc

/// The cache's precompiled headers (`<dir>/<prelude>-<hash>.pch`, one per prelude, compiler and
/// arguments). A missing one is built in the background while the compile that found it missing
/// goes on without it: on two cores that compile costs about what it costs alone instead of PCH
/// build + compile (the first vmlinux.h compile: ~150 ms less). With one core, where the two
/// would only take turns, it is built first, as before.
/// `waitForBackgroundBuilds()` lets a process finish them before it exits (the CLI does, in an
/// atexit handler); a process that exits without waiting leaves the forked builder to finish
/// alone. The builder writes the PCH to a temporary file and renames it once complete, so a
/// half-built PCH is never seen, and a failed build's temporary file is removed
/// (nb_clang_build_pch).
enum PrecompiledHeaders {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var building: Set<String> = []
    private static let group = DispatchGroup()

    /// The PCH to compile with, or nil when there is none yet (or clang cannot build one; the
    /// compile is then just slower).
    static func available(for prelude: Prelude, args: [String], clang: ClangLibrary, cache: CacheDirectory) throws -> String? {
        var h = Hasher256()
        h.add(clang.version)
        h.add(args.joined(separator: "\u{1}"))
        h.add(prelude.text)
        let header = prelude.directory + "/\(prelude.name).h"
        let pch = prelude.directory + "/\(prelude.name)-\(h.finish().prefix(16)).pch"
        if cache.isTrusted(pch) { return pch }
        lock.lock()
        let alreadyBuilding = building.contains(pch)
        lock.unlock()
        if alreadyBuilding { return nil }
        // The header written out is also the sign that a compile could have used the PCH.
        if cache.read(header) != Data(prelude.text.utf8) {
            try cache.writeAtomically(Data(prelude.text.utf8), to: header)
            if !prelude.buildOnFirstUse { return nil }
        }
        guard ProcessInfo.processInfo.activeProcessorCount > 1 else {
            return build(header: header, args: args, pch: pch, clang: clang) ? pch : nil
        }
        lock.lock()
        let inserted = building.insert(pch).inserted
        lock.unlock()
        guard inserted else { return nil }
        group.enter()
        Thread.detachNewThread {
            _ = build(header: header, args: args, pch: pch, clang: clang)
            lock.lock()
            building.remove(pch)
            lock.unlock()
            group.leave()
        }
        return nil
    }

    /// Blocks until every PCH build this process started in the background has finished.
    static func waitForBackgroundBuilds() {
        group.wait()
    }

    /// One PCH build in a forked child (nb_clang_build_pch).
    private static func build(header: String, args: [String], pch: String, clang: ClangLibrary) -> Bool {
        var result = nb_compile_result()
        let rc = withCStrings(args) { clang.buildPCH(header, $0, args.count, pch, &result) }
        clang.freeResult(&result)
        return rc == 0
    }
}
