import Foundation
import NetBPF
import NetBPFCompiler
import NetBPFNetlink

/// A BPF object loaded for one node (host or switch) of a simulation, before anything is built.
final class LoadedObject {
    let node: String
    let file: String
    /// The object's name (file name without .bpf.c/.c/.o): names its pin directory.
    let name: String
    let object: BPFObject
    let pinMaps: Bool

    init(node: String, file: String, name: String, object: BPFObject, pinMaps: Bool) {
        self.node = node
        self.file = file
        self.name = name
        self.object = object
        self.pinMaps = pinMaps
    }
}

/// One program to attach once the network exists.
struct PlannedAttachment {
    let node: String
    let interface: String
    let hook: AttachHook
    let xdpMode: XDPMode
    let priority: UInt16
    let program: BPFProgram
    let object: LoadedObject
}

/// Compiles, opens and loads every BPF program a topology attaches, and the VLAN switch for hosts
/// with access ports, before any namespace exists: a program that does not compile, is missing
/// from its file, has the wrong type for its hook or is rejected by the verifier is reported like
/// any other topology problem (file, line, key path) and nothing is created.
struct BPFPreparation {
    var objects: [LoadedObject] = []
    var attachments: [PlannedAttachment] = []
    /// host -> the loaded VLAN switch object.
    var vlanSwitches: [String: BPFObject] = [:]

    private init() {}

    /// Nothing to attach (used when only processes are restarted).
    static var empty: BPFPreparation { BPFPreparation() }

    init(_ topology: Topology) throws {
        let log = IssueLog(file: topology.file)
        for (node, _) in topology.nodes {
            let entries = Self.attachments(of: node, in: topology)
            var byFile: [String: [(String, BPFAttachment)]] = [:]
            var order: [String] = []
            for e in entries {
                if byFile[e.1.file] == nil { order.append(e.1.file) }
                byFile[e.1.file, default: []].append(e)
            }
            for file in order {
                load(file: file, uses: byFile[file]!, node: node, log: log)
            }
        }
        for host in topology.hosts where host.interfaces.contains(where: { $0.settings.vlanAccess != nil }) {
            do {
                vlanSwitches[host.name] = try VLANSwitch.open().load()
            } catch {
                let at = host.interfaces.first { $0.settings.vlanAccess != nil }!.settings.vlanAccess!.location
                log.add(at, "cannot load netbpf's VLAN switch program (\(VLANSwitch.sourcePath)): \(Self.oneLine(error))")
            }
        }
        guard log.isEmpty else { throw SimError.invalid(log.issues, file: topology.file) }
    }

    /// (interface, attachment) pairs of one node, in file order.
    static func attachments(of node: String, in topology: Topology) -> [(String, BPFAttachment)] {
        var out: [(String, BPFAttachment)] = []
        if let host = topology.host(named: node) {
            for i in host.interfaces { out += i.settings.bpf.map { (i.name, $0) } }
            for v in host.vxlans { out += v.settings.bpf.map { (v.name, $0) } }
        }
        for b in topology.bridges where topology.node(of: b) == node { out += b.settings.bpf.map { (b.name, $0) } }
        return out
    }

    static func oneLine(_ error: Error) -> String {
        if let c = error as? CompileError {
            let first = c.diagnostics.first { $0.severity == .error || $0.severity == .fatal }
            return c.description + (first.map { " (\($0.file ?? "?"):\($0.line):\($0.column): \($0.message))" } ?? "")
        }
        return "\(error)".split(separator: "\n").first.map(String.init) ?? "\(error)"
    }

    static func objectName(_ file: String) -> String {
        var n = (file as NSString).lastPathComponent
        for suffix in [".o", ".c", ".bpf"] where n.hasSuffix(suffix) { n.removeLast(suffix.count) }
        return n
    }

