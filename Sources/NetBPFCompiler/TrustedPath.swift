import Glibc

/// Whether a file or directory may feed what netbpf compiles and loads as root: whoever can
/// write it (or rename things in a directory above it) chooses the BPF code the kernel runs.
/// A path is trusted when it and every directory above it are owned by root or the effective
/// user and are not writable by group or others. Above `root` (the folder being trusted), a
/// directory with the sticky bit (/tmp) may be writable: others cannot rename what is in it.
enum TrustedPath {
    /// The real path of `path` (symlinks resolved), or a one-line reason it is not trusted.
    /// `root` is the part of the path that must be strict (default: `path` itself).
    static func check(_ path: String, root: String? = nil) -> Result<String, Refusal> {
        guard let resolved = realpath(path, nil) else {
            return .failure(Refusal(path: path, offender: path, problem: "cannot be resolved: \(String(cString: strerror(errno)))"))
        }
        defer { free(resolved) }
        let real = String(cString: resolved)
        let strictRoot = root.flatMap { r -> String? in
            guard let p = realpath(r, nil) else { return nil }
            defer { free(p) }
            return String(cString: p)
        } ?? real
        var current = real
        while true {
            if let reason = problem(current, strict: current == strictRoot || current.hasPrefix(strictRoot + "/")) {
                return .failure(Refusal(path: path, offender: current == real ? path : current, problem: reason))
            }
            if current == "/" { break }
            current = parent(current)
        }
        return .success(real)
    }

    /// Why one path is not trusted, or nil.
    static func problem(_ path: String, strict: Bool) -> String? {
        var st = stat()
        guard stat(path, &st) == 0 else { return "cannot be read: \(String(cString: strerror(errno)))" }
        if st.st_uid != 0 && st.st_uid != geteuid() {
            return "is owned by uid \(st.st_uid), not by root" + (geteuid() == 0 ? "" : " or uid \(geteuid())")
        }
        let writable = st.st_mode & (S_IWGRP | S_IWOTH)
        let sticky = (st.st_mode & S_IFMT) == S_IFDIR && st.st_mode & S_ISVTX != 0
        if writable != 0 && (strict || !sticky) {
            let who = writable == (S_IWGRP | S_IWOTH) ? "group and others" : (writable & S_IWGRP != 0 ? "its group" : "others")
            return "is writable by \(who) (mode 0\(String(st.st_mode & 0o7777, radix: 8)))"
        }
        return nil
    }

    static func parent(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else { return "/" }
        return String(path[..<slash])
    }

    /// A path refused: `offender` (the path itself or a directory above it) and what is wrong with it.
    struct Refusal: Error {
        let path: String
        let offender: String
        let problem: String
        /// "refusing /x/programs: it is writable by others (mode 0777)"
        var message: String { "refusing \(path): \(offender == path ? "it" : offender) \(problem)" }
    }
}
