import NetBPF

/// funccount: counts hits of tracepoints, user functions or kernel functions matching a pattern
/// (BCC funccount's `t:cat:event`, `u:lib:func`, `k:func` / `func`; globs allowed).
public enum Funccount {
    /// What a pattern probes.
    public enum Kind: String, Sendable, Encodable {
        /// Tracepoints (`t:CATEGORY:EVENT`).
        case tracepoint
        /// Functions of an executable or library (`u:LIBRARY:FUNCTION`).
        case uprobe
        /// Kernel functions (`k:FUNCTION` or a bare name).
        case kprobe
    }

    /// A parsed probe pattern.
    public struct Pattern: Sendable, Equatable {
        /// What it probes.
        public var kind: Kind
        /// The library or executable for uprobes.
        public var library: String?
        /// "syscalls:sys_enter_open*", "malloc", "tcp_*".
        public var name: String

        /// Parses BCC's probe syntax.
        /// - Throws: `BPFError(.invalidArgument)` for an unknown probe type or a missing part.
        public init(parsing text: String) throws {
            let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            func bad(_ m: String) -> BPFError {
                BPFError(.invalidArgument, operation: "funccount", subject: text, message: m,
                         hint: "patterns: t:CATEGORY:EVENT, u:LIBRARY:FUNCTION, k:FUNCTION or FUNCTION (globs allowed)")
            }
            switch parts.first {
            case "t", "tracepoint":
                guard parts.count == 3, !parts[1].isEmpty, !parts[2].isEmpty else { throw bad("a tracepoint pattern is t:CATEGORY:EVENT") }
                kind = .tracepoint; library = nil; name = parts[1] + ":" + parts[2]
            case "u", "uprobe":
                guard parts.count == 3, !parts[1].isEmpty, !parts[2].isEmpty else { throw bad("a uprobe pattern is u:LIBRARY:FUNCTION") }
                kind = .uprobe; library = parts[1]; name = parts[2]
            case "k", "kprobe", "p":
                guard parts.count == 2, !parts[1].isEmpty else { throw bad("a kprobe pattern is k:FUNCTION") }
                kind = .kprobe; library = nil; name = parts[1]
            default:
                guard parts.count == 1, !text.isEmpty else { throw bad("unknown probe type '\(parts[0])'") }
                kind = .kprobe; library = nil; name = text
            }
        }
    }

    /// What to count; the fields are the command's arguments.
    public struct Options: Sendable {
        /// The probe pattern (see `Pattern`).
        public var pattern: String = ""
        /// -p: count in this process only.
        public var pid: UInt32?
        /// An empty pattern, which `start` refuses: set `pattern`.
        public init() {}
    }

    /// Hits of one probe.
    public struct Count: Sendable, Encodable, Equatable {
        /// The function or tracepoint.
        public var function: String
        /// Hits since the start or the last clear.
        public var count: UInt64
    }

    /// The attached session and the probe names, in cookie order.
    public final class Counting {
        /// The loaded program and its links.
        public let session: ToolSession
        /// The probed functions or tracepoints; index i is the cookie of probe i.
        public let probes: [String]
        init(session: ToolSession, probes: [String]) { self.session = session; self.probes = probes }

        /// Reads (and with `clear`, zeroes) the counters; functions with no calls are left out.
        public func counts(clear: Bool = false) throws -> [Count] {
            let map = try ArrayMap<UInt64>(session.map("counts"))
            var out: [Count] = []
            for (i, probe) in probes.enumerated() {
                let n = try map.get(UInt32(i))
                if n > 0 { out.append(Count(function: probe, count: n)) }
                if clear && n > 0 { try map.set(UInt32(i), 0) }
            }
            return out.sorted { ($0.count, $0.function) < ($1.count, $1.function) }
        }
    }

    static let maxProbes = 4096

