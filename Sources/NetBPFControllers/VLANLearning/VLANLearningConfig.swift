import Foundation
import Yams
import NetBPFNetlink

/// A MAC address: "02:00:00:00:00:01", "02-00-00-00-00-01", "0200.0000.0001" or "020000000001"
/// (BCC's vlan_learning prints them that way); printed lower-case with colons.
public struct EthernetAddress: Sendable, Hashable, Comparable, CustomStringConvertible, Codable {
    /// The six bytes, in wire order.
    public let bytes: [UInt8]

    init(validBytes: [UInt8]) { bytes = validBytes }

    /// Parses any of the forms above.
    /// - Throws: `ControllerError` naming the text when it is not a MAC address.
    public init(_ text: String) throws {
        let t = text.trimmingCharacters(in: .whitespaces)
        func fail() -> ControllerError {
            ControllerError("'\(text)' is not a MAC address", hint: "six hex bytes, e.g. 02:00:00:00:00:01")
        }
        let groups: [Substring]
        if t.contains(":") || t.contains("-") {
            let separator: Character = t.contains(":") ? ":" : "-"
            groups = t.split(separator: separator, omittingEmptySubsequences: false)
            guard groups.count == 6, groups.allSatisfy({ (1...2).contains($0.count) }) else { throw fail() }
        } else {
            let digits = t.replacingOccurrences(of: ".", with: "")
            if t.contains(".") {
                let parts = t.split(separator: ".", omittingEmptySubsequences: false)
                guard parts.count == 3, parts.allSatisfy({ $0.count == 4 }) else { throw fail() }
            }
            guard digits.count == 12 else { throw fail() }
            var out: [Substring] = []
            var i = digits.startIndex
            while i < digits.endIndex {
                let j = digits.index(i, offsetBy: 2)
                out.append(digits[i..<j])
                i = j
            }
            groups = out
        }
        var b: [UInt8] = []
        for g in groups {
            guard g.allSatisfy(\.isHexDigit), let v = UInt8(g, radix: 16) else { throw fail() }
            b.append(v)
        }
        bytes = b
    }

    /// Broadcast or multicast (the group bit, the lowest bit of the first byte).
    public var isGroup: Bool { bytes[0] & 1 == 1 }
    /// True for 00:00:00:00:00:00.
    public var isZero: Bool { bytes.allSatisfy { $0 == 0 } }

    /// Lower case with colons: "02:00:00:00:00:01".
    public var description: String { bytes.map { String(format: "%02x", $0) }.joined(separator: ":") }

    /// Byte order (the order reports list MACs in).
    public static func < (a: EthernetAddress, b: EthernetAddress) -> Bool { a.bytes.lexicographicallyPrecedes(b.bytes) }

    /// Decodes the text form.
    /// - Throws: `ControllerError` when the string is not a MAC address.
    public init(from decoder: Decoder) throws { try self.init(try decoder.singleValueContainer().decode(String.self)) }
    /// Encodes the text form (`description`).
    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}

/// What `netbpf vlan-learn` does: which trunk, which client MAC goes to which worker interface.
///
/// From the command line (`--trunk trunk --map 02:00:00:00:00:00=w0 ...`) or a YAML file:
/// ```yaml
/// trunk: trunk                          # required: the interface carrying the tagged frames
/// netns: nb-vlan-learning-sw-workers    # optional: the network namespace of the interfaces
/// clients:                              # required: client MAC -> worker interface
///   02:00:00:00:00:00: w0
///   02:00:00:00:00:01: w1
/// ```
public struct VLANLearningConfig: Sendable, Equatable {
    /// One client: its MAC and the worker interface its frames go to.
    public struct Client: Sendable, Equatable {
        /// The client's MAC address (the source of its frames on the trunk).
        public var mac: EthernetAddress
        /// The worker interface its frames are sent to, untagged.
        public var worker: String
        /// A client mapped to `worker`.
        public init(mac: EthernetAddress, worker: String) { self.mac = mac; self.worker = worker }
    }

