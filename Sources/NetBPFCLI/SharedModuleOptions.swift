import ArgumentParser
import Foundation
import Glibc
import NetBPF
import NetBPFAttach

/// What lets several `netbpf attach` runs of one program act as one BCC module: in BCC the
/// functions a Python script loads from one `BPF()` share its maps (vlan_learning's
/// `handle_phys2virt` on the trunk and `handle_virt2phys` on each worker port fill and read
/// the same `ingress`/`egress` hashes), and the script fills prog arrays with the module's
/// own functions (tunnel_monitor's `parser[c_int(1)] = outer_fn.fd`). Here the first attach
/// pins its maps (…/maps/); later ones reuse them with `--maps-from`, and `--prog-array`
/// fills a prog array with programs of the object being attached, before anything is attached.
struct SharedModuleOptions: ParsableArguments {
    @Option(name: .customLong("maps-from"), help: ArgumentHelp(
        "Use the maps pinned in DIR (another attachment's maps/ directory) for this program's maps of the same names, so functions attached to several hooks share them, as in one BCC module.",
        valueName: "DIR"))
    var mapsFrom: String?

    @Option(name: .customLong("prog-array"), help: ArgumentHelp(
        "After loading, put this object's program FUNCTION at KEY of its prog array MAP, for tail calls (BCC's `parser[c_int(1)] = fn.fd`); repeatable, e.g. parser:1=handle_outer.",
        valueName: "MAP:KEY=FUNCTION"))
    var progArray: [String] = []

    /// One `--prog-array` entry.
    struct Slot { let map: String; let key: UInt32; let function: String }

    var slots: [Slot] {
        get throws {
            try progArray.map { text in
                guard let colon = text.firstIndex(of: ":"), let eq = text.firstIndex(of: "="), colon < eq,
                      let key = UInt32(text[text.index(after: colon)..<eq]),
                      !text[..<colon].isEmpty, !text[text.index(after: eq)...].isEmpty else {
                    throw AttachError(.invalidArgument, "--prog-array '\(text)' is not MAP:KEY=FUNCTION", hint: "e.g. --prog-array parser:1=handle_outer")
                }
                return Slot(map: String(text[..<colon]), key: key, function: String(text[text.index(after: eq)...]))
            }
        }
    }

    /// Before load: each map of `spec` with a pin of its name in `--maps-from` is reused from
    /// there (bpf_map__set_pin_path; libbpf checks type, sizes and flags again on load). The
    /// pins are checked first, so a wrong directory or a map of another shape is one error and
    /// nothing is created.
    func configure(_ spec: BPFObjectSpec) throws {
        _ = try slots // bad --prog-array text fails before anything is loaded
        guard let dir = mapsFrom else { return }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw AttachError(.notFound, "--maps-from \(dir): no such directory", hint: "give the maps/ directory of an attachment, e.g. /sys/fs/bpf/netbpf/NETNS/IFACE/HOOK/PROGRAM/maps")
        }
        var reused = 0
        for m in spec.maps where !m.isInternal {
            let path = dir + "/" + m.name
            guard access(path, F_OK) == 0 else { continue }
            let pinned = try BPFMap.open(pinned: path)
            guard pinned.type == m.type, pinned.keySize == Int(m.keySize), pinned.valueSize == Int(m.valueSize) else {
                throw AttachError(.invalidArgument,
                                  "map '\(m.name)' pinned at \(path) is \(pinned.type) with \(pinned.keySize)-byte keys and \(pinned.valueSize)-byte values; the program's is \(m.type), \(m.keySize) and \(m.valueSize)",
                                  hint: "--maps-from must name the maps of the same program")
            }
            try spec.setPinPath(path, forMap: m.name)
            reused += 1
        }
        guard reused > 0 else {
            throw AttachError(.notFound, "--maps-from \(dir): none of the program's maps (\(spec.maps.filter { !$0.isInternal }.map(\.name).joined(separator: ", "))) is pinned there",
                              hint: "give the maps/ directory of an attachment of the same program")
        }
    }

    /// After load, before attach: fills the prog arrays `--prog-array` names.
    func fill(_ object: BPFObject) throws {
        for slot in try slots {
            let map: BPFMap
            do { map = try object.map(named: slot.map) } catch {
                throw AttachError(.notFound, "--prog-array: the program has no map named '\(slot.map)'", hint: "its maps: \(((try? object.maps) ?? []).map(\.name).joined(separator: ", "))")
            }
            guard map.type == .progArray else {
                throw AttachError(.invalidArgument, "--prog-array: map '\(slot.map)' is \(map.type), not a prog array", hint: "name a BPF_PROG_ARRAY map")
            }
            let program: BPFProgram
            do { program = try object.program(named: slot.function) } catch {
                throw AttachError(.notFound, "--prog-array: the object has no program named '\(slot.function)'",
                                  hint: "a BCC function becomes a program with --func \(slot.function) (the attach hook's type)")
            }
            let key = withUnsafeBytes(of: slot.key.littleEndian) { Array($0) }
            let value = withUnsafeBytes(of: program.fd.littleEndian) { Array($0) }
            try map.update(key: key, value: value)
        }
    }
}

extension SharedModuleOptions {
    /// `spec` configured (`--maps-from`), loaded, and its prog arrays filled (`--prog-array`).
    func load(_ spec: BPFObjectSpec) throws -> BPFObject {
        try configure(spec)
        let object = try spec.load()
        try fill(object)
        return object
    }
}
