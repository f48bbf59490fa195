import Glibc

/// What kind of BPF object an fd refers to, read from its anon-inode name (/proc/self/fd/N
/// reads "anon_inode:bpf-map", "anon_inode:bpf-prog", and "anon_inode:bpf_link" for a new link
/// but "anon_inode:bpf-link" for one reopened from a pin or by id). BPF_OBJ_GET
/// accepts any pinned object, and BPF_OBJ_GET_INFO_BY_FD fills whatever info struct it is given,
/// so this is the reliable way to refuse a pinned program where a map was asked for.
enum FDKind: String {
    case map = "anon_inode:bpf-map"
    case program = "anon_inode:bpf-prog"
    case link = "anon_inode:bpf_link"

    static func of(_ fd: Int32) -> FDKind? {
        var buf = [CChar](repeating: 0, count: 64)
        let n = readlink("/proc/self/fd/\(fd)", &buf, buf.count - 1)
        guard n > 0 else { return nil }
        let name = String(cString: buf)
        return name == "anon_inode:bpf-link" ? .link : FDKind(rawValue: name)
    }

    /// Throws unless `fd` is of `expected` kind.
    static func require(_ expected: FDKind, fd: Int32, path: String) throws {
        let actual = of(fd)
        guard actual == expected else {
            let what = actual.map { "\($0)" } ?? "not a BPF object"
            throw BPFError(.invalidArgument, operation: "open pinned \(expected)", subject: path,
                           message: "the pinned object is a \(what), not a \(expected)")
        }
    }
}