    /// The interface carrying the tagged frames.
    public var trunk: String
    /// The network namespace of the interfaces (nil: the caller's).
    public var namespace: String?
    /// Client MAC -> worker interface.
    public var clients: [Client]
    /// Worker interfaces with no client yet, attached anyway so that clients can be mapped to
    /// them later without an attach (`VLANLearner.setClient`; the fleet agent's VLAN maps).
    public var spareWorkers: [String] = []

    /// A config; `VLANLearner.resolve` checks the interfaces, `start` the rest.
    public init(trunk: String, namespace: String? = nil, clients: [Client]) {
        self.trunk = trunk
        self.namespace = namespace
        self.clients = clients
    }

    /// The worker interfaces, in the order they first appear.
    public var workers: [String] {
        var seen: Set<String> = []
        return (clients.map(\.worker) + spareWorkers).filter { seen.insert($0).inserted }
    }

    static let keys = ["trunk", "netns", "clients"]

    /// From `--trunk` and `--map MAC=WORKER` arguments; errors name the bad argument.
    /// - Throws: `ControllerError` naming the bad argument.
    public static func fromArguments(trunk: String?, maps: [String], namespace: String?) throws -> VLANLearningConfig {
        guard let trunk else { throw ControllerError("--trunk is required (or --config FILE)", hint: "netbpf vlan-learn --trunk IFACE --map MAC=WORKER_IFACE ...") }
        guard !maps.isEmpty else { throw ControllerError("give at least one --map MAC=WORKER_IFACE (or --config FILE)") }
        var clients: [Client] = []
        for m in maps {
            let parts = m.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2 else {
                throw ControllerError("--map '\(m)' is not MAC=WORKER_IFACE", hint: "e.g. --map 02:00:00:00:00:01=w1")
            }
            let mac: EthernetAddress
            do { mac = try EthernetAddress(String(parts[0])) } catch let e as ControllerError {
                throw ControllerError("--map '\(m)': \(e.message)", hint: e.hint)
            }
            clients.append(Client(mac: mac, worker: String(parts[1])))
        }
        let config = VLANLearningConfig(trunk: trunk, namespace: namespace, clients: clients)
        try config.validate(where: { i in "--map '\(maps[i])'" }, trunkWhere: "--trunk")
        return config
    }

