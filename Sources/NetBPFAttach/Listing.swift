import NetBPF
import NetBPFNetlink

/// One BPF program attached to an interface, whoever attached it (like `bpftool net`).
public struct AttachedProgram: Sendable, Encodable, Equatable {
    /// The namespace name it was listed in; nil for the caller's.
    public var namespace: String?
    /// The interface's name.
    public var interface: String
    /// The interface's index in that namespace.
    public var ifindex: Int32
    /// "tcx/ingress", "tc/egress", "xdp/generic", "xdp/native".
    public var hook: String
    /// The kernel's id of the program.
    public var programID: UInt32
    /// The program's name as the kernel reports it ("?" when it could not be opened by id).
    public var programName: String
    /// The program's tag; "" when it could not be read.
    public var programTag: String
    /// "netbpf" when netbpf attached it (it has a record), "other" otherwise.
    public var owner: String
    /// prio/handle for tc filters, link id for links, direct-action or classic.
    public var detail: String
}

extension Attacher {
    /// Everything attached to `interface` (or every interface) in the namespace: tcx programs
    /// (BPF_PROG_QUERY), cls_bpf filters on clsact hooks (RTM_GETTFILTER) and XDP (IFLA_XDP).
    /// Hooks that cannot be read (no tcx on this kernel, no clsact qdisc) are skipped.
    /// - Throws: `AttachError(.notFound)` for a missing namespace; `NetlinkError` `.notFound`
    ///   for a missing interface.
    public func list(interface: String? = nil, namespace: String? = nil) throws -> [AttachedProgram] {
        let records = store.all().filter { $0.namespace == namespace }
        @Sendable func owner(_ id: UInt32, _ ifindex: Int32) -> String {
            records.contains { $0.programID == id && $0.ifindex == ifindex } ? "netbpf" : "other"
        }
        @Sendable func describe(_ id: UInt32) -> (String, String) {
            guard let info = try? BPFProgram.open(id: id).info() else { return ("?", "") }
            return (info.name, info.tag)
        }
        return try inNamespace(namespace) {
            let netlink = try socket(in: namespace)
            let links = try interface.map { [try netlink.interface(.name($0))] } ?? netlink.interfaces()
            var out: [AttachedProgram] = []
            for link in links {
                for direction in TCDirection.allCases {
                    if let tcx = try? TCXAttachments.query(ifindex: link.index, direction: direction) {
                        for (i, id) in tcx.programIDs.enumerated() {
                            let (name, tag) = describe(id)
                            out.append(AttachedProgram(namespace: namespace, interface: link.name, ifindex: link.index, hook: "tcx/\(direction.rawValue)",
                                                       programID: id, programName: name, programTag: tag, owner: owner(id, link.index),
                                                       detail: "position \(i + 1)" + (i < tcx.linkIDs.count && tcx.linkIDs[i] != 0 ? ", link \(tcx.linkIDs[i])" : "")))
                        }
                    }
                    let hook: TCHook = direction == .ingress ? .ingress : .egress
                    for filter in (try? netlink.filters(on: .index(link.index), hook: hook)) ?? [] {
                        guard filter.kind == "bpf", let bpf = filter.bpf, let id = bpf.programID else { continue }
                        // The program's own name, as `tc filter show` prints it after "name"; the
                        // filter's name (tc's "file.o:[sec]", bpftool net's name) goes in detail.
                        let (progName, progTag) = describe(id)
                        let name = progName != "?" ? progName : bpf.name ?? "?"
                        let filterName = bpf.name.flatMap { $0 != name ? ", filter \($0)" : nil } ?? ""
                        out.append(AttachedProgram(namespace: namespace, interface: link.name, ifindex: link.index, hook: "tc/\(direction.rawValue)",
                                                   programID: id, programName: name, programTag: bpf.tag ?? progTag,
                                                   owner: owner(id, link.index),
                                                   detail: "prio \(filter.priority) handle \(filter.handle)\(bpf.directAction ? " direct-action" : "")\(filterName)"))
                    }
                }
                for mode in link.xdp.modes {
                    guard let id = link.xdp.programID(in: mode) else { continue }
                    let (name, tag) = describe(id)
                    let linked = records.first { $0.programID == id && $0.kind == .xdpLink }
                    out.append(AttachedProgram(namespace: namespace, interface: link.name, ifindex: link.index, hook: "xdp/\(mode.rawValue)",
                                               programID: id, programName: name, programTag: tag, owner: owner(id, link.index),
                                               detail: linked != nil ? "link" : "netlink"))
                }
            }
            return out
        }
    }
}
