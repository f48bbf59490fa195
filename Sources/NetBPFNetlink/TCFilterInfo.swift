internal import CMnl
import Glibc

/// A tc filter as RTM_NEWTFILTER reports it (a dump of RTM_GETTFILTER, or the echo of an add).
public struct TCFilter: Sendable, Equatable {
    /// The interface it is on (tcm_ifindex).
    public var interfaceIndex: Int32
    /// The hook or class it hangs on (ffff:fff2 = clsact ingress, ffff:fff3 = egress).
    public var parent: TCHandle
    /// The classifier: "bpf", "u32", "flower", "matchall", ...
    public var kind: String
    /// Preference (tc's `pref`/`prio`): lower runs first.
    public var priority: UInt16
    /// Ethernet protocol it matches (host order; 3 = ETH_P_ALL).
    public var etherProtocol: UInt16
    /// The classifier-specific handle.
    public var handle: UInt32
    /// TCA_CHAIN (kernel 4.13); 0 when absent.
    public var chain: UInt32
    /// cls_bpf details, when kind == "bpf".
    public var bpf: BPFFilterInfo?
    /// Classic-mode actions (TCA_BPF_ACT).
    public var actions: [TCActionInfo]

    /// The hook, when the parent is one of the clsact hooks.
    public var hook: TCHook? {
        parent == .ingressHook ? .ingress : parent == .egressHook ? .egress : nil
    }

    package init?(_ m: NetlinkMessage) {
        guard m.type == UInt16(RTM_NEWTFILTER), let t = m.familyHeader(tcmsg.self) else { return nil }
        let a = m.attributes(after: tcmsg.self)
        interfaceIndex = t.tcm_ifindex
        parent = TCHandle(rawValue: t.tcm_parent)
        kind = a.string(UInt16(TCA_KIND)) ?? ""
        priority = UInt16(truncatingIfNeeded: t.tcm_info >> 16)
        etherProtocol = UInt16(bigEndian: UInt16(truncatingIfNeeded: t.tcm_info))
        handle = t.tcm_handle
        chain = a.u32(UInt16(TCA_CHAIN)) ?? 0
        actions = []
        let options = a.nested(UInt16(TCA_OPTIONS))
        // The kernel lists each (priority, protocol) head once without options and handle 0
        // (tc prints it as a bare "filter ... pref N bpf chain 0" line): not a filter.
        if options == nil && handle == 0 { return nil }
        if kind == "bpf", let o = options {
            bpf = BPFFilterInfo(attributes: o)
            if let acts = o.nested(UInt16(TCA_BPF_ACT)) { actions = NetlinkSocket.parseActions(acts) }
        }
    }
}

/// What a cls_bpf filter reports (TCA_BPF_*; id and tag since kernel 4.13).
public struct BPFFilterInfo: Sendable, Equatable {
    /// TCA_BPF_ID: the kernel's program id.
    public var programID: UInt32?
    /// TCA_BPF_NAME: the name given at attach (tc uses "file.o:[section]").
    public var name: String?
    /// TCA_BPF_TAG as 16 hex digits (the program's SHA-1 prefix, as bpftool/tc print it).
    public var tag: String?
    /// TCA_BPF_FLAG_ACT_DIRECT in TCA_BPF_FLAGS: the program's return value is the verdict.
    public var directAction: Bool
    /// TCA_BPF_CLASSID (classic mode).
    public var classID: TCHandle?

    init(attributes o: AttributeTable) {
        programID = o.u32(UInt16(TCA_BPF_ID))
        name = o.string(UInt16(TCA_BPF_NAME))
        tag = o.bytes(UInt16(TCA_BPF_TAG)).map { $0.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined() }
        directAction = (o.u32(UInt16(TCA_BPF_FLAGS)) ?? 0) & UInt32(TCA_BPF_FLAG_ACT_DIRECT) != 0
        classID = o.u32(UInt16(TCA_BPF_CLASSID)).map { TCHandle(rawValue: $0) }
    }
}
