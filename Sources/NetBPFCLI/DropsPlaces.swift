import Foundation
import NetBPF
import NetBPFAttach
import NetBPFSim
import NetBPFTracing

/// drops' names for places: /run/netns (NetBPFTracing's scan), plus the hosts of running
/// simulations (their journals) and the programs netbpf attached (its attachment records), so a
/// drop reads `h2/eth0` and a tc drop names `ratelimit (id 104) on web/vxlan100 tcx ingress`.
enum DropsPlaces {
    /// Everything drops can name now; cheap enough to call once per report.
    static func scan() -> DropsNames {
        var names = DropsNames.scan()
        for sim in Simulation.list() {
            guard let journal = try? Simulation.journal(sim) else { continue }
            for (host, namespace) in journal.hosts { names.hosts[namespace] = host }
        }
        for r in AttachmentStore.allRecords(including: AttachmentStore()) where !r.isPending {
            let inode = r.namespace.map { DropsNames.inode("/run/netns/" + $0) } ?? names.ownNamespace
            guard let inode else { continue }
            let hook: String, how: String
            switch r.kind {
            case .tcx: hook = r.hook; how = "tcx \(r.hook)"
            case .clsact: hook = r.hook; how = "tc \(r.hook)"
            case .xdpLink, .xdpNetlink: hook = "xdp"; how = "xdp \(r.hook)"
            }
            let place = names.place(netns: inode, ifname: r.interface)
            let text = "\(r.programName) (id \(r.programID)) on \(place) \(how)"
            let key = HookPlace(netns: inode, ifindex: r.ifindex, hook: hook)
            // Several programs on one hook: name them all.
            names.programs[key] = names.programs[key].map { $0 + ", " + text } ?? text
        }
        return names
    }

    /// The namespace of simulation host `host`; nil when no simulation has it.
    /// - Throws: `BPFError(.invalidArgument)` when several simulations have such a host.
    static func simulationNamespace(_ host: String) throws -> String? {
        do { return try Simulation.namespace(of: host).namespace }
        catch let e as SimError where e.code == .conflict {
            throw BPFError(.invalidArgument, operation: "find namespace", subject: host, message: e.message,
                           hint: "name the namespace itself, nb-SIMULATION-\(host) (netbpf sim status)")
        } catch { return nil }
    }

    /// The inode of `--netns NAME`: a /run/netns name, else a simulation host's namespace.
    static func inode(of namespace: String) throws -> UInt32 {
        if let i = DropsNames.inode("/run/netns/" + namespace), NetworkNamespaceName.isPlain(namespace) { return i }
        if let ns = try simulationNamespace(namespace), let i = DropsNames.inode("/run/netns/" + ns) { return i }
        throw BPFError(.notFound, operation: "drops", subject: "--netns \(namespace)",
                       message: "no network namespace '\(namespace)' in /run/netns nor a simulation host of that name",
                       hint: "list them with `ip netns list` or `netbpf sim status NAME`")
    }
}

/// A namespace name that names a file directly in /run/netns.
enum NetworkNamespaceName {
    static func isPlain(_ s: String) -> Bool { !s.isEmpty && !s.contains("/") && s != "." && s != ".." }
}