    /// Finds what the pattern matches (kallsyms, tracefs, or the ELF file's symbols), then
    /// loads funccount and attaches one probe per match with its index as cookie (one
    /// kprobe.multi link for several kernel functions).
    /// - Throws: `BPFError(.invalidArgument)` for a bad pattern or more than 4096 matches;
    ///   `.notFound` when nothing matches or `pid` does not exist; `.unsupported` without kprobes.
    public static func start(_ o: Options) throws -> Counting {
        let pattern = try Pattern(parsing: o.pattern)
        if let pid = o.pid { try ProcessCheck.require(Int32(bitPattern: pid)) }
        var targets: [String] = []
        var uprobeOffsets: [(String, String)] = [] // (path, symbol)
        switch pattern.kind {
        case .kprobe:
            try BPFProgram.requireKprobes("kprobe:\(pattern.name)")
            targets = try KernelSymbols().names(matching: pattern.name)
        case .tracepoint:
            targets = try Tracefs.tracepoints(matching: pattern.name)
        case .uprobe:
            let path = try BinaryLocator.locate(pattern.library!, pid: o.pid.map { Int32(bitPattern: $0) })
            let elf = try ELFFile(path: path)
            for s in elf.functions(matching: pattern.name) {
                let base = s.name.split(separator: "@").first.map(String.init) ?? s.name
                uprobeOffsets.append((path, base))
                targets.append(base)
            }
        }
        guard !targets.isEmpty else {
            throw BPFError(.notFound, operation: "funccount", subject: o.pattern, message: "no \(pattern.kind.rawValue) matches the pattern")
        }
        guard targets.count <= maxProbes else {
            throw BPFError(.invalidArgument, operation: "funccount", subject: o.pattern,
                           message: "\(targets.count) probes match; at most \(maxProbes)", hint: "narrow the pattern")
        }
        if pattern.kind == .kprobe && targets.count > 1 {
            // One kprobe.multi link (5.18, CONFIG_FPROBE) with cookie i for function i; a kernel
            // without it (Debian 12's 6.1: EOPNOTSUPP) gets one kprobe per function.
            do {
                let session = try loadSession(keep: "funccount_kprobe_multi", pid: o.pid)
                do {
                    session.add(try session.object.program(named: "funccount_kprobe_multi")
                        .attachKprobeMulti(symbols: targets, cookies: targets.indices.map { UInt64($0) }))
                    return Counting(session: session, probes: targets)
                } catch {
                    try? session.close()  // the first error is the one to report
                    throw error
                }
            } catch let e as BPFError where e.code == .unsupported && Features.shared.kprobes.available {
                // kprobe.multi refused: the per-function path below.
            }
        }
        let keep: String = switch pattern.kind {
        case .tracepoint: "funccount_tracepoint"
        case .uprobe, .kprobe: "funccount_probe"
        }
        let session = try loadSession(keep: keep, pid: o.pid)
        let program = try session.object.program(named: keep)
        switch pattern.kind {
        case .tracepoint:
            for (i, t) in targets.enumerated() {
                let parts = t.split(separator: ":")
                session.add(try program.attachTracepoint(category: String(parts[0]), name: String(parts[1]), cookie: UInt64(i)))
            }
        case .uprobe:
            for (i, (path, symbol)) in uprobeOffsets.enumerated() {
                session.add(try program.attachUprobe(binary: path, symbol: symbol, pid: o.pid.map { Int32(bitPattern: $0) }, cookie: UInt64(i)))
            }
        case .kprobe:
            do {
                for (i, function) in targets.enumerated() { session.add(try program.attachKprobe(function: function, cookie: UInt64(i))) }
            } catch {
                try? session.close()  // the first error is the one to report
                throw error
            }
        }
        return Counting(session: session, probes: targets)
    }

    /// funccount's object with only `keep` loaded, and the pid filter set.
    static func loadSession(keep: String, pid: UInt32?) throws -> ToolSession {
        try ToolSession.start("funccount", skipAttach: ["funccount_tracepoint", "funccount_probe", "funccount_kprobe_multi"]) { spec in
            for p in spec.programs where p.name != keep { try spec.setAutoload(false, forProgram: p.name) }
            if let pid { try spec.setGlobal("target_pid", to: pid) }
        }
    }

    /// The report as BCC prints it: FUNC COUNT.
    public static func format(_ counts: [Count]) -> String {
        var out = pad("FUNC", 36) + " " + leftPad("COUNT", 8) + "\n"
        for c in counts { out += pad(c.function, 36) + " " + leftPad(String(c.count), 8) + "\n" }
        return out
    }
}
