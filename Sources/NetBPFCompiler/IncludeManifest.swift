import Foundation
import Glibc

/// What a source's include scan found, remembered so a cached compile need not scan again
/// (ccache's "direct mode"): `manifests/<key>`, where the key covers the source bytes, its path,
/// the arguments and the compiler library, i.e. everything the scan depends on except the files
/// it reads and the files it did not find.
///
/// A manifest is used only while every path the scan looked for and did not find is still
/// absent; the files it found are then identified by stat (size, mtime, inode) in the object's
/// key exactly as after a scan, so a changed header means a different key, a cache miss and a
/// new scan. A manifest that cannot be read or parsed is ignored and rewritten. On a hit this
/// replaces reading and scanning every header (26 files for a tc program on UAPI headers) with
/// one read and a stat per path.
struct IncludeManifest: Equatable {
    static let header = "netbpf-include-manifest-v1"
    var result: IncludeScanner.Result

    static func == (a: IncludeManifest, b: IncludeManifest) -> Bool {
        a.result.files == b.result.files && a.result.skippedIncluded == b.result.skippedIncluded && a.result.absent == b.result.absent
    }

    /// The text form: a header line, then `S name` (skipped header included), `F path` (found,
    /// in discovery order) and `A path` (looked for, not there) lines.
    var text: String? {
        let paths = result.files + result.absent + Array(result.skippedIncluded)
        guard !paths.contains(where: { $0.contains("\n") }) else { return nil }
        var lines = [Self.header]
        lines += result.skippedIncluded.sorted().map { "S " + $0 }
        lines += result.files.map { "F " + $0 }
        lines += result.absent.map { "A " + $0 }
        return lines.joined(separator: "\n") + "\n"
    }

    init(result: IncludeScanner.Result) { self.result = result }

    init?(text: String) {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.first == Substring(Self.header), lines.last == "" else { return nil }
        lines.removeFirst()
        lines.removeLast()
        var result = IncludeScanner.Result()
        for line in lines {
            guard line.count > 2, line.dropFirst().first == " " else { return nil }
            let value = String(line.dropFirst(2))
            switch line.first {
            case "S": result.skippedIncluded.insert(value)
            case "F": result.files.append(value)
            case "A": result.absent.append(value)
            default: return nil
            }
        }
        self.result = result
    }

    /// Whether the scan would resolve every include the same way now: each path it found
    /// still exists and none it missed has appeared.
    var stillResolvesTheSame: Bool {
        result.files.allSatisfy { access($0, F_OK) == 0 } && result.absent.allSatisfy { access($0, F_OK) != 0 }
    }
}

/// The manifests in a cache directory.
struct IncludeManifests {
    let directory: CacheDirectory

    private func path(_ key: String) -> String { directory.path + "/manifests/" + key }

    /// The manifest for `key`, if there is one, it parses, and it still resolves the same.
    func lookup(_ key: String) -> IncludeManifest? {
        guard let data = FileManager.default.contents(atPath: path(key)),
              let text = String(data: data, encoding: .utf8),
              let manifest = IncludeManifest(text: text), manifest.stillResolvesTheSame else { return nil }
        return manifest
    }

    func store(_ key: String, _ manifest: IncludeManifest) {
        guard let text = manifest.text else { return }
        try? directory.makeDirectory(directory.path + "/manifests")
        try? directory.writeAtomically(Data(text.utf8), to: path(key))
    }
}