    /// Parses and validates the whole file before anything is attached; errors name the file,
    /// the line, the key and the bad value. MACs may be written unquoted (the raw text of each
    /// YAML scalar is used, so 12:34:56:00:00:01 is not read as a base-60 number).
    /// - Throws: `ControllerError` naming the file, the key and the bad value.
    public static func load(path: String) throws -> VLANLearningConfig {
        guard let data = FileManager.default.contents(atPath: path) else { throw ControllerError("\(path): cannot read the file") }
        func at(_ node: Node?) -> String {
            guard let mark = node?.mark else { return path }
            return "\(path):\(mark.line)"
        }
        func fail(_ node: Node?, _ key: String, _ message: String, hint: String? = nil) -> ControllerError {
            ControllerError("\(at(node)): \(key): \(message)", hint: hint)
        }
        let root: Node?
        do { root = try Yams.compose(yaml: String(decoding: data, as: UTF8.self)) } catch {
            throw ControllerError("\(path): not valid YAML: \(String(describing: error).split(separator: "\n").first ?? "")")
        }
        guard let root, case .mapping(let top) = root else { throw ControllerError("\(path): the top level must be a mapping with trunk and clients") }
        var values: [String: (key: Node, value: Node)] = [:]
        for (k, v) in top {
            guard let name = k.scalar?.string else { throw fail(k, "(key)", "keys must be plain names") }
            guard keys.contains(name) else { throw fail(k, name, "unknown key", hint: "known keys: " + keys.joined(separator: ", ")) }
            guard values[name] == nil else { throw fail(k, name, "given twice") }
            values[name] = (k, v)
        }
        func string(_ name: String) throws -> String? {
            guard let (k, v) = values[name] else { return nil }
            guard let s = v.scalar?.string, !s.isEmpty else { throw fail(k, name, "must be an interface or namespace name") }
            return s
        }
        guard let trunk = try string("trunk") else { throw ControllerError("\(path): trunk: required: the interface that carries the tagged frames") }
        let namespace = try string("netns")
        guard let (ck, cv) = values["clients"] else {
            throw ControllerError("\(path): clients: required: a mapping of client MAC to worker interface", hint: "clients: {\"02:00:00:00:00:01\": w1}")
        }
        guard case .mapping(let entries) = cv else {
            throw fail(ck, "clients", "must be a mapping of client MAC to worker interface", hint: "clients: {\"02:00:00:00:00:01\": w1}")
        }
        var clients: [Client] = []
        var nodes: [Node] = []
        for (k, v) in entries {
            let text = k.scalar?.string ?? "\(k)"
            let mac: EthernetAddress
            do { mac = try EthernetAddress(text) } catch let e as ControllerError {
                throw fail(k, "clients.\(text)", e.message, hint: e.hint)
            }
            guard let worker = v.scalar?.string, !worker.isEmpty else {
                throw fail(v, "clients.\(text)", "the value must be the worker's interface name")
            }
            clients.append(Client(mac: mac, worker: worker))
            nodes.append(k)
        }
        let config = VLANLearningConfig(trunk: trunk, namespace: namespace, clients: clients)
        try config.validate(where: { i in "\(at(nodes[i])): clients.\(nodes[i].scalar?.string ?? "")" },
                            trunkWhere: "\(at(values["trunk"]?.key)): trunk")
        return config
    }

    /// Checks what can be checked without the kernel: names, MACs, duplicates, limits.
    func validate(where place: (Int) -> String, trunkWhere: String) throws {
        try Self.checkName(trunk, place: trunkWhere)
        if clients.isEmpty { throw ControllerError("\(trunkWhere.replacingOccurrences(of: ": trunk", with: "")): no clients: map at least one client MAC to a worker interface") }
        var seen: [EthernetAddress: Int] = [:]
        var perWorker: [String: Int] = [:]
        for (i, c) in clients.enumerated() {
            if c.mac.isGroup {
                throw ControllerError("\(place(i)): \(c.mac) is a multicast or broadcast address; a client MAC must be unicast")
            }
            if c.mac.isZero { throw ControllerError("\(place(i)): 00:00:00:00:00:00 is not a client MAC") }
            if let first = seen[c.mac] {
                throw ControllerError("\(place(i)): client \(c.mac) is mapped twice (first to \(clients[first].worker))", hint: "a client goes to one worker")
            }
            seen[c.mac] = i
            try Self.checkName(c.worker, place: place(i))
            if c.worker == trunk { throw ControllerError("\(place(i)): worker interface '\(c.worker)' is the trunk") }
            perWorker[c.worker, default: 0] += 1
            if perWorker[c.worker]! > VLLimits.clientsPerWorker {
                throw ControllerError("\(place(i)): worker '\(c.worker)' has more than \(VLLimits.clientsPerWorker) clients",
                                        hint: "a worker's broadcasts are flooded to at most \(VLLimits.clientsPerWorker) clients (VL_MAX_CLIENTS_PER_WORKER)")
            }
        }
        if clients.count > VLLimits.clients { throw ControllerError("\(clients.count) clients; at most \(VLLimits.clients)") }
    }

    static func checkName(_ name: String, place: String) throws {
        guard Interface.isValidName(name) else {
            throw ControllerError("\(place): '\(name)' is not an interface name", hint: Interface.nameRule)
        }
    }
}

/// A VLAN learning error in one line, naming the bad value.
