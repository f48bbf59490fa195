import Foundation
import NetBPF
import NetBPFNetlink

/// Probes around the programs of tcx hooks, so that which probes saw a packet says which
/// program decided its fate. Shared by `netbpf trace packet` (Tools/packetpath) and
/// `netbpf capture` (Tools/capture).
///
/// A copy of the probe goes right before each program of a hook and one after the last; tcx
/// takes a program only once per hook, hence one copy per slot. The program after the last
/// probe that saw a packet decided: dropped it if skb:kfree_skb then says TC_INGRESS/TC_EGRESS,
/// passed or redirected it otherwise; when the probe after the last program saw it, every
/// program handed it on (TCX_NEXT). With `slots` programs or more only the first and the last
/// probes are placed. Kernel: tcx links and BPF_PROG_QUERY on tcx (6.6).
public enum TCXProbePlacement {
    /// Probe copies per hook: up to `slots - 1` programs get a probe in front of each.
    public static let slots = 8

    /// One device to place probes on.
    public struct Device: Sendable {
        /// Its index in its namespace.
        public var index: Int32
        /// Its name ("eth0").
        public var name: String

        /// A device.
        public init(index: Int32, name: String) { self.index = index; self.name = name }
    }

    /// What `attach` did: the probes' links (each detaches when released) and, per hook, the
    /// programs that run there and where the probes sit among them.
    public struct Placement: Sendable {
        /// The probes' links.
        public var links: [BPFLink]
        /// Per hook: the place, the programs in run order, and how many run before each probe slot.
        public var hooks: [PacketPath.Hook: PacketPath.HookInfo]
        /// The namespace's inode (the `netns` of every hook).
        public var netns: UInt32
    }

    /// Attaches the probe copies around the tcx programs of `directions` of every device.
    ///
    /// Slot k goes `.before(programID:)` the k-th program, the next slot `.last`; the order is
    /// then read back (TCXAttachments.query, BPF_PROG_QUERY) so that a program attached
    /// meanwhile is reported where it really runs. On failure the links made so far are released.
    /// - Parameters:
    ///   - namespace: a /run/netns name; nil: the caller's namespace.
    ///   - devices: the devices.
    ///   - directions: the hooks of each device.
    ///   - label: names places "label/eth0" ("eth0" when empty).
    ///   - ours: the ids of every probe copy, to tell them from the programs they surround.
    ///   - copies: the probe copies for a device's hook, by slot (at least 2 for a hook with programs).
    /// - Throws: `BPFError` from BPF_PROG_QUERY and BPF_LINK_CREATE (EINVAL without tcx); what entering the namespace throws.
    public static func attach(namespace: String?, devices: [Device], directions: [TCDirection] = TCDirection.allCases, label: String = "",
                              ours: Set<UInt32>, copies: @escaping @Sendable (Device, TCDirection) -> [BPFProgram]) throws -> Placement {
        let work: @Sendable () throws -> Placement = {
            let inode = DropsNames.inode("/proc/thread-self/ns/net") ?? 0
            var placement = Placement(links: [], hooks: [:], netns: inode)
            for d in devices {
                for direction in directions {
                    let hook = PacketPath.Hook(netns: inode, ifindex: d.index, direction: direction)
                    let probes = copies(d, direction)
                    let (links, programs, after) = try place(probes, ours: ours, ifindex: d.index, direction: direction)
                    placement.links += links
                    placement.hooks[hook] = PacketPath.HookInfo(place: label.isEmpty ? d.name : "\(label)/\(d.name)", programs: programs, probesAfter: after)
                }
            }
            return placement
        }
        if let namespace { return try withNamespace(namespace) { try work() } }
        return try work()
    }

    /// One hook: the probes placed, then the programs in run order and, per slot, how many of them run before it.
    static func place(_ probes: [BPFProgram], ours: Set<UInt32>, ifindex: Int32, direction: TCDirection) throws -> ([BPFLink], [PacketPath.Program], [Int]) {
        guard !probes.isEmpty else { return ([], [], []) }
        let slotIDs = try probes.map { try $0.info().id }
        let present = try TCXAttachments.query(ifindex: ifindex, direction: direction).programIDs.filter { !ours.contains($0) }
        var links: [BPFLink] = []
        var slot = 0
        if present.count < probes.count {
            for id in present {
                links.append(try probes[slot].attachTCX(ifindex: ifindex, direction: direction, position: .before(programID: id)))
                slot += 1
            }
        } else if probes.count > 1 {
            links.append(try probes[0].attachTCX(ifindex: ifindex, direction: direction, position: .first))
            slot = 1
        }
        if present.isEmpty || probes.count > 1 {
            links.append(try probes[slot].attachTCX(ifindex: ifindex, direction: direction, position: .last))
        }
        // The order as it is now (a program attached meanwhile is placed where it is).
        let now = try TCXAttachments.query(ifindex: ifindex, direction: direction).programIDs
        var programs: [PacketPath.Program] = [], after: [Int] = []
        for id in now {
            if let k = slotIDs.firstIndex(of: id) {
                while after.count <= k { after.append(programs.count) }
                after[k] = programs.count
            } else if !ours.contains(id) {
                let name = (try? BPFProgram.open(id: id).info().name) ?? "prog \(id)"
                programs.append(PacketPath.Program(name: name, id: id))
            }
        }
        return (links, programs, after)
    }
}

extension PacketPath.HookInfo {
    /// What one program did to a packet at the hook.
    public enum Decision: String, Sendable, Equatable {
        /// Handed it on (TCX_NEXT): a later probe saw it.
        case next
        /// Ended the hook's chain without a drop (TCX_PASS, a redirect).
        case passed
        /// Dropped it (TCX_DROP: skb:kfree_skb said TC_INGRESS/TC_EGRESS here).
        case shot
        /// An earlier program ended the chain.
        case notRun
    }

    /// Each program's decision on a packet that the probes up to slot `maxSlot` saw, `shot`
    /// when it was dropped at this hook by tc. Programs with no probe between them are one
    /// group (names joined with "|", id 0). A drop after the last probe was a clsact filter's
    /// ("tc filter").
    public func decisions(maxSlot: Int, shot: Bool) -> [(program: PacketPath.Program, decision: Decision)] {
        let n = programs.count
        let lastSlot = probesAfter.count - 1
        guard maxSlot < lastSlot, maxSlot >= 0 else {
            var out = programs.map { (program: $0, decision: Decision.next) }
            if shot { out.append((program: PacketPath.Program(name: "tc filter", id: 0), decision: .shot)) }
            return out
        }
        let from = probesAfter[maxSlot], to = min(probesAfter[maxSlot + 1], n)
        var out: [(program: PacketPath.Program, decision: Decision)] = []
        for p in programs[..<from] { out.append((program: p, decision: .next)) }
        if from < to {
            let deciders = programs[from..<to]
            out.append((program: PacketPath.Program(name: deciders.map(\.name).joined(separator: "|"), id: deciders.count == 1 ? deciders[from].id : 0),
                        decision: shot ? .shot : .passed))
        }
        for p in programs[to...] { out.append((program: p, decision: .notRun)) }
        return out
    }
}
