import CLibBPF
import Glibc

/// Every BPF program, map and link on the system, like `bpftool prog/map/link show` and BCC's
/// `bps`. Walks ids with BPF_{PROG,MAP,LINK}_GET_NEXT_ID (4.13 / 5.8) and asks each for its info.
public enum Inventory {
    /// A program with where it is attached, when a link says so.
    public struct ProgramEntry: Sendable, Encodable {
        /// What the kernel reports about the program.
        public var info: ProgramInfo
        /// "xdp ifindex 3", "tcx_ingress ifindex 5", "raw_tracepoint sys_enter" ...
        public var attachedTo: [String]
    }

    private static func walk(_ next: (UInt32, UnsafeMutablePointer<UInt32>) -> Int32) -> [UInt32] {
        var ids: [UInt32] = []
        var id: UInt32 = 0
        while next(id, &id) == 0 { ids.append(id) }
        return ids
    }

    /// All loaded programs, ordered by id (BPF_PROG_GET_NEXT_ID, 4.13), each with the attach
    /// points its links name. Programs that vanish while walking are skipped.
    /// - Throws: `BPFError(.permission)` without CAP_SYS_ADMIN.
    public static func programs() throws -> [ProgramEntry] {
        try requirePrivilege()
        let links = (try? self.links()) ?? []
        var byProgram: [UInt32: [String]] = [:]
        for l in links { byProgram[l.programID, default: []].append(describe(l)) }
        return walk { bpf_prog_get_next_id($0, $1) }.compactMap { id in
            let fd = bpf_prog_get_fd_by_id(id)
            guard fd >= 0 else { return nil }
            defer { close(fd) }
            guard let info = try? ProgramInfo(fd: fd) else { return nil }
            return ProgramEntry(info: info, attachedTo: byProgram[id] ?? [])
        }
    }

    /// All maps, ordered by id (BPF_MAP_GET_NEXT_ID, 4.13). Maps that vanish while walking are skipped.
    /// - Throws: `BPFError(.permission)` without CAP_SYS_ADMIN.
    public static func maps() throws -> [MapInfo] {
        try requirePrivilege()
        return walk { bpf_map_get_next_id($0, $1) }.compactMap { id in
            let fd = bpf_map_get_fd_by_id(id)
            guard fd >= 0 else { return nil }
            defer { close(fd) }
            return try? MapInfo(fd: fd)
        }
    }

    /// All BPF links, ordered by id (BPF_LINK_GET_NEXT_ID, 5.8). Links that go away while
    /// walking are skipped.
    /// - Throws: `BPFError(.permission)` without CAP_SYS_ADMIN.
    public static func links() throws -> [LinkInfo] {
        try requirePrivilege()
        return walk { bpf_link_get_next_id($0, $1) }.compactMap { id in
            let fd = bpf_link_get_fd_by_id(id)
            guard fd >= 0 else { return nil }
            defer { close(fd) }
            return try? LinkInfo(fd: fd)
        }
    }

    static func describe(_ link: LinkInfo) -> String {
        var s = link.attachType?.description ?? link.type.description
        if let i = link.ifindex { s += " " + InterfaceNames.name(of: i) }
        if let tp = link.tracepoint { s += " " + tp }
        return s + " (link \(link.id))"
    }

    /// Walking ids needs CAP_SYS_ADMIN; say so plainly instead of returning an empty list.
    static func requirePrivilege() throws {
        var id: UInt32 = 0
        if bpf_prog_get_next_id(0, &id) != 0 && (errno == EPERM || errno == EACCES) {
            throw BPFError(.permission, operation: "list BPF objects", errno: errno,
                           message: "listing BPF objects needs CAP_SYS_ADMIN", hint: "run as root")
        }
    }
}

/// Interface index to name (if_indextoname) in the caller's namespace.
package enum InterfaceNames {
    package static func name(of index: UInt32) -> String {
        var buf = [CChar](repeating: 0, count: Int(IF_NAMESIZE) + 1)
        if if_indextoname(index, &buf) != nil { return String(cString: buf) }
        return "ifindex \(index)"
    }
}
