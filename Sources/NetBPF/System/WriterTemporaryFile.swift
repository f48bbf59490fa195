import Foundation
import Glibc
import Synchronization

/// Names of the temporary files `OutputFile.replaceAtomically` renames over their target, and
/// the removal of those whose writer is gone. A writer killed between create and rename (SIGKILL,
/// a crash, a power cut) leaves its temporary behind; the name says who wrote it,
/// `.TARGET.tmp-PID-STARTTIME-N` (STARTTIME: field 22 of /proc/PID/stat, so a reused pid is not
/// taken for the writer), and the next write to the same target removes those of writers that
/// are no longer running.
enum WriterTemporaryFile {
    /// This process as ProcessIdentity names it (its start time, read once).
    static let ownStartTime: UInt64 = ProcessIdentity.startTime(of: getpid()) ?? 0
    private static let sequence = Sequence()

    /// The directory and file name of `path` ("." for a bare name). Not NSString's path
    /// functions: `deletingLastPathComponent` traps on one-character names ("x", "-").
    static func split(_ path: String) -> (directory: String, name: String) {
        guard let slash = path.lastIndex(of: "/") else { return (".", path) }
        let dir = String(path[..<slash])
        return (dir.isEmpty ? "/" : dir, String(path[path.index(after: slash)...]))
    }

    static func prefix(for name: String) -> String { "." + name + ".tmp-" }

    /// A new temporary path beside `path`, unique in this process.
    static func path(for path: String) -> String {
        let (dir, name) = split(path)
        return dir + "/" + prefix(for: name) + "\(getpid())-\(ownStartTime)-\(sequence.next())"
    }

    /// The writer named by a temporary file's name, nil when the name is not one of ours.
    static func writer(of file: String, target name: String) -> (pid: Int32, startTime: UInt64)? {
        let p = prefix(for: name)
        guard file.hasPrefix(p) else { return nil }
        let parts = file.dropFirst(p.count).split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, let pid = Int32(parts[0]), pid > 0, let start = UInt64(parts[1]), UInt64(parts[2]) != nil else { return nil }
        return (pid, start)
    }

    /// Unlinks the temporary files of `path` whose writer is not running; returns their names.
    /// Also those of netbpf before this naming (`.TARGET.` and 8 hex digits, no writer named)
    /// once they are a minute old: a write takes milliseconds.
    @discardableResult
    static func removeStale(beside path: String) -> [String] {
        let (dir, name) = split(path)
        guard let d = opendir(dir) else { return [] }
        defer { closedir(d) }
        var removed: [String] = []
        while let entry = readdir(d) {
            let file = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            guard file.hasPrefix("." + name + ".") else { continue }
            let stale: Bool
            if let w = writer(of: file, target: name) {
                stale = !ProcessIdentity.isRunning(w.pid, startTime: w.startTime)
            } else {
                stale = isLegacy(file, target: name) && ageSeconds(dir + "/" + file).map { $0 > 60 } == true
            }
            if stale && unlink(dir + "/" + file) == 0 { removed.append(file) }
        }
        return removed
    }

    static func isLegacy(_ file: String, target name: String) -> Bool {
        let suffix = file.dropFirst(name.count + 2)
        return file.count == name.count + 10 && suffix.allSatisfy(\.isHexDigit)
    }

    static func ageSeconds(_ path: String) -> Double? {
        var st = stat()
        guard lstat(path, &st) == 0 else { return nil }
        return Date().timeIntervalSince1970 - (Double(st.st_mtim.tv_sec) + Double(st.st_mtim.tv_nsec) / 1e9)
    }

    /// A counter shared by the threads of this process.
    private final class Sequence: Sendable {
        private let value = Atomic<UInt64>(0)
        func next() -> UInt64 { value.wrappingAdd(1, ordering: .relaxed).newValue }
    }
}
