import ArgumentParser
import Foundation
import NetBPF

/// Opens the map a command names: a numeric id or a path in bpffs.
func openMap(_ target: String) throws -> BPFMap {
    if let id = UInt32(target) { return try BPFMap.open(id: id) }
    return try BPFMap.open(pinned: target)
}

/// Prints map entries with their BTF types when the map has them, raw hex otherwise.
struct EntryPrinter {
    let map: BPFMap
    let btf: BTFFormatter?

    init(_ map: BPFMap) {
        self.map = map
        btf = BTFFormatter(btfID: map.info.btfID)
    }

    func key(_ bytes: [UInt8]) -> BTFValue {
        guard let btf, map.info.btfKeyTypeID != 0 else { return .bytes(bytes) }
        return bytes.withUnsafeBytes { btf.decode($0, typeID: map.info.btfKeyTypeID) }
    }

    func value(_ bytes: [UInt8]) -> BTFValue {
        guard let btf, map.info.btfValueTypeID != 0 else { return .bytes(bytes) }
        if map.type.isPerCPU {
            let stride = (map.valueSize + 7) / 8 * 8
            return .array((0..<map.possibleCPUs).map { cpu in
                Array(bytes[(cpu * stride)..<(cpu * stride + map.valueSize)]).withUnsafeBytes { btf.decode($0, typeID: map.info.btfValueTypeID) }
            })
        }
        return bytes.withUnsafeBytes { btf.decode($0, typeID: map.info.btfValueTypeID) }
    }

    struct JSONEntry: Encodable { let key: BTFValue; let value: BTFValue }

    func line(_ e: MapEntry) -> String { "key: \(key(e.key))  value: \(value(e.value))" }
    func json(_ e: MapEntry) -> JSONEntry { JSONEntry(key: key(e.key), value: value(e.value)) }
}

/// `netbpf map list|dump|get|update|delete`.
struct MapCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "map", abstract: "List, dump and edit BPF maps.",
                                                    subcommands: [List.self, Dump.self, Get.self, Update.self, Delete.self, MapEventsCommand.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "Every BPF map on the system (like `bpftool map show`).")
        @OptionGroup var output: OutputOptions
        func run() throws {
            try reportingErrors(verbose: output.verbose) {
                let maps = try Inventory.maps()
                if output.json { try printJSON(maps); return }
                print(table(["id", "type", "name", "key", "value", "max entries", "flags", "memlock", "btf"],
                            maps.map { [String($0.id), $0.type.description, $0.name, "\($0.keySize)B", "\($0.valueSize)B",
                                        String($0.maxEntries), String(format: "0x%x", $0.flags), formatBytes($0.memlockBytes),
                                        $0.btfID == 0 ? "-" : String($0.btfID)] }))
            }
        }
    }

    struct Dump: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "dump", abstract: "Every entry of a map (batched where the kernel allows).")
        @Argument(help: "Map id or pinned path.") var target: String
        @Flag(help: "Walk key by key instead of in batches (slower; for comparison).") var perKey = false
        @OptionGroup var output: OutputOptions
        func run() throws {
            try reportingErrors(verbose: output.verbose) {
                let map = try openMap(target)
                let printer = EntryPrinter(map)
                // Streams chunk by chunk: a million entries never sit in memory twice.
                var out = output.json ? "[" : ""
                var count = 0
                let ks = map.keySize, vs = map.valueBufferSize
                try map.forEachChunk(method: perKey ? .perKey : .batch) { keys, values, n in
                    for i in 0..<n {
                        let k = Array(keys[(i * ks)..<((i + 1) * ks)]), v = Array(values[(i * vs)..<((i + 1) * vs)])
                        if output.json {
                            out += count == 0 ? "\n{\"key\":" : ",\n{\"key\":"
                            printer.key(k).appendJSON(to: &out)
                            out += ",\"value\":"
                            printer.value(v).appendJSON(to: &out)
                            out += "}"
                        } else {
                            out += printer.line(MapEntry(key: k, value: v)); out += "\n"
                        }
                        count += 1
                    }
                    if out.utf8.count > 1 << 20 { StandardStreams.out(out); out = "" }
                }
                out += output.json ? "\n]\n" : "\(count) entries\n"
                StandardStreams.out(out)
            }
        }
    }

    struct Get: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "get", abstract: "Look one key up.")
        @Argument(help: "Map id or pinned path.") var target: String
        @Option(help: "The key: hex bytes, or u32:N, u64:N, ipv4:A.B.C.D.") var key: String
        @OptionGroup var output: OutputOptions
        func run() throws {
            try reportingErrors(verbose: output.verbose) {
                let map = try openMap(target)
                let k = try parseBytes(key, expectedSize: map.keySize, what: "key")
                let printer = EntryPrinter(map)
                guard let v = try map.lookup(key: k) else {
                    throw BPFError(.notFound, operation: "map get", subject: map.name, message: "no entry for key \(printer.key(k))")
                }
                let e = MapEntry(key: k, value: v)
                if output.json { try printJSON(printer.json(e)) } else { print(printer.line(e)) }
            }
        }
    }

    struct Update: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "update", abstract: "Create or replace one entry.")
        @Argument(help: "Map id or pinned path.") var target: String
        @Option(help: "The key: hex bytes, or u32:N, u64:N, ipv4:A.B.C.D.") var key: String
        @Option(help: "The value, in the same forms (per-CPU maps: all CPUs' slots).") var value: String
        @Option(help: "any, noexist or exist.") var flags: String = "any"
        @Option(help: "Update from inside this network namespace: a devmap or cpumap entry's interface index is looked up in the namespace of the process that writes it (as BCC's Python runs where its interfaces are).")
        var netns: String?
        @OptionGroup var output: OutputOptions
        func run() throws {
            try reportingErrors(verbose: output.verbose) {
                let (target, key, value, flags) = (self.target, self.key, self.value, self.flags)
                try inNamespaceCLI(netns) {
                    let map = try openMap(target)
                    let f: UpdateFlags
                    switch flags {
                    case "any": f = .any
                    case "noexist": f = .noExist
                    case "exist": f = .exist
                    default: throw BPFError(.invalidArgument, operation: "map update", message: "unknown --flags '\(flags)'", hint: "any, noexist or exist")
                    }
                    let k = try parseBytes(key, expectedSize: map.keySize, what: "key")
                    let v = try parseBytes(value, expectedSize: map.valueBufferSize, what: "value")
                    try map.update(key: k, value: v, flags: f)
                }
            }
        }
    }

    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "delete", abstract: "Delete one key.")
        @Argument(help: "Map id or pinned path.") var target: String
        @Option(help: "The key: hex bytes, or u32:N, u64:N, ipv4:A.B.C.D.") var key: String
        @OptionGroup var output: OutputOptions
        func run() throws {
            try reportingErrors(verbose: output.verbose) {
                let map = try openMap(target)
                let k = try parseBytes(key, expectedSize: map.keySize, what: "key")
                if try !map.delete(key: k) {
                    throw BPFError(.notFound, operation: "map delete", subject: map.name, message: "no entry for that key")
                }
            }
        }
    }
}
