import Glibc
import NetBPF

/// `-c CGROUP` of libbpf-tools' execsnoop, exitsnoop, syscount, runqlat and biolatency: only
/// tasks under one cgroup v2 directory. The program tests bpf_current_task_under_cgroup against
/// its `cgroup_map` (BPF_MAP_TYPE_CGROUP_ARRAY, Linux 4.8+), whose slot 0 gets the directory's fd.
enum CgroupFilter {
    /// Starts a tool with the filter on when `path` is set: the directory is checked and opened
    /// first (so a bad path leaves nothing loaded), `start` gets whether to set `filter_cg`,
    /// and the fd goes into `cgroup_map` once the object is loaded. Until then the programs
    /// pass nothing (the helper fails on an empty slot and the check wants 1).
    /// - Throws: `BPFError(.notFound)` for a path that is not a cgroup v2 directory; what
    ///   `start` or the map update throws (the session is closed then).
    static func start(_ path: String?, _ start: (Bool) throws -> ToolSession) throws -> ToolSession {
        guard let path else { return try start(false) }
        // Only cgroup v2 directories have cgroup.controllers (v1 ones have cgroup.procs too).
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0, faccessat(fd, "cgroup.controllers", F_OK, 0) == 0 else {
            if fd >= 0 { close(fd) }
            throw BPFError(.notFound, operation: "cgroup filter", subject: path,
                           message: "not a cgroup v2 directory",
                           hint: "give a directory under the cgroup2 mount (see `mount -t cgroup2`), e.g. /sys/fs/cgroup/unified/NAME")
        }
        defer { close(fd) }
        let session = try start(true)
        do {
            var key: UInt32 = 0
            var value = UInt32(bitPattern: fd)
            try session.map("cgroup_map").update(key: &key, value: &value)
        } catch {
            try? session.close()  // the first error is the one to report
            throw error
        }
        return session
    }
}
