import CNetBPFShims
import Foundation
import Glibc

/// What identifies a file's contents to the compile cache without reading it: size, mtime,
/// ctime, inode and device. ctime is there because tools that keep mtime (`cp -p`, `rsync -a`,
/// `touch -d`) cannot set it back.
enum FileIdentity {
    static func of(_ st: stat) -> String {
        "\(st.st_size):\(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec):\(st.st_ctim.tv_sec).\(st.st_ctim.tv_nsec):\(st.st_ino):\(st.st_dev)"
    }

    static func of(_ path: String) -> String {
        var st = stat()
        guard stat(path, &st) == 0 else { return "missing" }
        return of(st)
    }
}

/// What a source's include scan found, remembered so a cached compile need not scan again
/// (ccache's "direct mode"): `manifests/<key>`, where the key covers the source bytes, its path,
/// the include search path and the compiler library, i.e. everything the scan depends on
/// except the files it reads and the files it did not find.
///
/// A manifest stands for one state of the headers. It is used only while every file the scan
/// read still has the identity it had when read (FileIdentity, from the descriptor the bytes
/// came from), and every path the scan looked for and did not find is still absent; then the
/// scan would find and read the same files again, and the object's key is computed from them
/// as after a scan. Anything else (a header edited, renamed over, shadowed by one created
/// earlier on the search path, a symlinked directory pointed elsewhere) drops the manifest and
/// the scan runs. A scan that could not read a file it found is not kept, nor one that read a
/// file changed in the last two seconds; a manifest that does not parse or fails its CRC is
/// ignored and rewritten. On a hit this replaces reading and scanning every header (26 files
/// for a tc program on UAPI headers) with one read and a stat per path.
struct IncludeManifest {
    static let header = "netbpf-include-manifest-v3"
    var result: IncludeScanner.Result

    /// After a scan. Nil for a scan that is not complete, or that read a file changed in the
    /// last two seconds (as ccache: an editor may still be writing it, and a second change
    /// within the same timestamp tick would go unseen). Files under `ownDirectory` (netbpf.h in
    /// the cache, which netbpf compares with what it should hold before every use) count as
    /// settled.
    init?(scanned result: IncludeScanner.Result, ownDirectory: String) {
        guard result.complete, result.identities.count == result.files.count, result.changedAt.count == result.files.count else { return nil }
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        for (path, changed) in zip(result.files, result.changedAt) where !path.hasPrefix(ownDirectory) {
            guard changed < now.tv_sec - 2 else { return nil }
        }
        self.result = result
    }

    /// The text form: a header line; `S name` (skipped header included), `F identity path`
    /// (read, in order) and `A path` (looked for, not there) lines; `C crc` of all before it.
    var text: String? {
        let paths = result.files + result.absent + Array(result.skippedIncluded)
        guard !paths.contains(where: { $0.contains("\n") || $0.contains("\r") }) else { return nil }
        var lines = [Self.header]
        lines += result.skippedIncluded.sorted().map { "S " + $0 }
        lines += zip(result.identities, result.files).map { "F \($0) \($1)" }
        lines += result.absent.map { "A " + $0 }
        let body = lines.joined(separator: "\n") + "\n"
        return body + "C " + Self.crc(body) + "\n"
    }

    static func crc(_ text: String) -> String {
        var text = text
        return text.withUTF8 { String(format: "%08x", nb_crc32($0.baseAddress, $0.count)) }
    }

    init?(text: String) {
        guard !text.contains("\r"), text.hasSuffix("\n"),
              let crcLine = text.dropLast().lastIndex(of: "\n").map({ text.index(after: $0) }),
              text[crcLine...] == "C " + Self.crc(String(text[..<crcLine])) + "\n" else { return nil }
        var lines = text[..<crcLine].split(separator: "\n", omittingEmptySubsequences: false)
        guard lines.first == Substring(Self.header), lines.last == "" else { return nil }
        lines.removeFirst()
        lines.removeLast()
        var result = IncludeScanner.Result()
        for line in lines {
            guard line.count > 2, line.dropFirst().first == " " else { return nil }
            let value = line.dropFirst(2)
            switch line.first {
            case "S": result.skippedIncluded.insert(String(value))
            case "F":
                guard let space = value.firstIndex(of: " ") else { return nil }
                let identity = String(value[..<space])
                guard identity != "missing" else { return nil }
                result.identities.append(identity)
                result.files.append(String(value[value.index(after: space)...]))
            case "A": result.absent.append(String(value))
            default: return nil
            }
        }
        self.result = result
    }

    /// Whether the scan would find and read the same files now: each one unchanged, and none of
    /// the paths it missed created since.
    var stillResolvesTheSame: Bool {
        zip(result.files, result.identities).allSatisfy { FileIdentity.of($0) == $1 } && result.absent.allSatisfy { access($0, F_OK) != 0 }
    }
}

/// The manifests in a cache directory.
struct IncludeManifests {
    let directory: CacheDirectory

    private func path(_ key: String) -> String { directory.path + "/manifests/" + key }

    /// The key of a source's manifest: everything the scan depends on but the files it reads
    /// and those it does not find.
    static func key(library: String, path: String, searchPath: [String], source: [UInt8]) -> String {
        var h = Hasher256()
        h.add("netbpf-include-scan-v1")
        h.add(library)
        h.add(path)
        h.add(searchPath.joined(separator: "\u{1}"))
        source.withUnsafeBytes { h.add($0) }
        return h.finish()
    }

    /// The manifest for `key`, if there is one, it parses, and it still resolves the same.
    func lookup(_ key: String) -> IncludeManifest? {
        guard let data = directory.read(path(key)),
              let text = String(data: data, encoding: .utf8),
              let manifest = IncludeManifest(text: text), manifest.stillResolvesTheSame else { return nil }
        return manifest
    }

    /// Keeps what a scan found (nothing for an incomplete or unsettled scan).
    func store(_ key: String, scanned: IncludeScanner.Result) {
        guard let manifest = IncludeManifest(scanned: scanned, ownDirectory: directory.path + "/"), let text = manifest.text else { return }
        try? directory.makeDirectory(directory.path + "/manifests")
        try? directory.writeAtomically(Data(text.utf8), to: path(key))
    }
}
