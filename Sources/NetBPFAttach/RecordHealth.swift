import Foundation
import NetBPF
import NetBPFNetlink

extension Attacher {
    /// Why `record` no longer describes something attached: empty when the namespace, the
    /// interface, the program, the pins and the attachment on its hook are all there and the
    /// process it belongs to (if any) is alive. Call it holding the record's hook lock, or the
    /// answer may be about an attach still in progress.
    public func staleness(of record: AttachmentRecord) -> [String] {
        var why: [String] = []
        if record.isPending && !record.ownerIsRunning { why.append("the attach was interrupted") }
        if record.lifetime == .process && !record.isPending && !record.ownerIsRunning {
            why.append("its process (pid \(record.ownerPID ?? 0)) has exited")
        }
        if let ns = record.namespace, !NetworkNamespace.exists(ns) { return why + ["namespace \(ns) is gone"] }
        if (try? BPFProgram.open(id: record.programID)) == nil { why.append("program \(record.programID) is gone") }
        if !FileManager.default.fileExists(atPath: record.pinDirectory + "/prog") { why.append("its pins are gone") }
        if !record.isPending, let hookProblem = hookProblem(record) { why.append(hookProblem) }
        return why
    }

    /// Whether the program is still on the hook the record names, as the kernel sees it.
    private func hookProblem(_ record: AttachmentRecord) -> String? {
        let answer: String?? = try? inNamespace(record.namespace) { () -> String? in
            let netlink = try socket(in: record.namespace)
            guard let link = try? netlink.interface(.index(record.ifindex)), link.name == record.interface else {
                return "interface \(record.interface) (index \(record.ifindex)) is gone"
            }
            switch record.kind {
            case .tcx, .xdpLink:
                guard let info = try? BPFLink.open(pinned: record.pinDirectory + "/link").info() else { return "its link is gone" }
                return info.ifindex == UInt32(record.ifindex) && info.programID == record.programID ? nil : "its link is no longer on \(record.interface)"
            case .clsact:
                let hook: TCHook = record.hook == "egress" ? .egress : .ingress
                let filters = (try? netlink.filters(on: .index(record.ifindex), hook: hook)) ?? []
                let there = filters.contains {
                    $0.priority == (record.priority ?? 1) && $0.handle == (record.handle ?? 1) && $0.bpf?.programID == record.programID
                }
                return there ? nil : "its filter is no longer on \(record.interface) \(record.hook)"
            case .xdpNetlink:
                return link.xdp.modes.contains { link.xdp.programID(in: $0) == record.programID } ? nil : "its XDP program is no longer on \(record.interface)"
            }
        }
        return answer ?? "its namespace cannot be entered"
    }
}