    private mutating func load(file: String, uses: [(String, BPFAttachment)], node: String, log: IssueLog) {
        let first = uses[0].1
        let spec: BPFObjectSpec
        do {
            if file.hasSuffix(".c") {
                spec = try BPFCompiler().compile(file: file).open()
            } else {
                spec = try BPFObjectSpec.open(path: file)
            }
        } catch {
            log.add(first.location, "cannot \(file.hasSuffix(".c") ? "compile" : "open") '\(first.fileAsWritten)': \(Self.oneLine(error))")
            return
        }
        let programs = spec.programs
        var chosen: [(String, BPFAttachment, ProgramSpec)] = []
        for (iface, a) in uses {
            let wanted: AttachHook = a.hook
            let suitable: (ProgramSpec) -> Bool = { p in
                wanted == .xdp ? p.type == .xdp : (p.type == .schedCls || p.type == .schedAct)
            }
            let candidates: [ProgramSpec]
            if let name = a.program {
                candidates = programs.filter { $0.name == name }
                if candidates.isEmpty {
                    log.add(a.location, "'\(a.fileAsWritten)' has no program named '\(name)'",
                            hint: "its programs: \(programs.map(\.name).joined(separator: ", "))")
                    continue
                }
            } else if let section = a.section {
                candidates = programs.filter { $0.section == section }
                if candidates.count != 1 {
                    log.add(a.location, candidates.isEmpty ? "'\(a.fileAsWritten)' has no program in section '\(section)'"
                                                           : "\(candidates.count) programs of '\(a.fileAsWritten)' are in section '\(section)'",
                            hint: "name one with program: (\(programs.map { "\($0.name) in \($0.section)" }.joined(separator: ", ")))")
                    continue
                }
            } else {
                candidates = programs.filter(suitable)
                if candidates.count != 1 {
                    log.add(a.location, candidates.isEmpty ? "'\(a.fileAsWritten)' has no program for hook \(a.hook.rawValue)"
                                                           : "'\(a.fileAsWritten)' has \(candidates.count) programs for hook \(a.hook.rawValue)",
                            hint: "choose one with program: (\(programs.map(\.name).joined(separator: ", ")))")
                    continue
                }
            }
            let p = candidates[0]
            guard suitable(p) else {
                log.add(a.location, "program '\(p.name)' is a \(p.type) program; hook \(a.hook.rawValue) needs \(a.hook == .xdp ? "an xdp" : "a sched_cls (SEC(\"tc\"))") program")
                continue
            }
            chosen.append((iface, a, p))
        }
        guard chosen.count == uses.count else { return }
        // Load only what is attached: other programs of the file may need features this kernel lacks.
        do {
            for p in programs where !chosen.contains(where: { $0.2.name == p.name }) {
                try spec.setAutoload(false, forProgram: p.name)
            }
        } catch {
            log.add(first.location, "cannot configure '\(first.fileAsWritten)': \(Self.oneLine(error))")
            return
        }
        let object: BPFObject
        do {
            object = try spec.load()
        } catch {
            log.add(first.location, "cannot load '\(first.fileAsWritten)': \(Self.oneLine(error))",
                    hint: (error as? BPFError)?.hint == nil ? "run `netbpf object inspect \(file)` and check the verifier log" : nil)
            return
        }
        let loaded = LoadedObject(node: node, file: file, name: Self.objectName(file), object: object,
                                  pinMaps: uses.contains { $0.1.pinMaps })
        if loaded.pinMaps, let other = objects.first(where: { $0.node == node && $0.name == loaded.name && $0.pinMaps }) {
            log.add(first.location, "'\(first.fileAsWritten)' and \(other.file) would pin their maps in the same directory (\(node)/\(loaded.name))",
                    hint: "rename one file, or set pin-maps: false on one of them")
            return
        }
        objects.append(loaded)
        // tc priorities: explicit ones as given, the rest 1, 2, ... skipping those.
        for (iface, a, p) in chosen {
            guard let program = try? object.program(named: p.name) else { continue }
            var priority: UInt16 = 0
            if a.hook != .xdp {
                if let explicit = a.priority {
                    priority = explicit
                } else {
                    let taken = Set(attachments.filter { $0.node == node && $0.interface == iface && $0.hook == a.hook }.map(\.priority))
                        .union(uses.filter { $0.0 == iface && $0.1.hook == a.hook }.compactMap { $0.1.priority })
                    priority = 1
                    while taken.contains(priority) { priority += 1 }
                }
            }
            attachments.append(PlannedAttachment(node: node, interface: iface, hook: a.hook, xdpMode: a.xdpMode,
                                                 priority: priority, program: program, object: loaded))
        }
    }
}
