import CNetBPFShims
import Glibc

/// bpffs helpers: where netbpf pins things and how paths are checked.
public enum Pinning {
    /// netbpf's own directory in bpffs; everything it pins lives below it.
    public static let root = "/sys/fs/bpf/netbpf"

    /// Whether `path` lies on a mounted bpffs (statfs magic BPF_FS_MAGIC).
    public static func isOnBPFFS(_ path: String) -> Bool {
        var dir = path
        while !dir.isEmpty {
            let magic = nb_statfs_magic(dir)
            if magic >= 0 { return magic == 0xcafe4a11 }
            guard let slash = dir.lastIndex(of: "/") else { break }
            dir = String(dir[..<slash])
        }
        return false
    }

    /// Creates the parent directories of a pin path (mode 0700) and checks it is on bpffs.
    public static func prepareParent(of path: String) throws {
        guard path.hasPrefix("/") else {
            throw BPFError(.invalidArgument, operation: "pin", subject: path, message: "pin paths must be absolute")
        }
        let parent = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)])
        // Checked before any mkdir: isOnBPFFS looks at the nearest existing ancestor.
        guard isOnBPFFS(parent) else {
            throw BPFError(.invalidArgument, operation: "pin", subject: path, message: "not on a BPF filesystem",
                           hint: "mount it: mount -t bpf bpf /sys/fs/bpf")
        }
        try makeDirectories(parent)
    }

    static func makeDirectories(_ path: String) throws {
        var current = ""
        for part in path.split(separator: "/") {
            current += "/" + part
            if mkdir(current, 0o700) != 0 && errno != EEXIST {
                throw BPFError.system("mkdir", subject: current, errno: errno)
            }
        }
    }

    /// Removes a pinned object (unlink). Throws if nothing is pinned there.
    public static func unpin(_ path: String) throws {
        guard isOnBPFFS(path) else {
            throw BPFError(.invalidArgument, operation: "unpin", subject: path, message: "not on a BPF filesystem")
        }
        if unlink(path) != 0 { throw BPFError.system("unpin", subject: path, errno: errno) }
    }
}
