import CNetBPFBuildInfo

/// netbpf's version, what `netbpf --version` prints: "0.9.0 (git abc1234)", or
/// "0.9.0 (unknown commit)" from a plain `swift build`. scripts/package-deb.sh reads `number`
/// from this file, so the Debian package's version is this one.
public enum NetBPFVersion {
    /// The release number (Debian upstream version syntax).
    public static let number = "0.9.0"

    /// The commit the binary was built from, when the build recorded one (scripts/build-info.sh).
    public static var commit: String? { nb_build_commit().map { String(cString: $0) } }

    /// "0.9.0 (git abc1234)" or "0.9.0 (unknown commit)".
    public static var text: String { "\(number) (\(commit.map { "git " + $0 } ?? "unknown commit"))" }
}
