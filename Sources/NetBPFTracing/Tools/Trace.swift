import NetBPF

/// trace: prints each hit of one tracepoint with its fields decoded from the tracefs format,
/// filtered by an expression over those fields (`sig == 9 && comm != "bash"`).
public enum Trace {
    /// What to trace and print; the fields are the command's arguments.
    public struct Options: Sendable {
        /// The tracepoint: "CATEGORY:EVENT" or "t:CATEGORY:EVENT".
        public var tracepoint: String = ""
        /// -f: the filter expression (see `Filter`).
        public var filter: String?
        /// -p: trace this process only.
        public var pid: UInt32?
        /// -T: a HH:MM:SS column.
        public var time = false
        /// Stop after this many printed events.
        public var maxEvents: Int?
        /// -K / -U: kernel and user stacks for each event.
        public var kernelStacks = false
        /// -U: the user stack of each event.
        public var userStacks = false
        /// No tracepoint yet (`start` refuses an empty one), no filter.
        public init() {}
    }

    /// One hit of the tracepoint.
    public struct Event: Sendable, Encodable, Equatable {
        /// bpf_ktime_get_ns() at the hit.
        public var timestampNs: UInt64
        /// The process (tgid).
        public var pid: UInt32
        /// The thread.
        public var tid: UInt32
        /// The CPU it ran on.
        public var cpu: UInt32
        /// The command name.
        public var comm: String
        /// "category:event".
        public var tracepoint: String
        /// The tracepoint's own arguments, in format order.
        public var fields: [Field]
        /// Symbolized frames, innermost first, when -K / -U asked for them.
        public var kernelStack: [String]?
        /// Symbolized user frames, innermost first, when -U asked for them.
        public var userStack: [String]?
        /// One argument of the tracepoint.
        public struct Field: Sendable, Encodable, Equatable {
            /// The argument's name in the tracepoint format.
            public var name: String
            /// Its value in this hit.
            public var value: TraceValue
        }

        /// The value of argument `name`, or of the built-in fields pid, tid, cpu and comm; nil
        /// when there is no such field.
        public func value(_ name: String) -> TraceValue? {
            switch name {
            case "pid": return .unsigned(UInt64(pid))
            case "tid": return .unsigned(UInt64(tid))
            case "cpu": return .unsigned(UInt64(cpu))
            case "comm": return .string(comm)
            default: return fields.first { $0.name == name }?.value
            }
        }
    }

    /// A loaded trace: the session, the format and the compiled filter.
    public final class Tracing {
        /// The loaded program and its link.
        public let session: ToolSession
        /// The traced tracepoint's format.
        public let format: TracepointFormat
        /// The compiled filter, applied in user space with `Filter.matches`.
        public let filter: Filter?
        /// Pointer fields read as user strings in the kernel, by name.
        let stringFields: [String]

        let options: Options
        private lazy var kernelSymbols: KernelSymbols? = try? KernelSymbols()
        private var processSymbols: [UInt32: ProcessSymbols] = [:]
        private lazy var stacks: StackTraceMap? = try? StackTraceMap(session.map("stacks"))

        init(session: ToolSession, format: TracepointFormat, filter: Filter?, stringFields: [String], options: Options) {
            self.session = session; self.format = format; self.filter = filter; self.stringFields = stringFields
            self.options = options
        }

        /// Frames of a stack id, symbolized (kernel from kallsyms, user from the process's maps).
        func frames(_ id: Int32, user: UInt32?) -> [String]? {
            guard id >= 0, let addresses = try? stacks?.addresses(id) else { return id == -1 ? nil : ["[stack unavailable: \(ErrnoName.name(-id))]"] }
            if let pid = user {
                if processSymbols[pid] == nil, let s = try? ProcessSymbols(pid: Int32(bitPattern: pid)) { processSymbols[pid] = s }
                return addresses.map { processSymbols[pid]?.describe($0) ?? "[unknown]" }
            }
            return addresses.map { kernelSymbols?.describe($0) ?? "[unknown]" }
        }

        /// Decodes one record of the `events` ring buffer, symbolizing its stacks when asked.
        /// Not thread-safe: it caches symbol tables; call it from the polling thread.
        public func decode(_ r: UnsafeRawBufferPointer) -> Event {
            let size = Int(r.u32(20))
            let record = UnsafeRawBufferPointer(rebasing: r[(304)..<(304 + min(size, 512))])
            var fields: [Event.Field] = []
            for f in format.arguments {
                if let i = stringFields.firstIndex(of: f.name) {
                    fields.append(.init(name: f.name, value: .string(r.cString(40 + i * 128, max: 128))))
                } else {
                    fields.append(.init(name: f.name, value: format.value(of: f, in: record)))
                }
            }
            let pid = r.u32(8)
            return Event(timestampNs: r.u64(0), pid: pid, tid: r.u32(12), cpu: r.u32(16), comm: r.cString(24, max: 16),
                         tracepoint: "\(format.category):\(format.name)", fields: fields,
                         kernelStack: options.kernelStacks ? frames(r.i32(296), user: nil) : nil,
                         userStack: options.userStacks ? frames(r.i32(300), user: pid) : nil)
        }
    }

    /// Reads the tracepoint's format, compiles the filter, then loads the trace program and
    /// attaches it to the tracepoint (kernel 4.7).
    /// - Throws: `BPFError(.invalidArgument)` for a malformed tracepoint name or filter;
    ///   `.notFound` for a tracepoint or `pid` that does not exist; what `ToolSession.start` throws.
    public static func start(_ o: Options) throws -> Tracing {
        if o.tracepoint.hasPrefix("p:") || o.tracepoint.hasPrefix("r:") { return try startKprobe(o) }
        var name = o.tracepoint
        if name.hasPrefix("t:") { name.removeFirst(2) } else if name.hasPrefix("tracepoint:") { name.removeFirst(11) }
        let parts = name.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2 else {
            throw BPFError(.invalidArgument, operation: "trace", subject: o.tracepoint, message: "give a tracepoint as CATEGORY:EVENT (t:CATEGORY:EVENT)",
                           hint: "list them with `netbpf trace tplist`")
        }
        let format = try Tracefs.format(category: String(parts[0]), event: String(parts[1]))
        if format.field(named: "__probe_ip") != nil {
            // A tracefs kprobe event: its perf event takes only kprobe programs (EINVAL otherwise).
            throw BPFError(.invalidArgument, operation: "trace", subject: o.tracepoint, message: "this is a kprobe event, not a tracepoint",
                           hint: "trace the function itself: netbpf trace trace p:FUNCTION (or r:FUNCTION)")
        }
        let filter = try o.filter.map { try Filter(parsing: $0, fields: Array(Set(format.arguments.map(\.name) + ["pid", "tid", "cpu", "comm"])).sorted()) }
        if let pid = o.pid { try ProcessCheck.require(Int32(bitPattern: pid)) }
        let strings = format.arguments.filter { $0.isPointer && $0.type.contains("char") && $0.size == 8 }.prefix(2)
        let session = try ToolSession.start("trace", skipAttach: ["trace_tracepoint", "trace_kprobe"]) { spec in
            try spec.setAutoload(false, forProgram: "trace_kprobe")
            if let pid = o.pid { try spec.setGlobal("target_pid", to: pid) }
            try spec.setGlobal("record_size", to: UInt32(min(format.recordSize, 512)))
            let offs = strings.map { Int32($0.offset) }
            try spec.setGlobal("string_offset0", to: offs.count > 0 ? offs[0] : -1)
            try spec.setGlobal("string_offset1", to: offs.count > 1 ? offs[1] : -1)
            try spec.setGlobal("kernel_stacks", to: o.kernelStacks)
            try spec.setGlobal("user_stacks", to: o.userStacks)
        }
        let program = try session.object.program(named: "trace_tracepoint")
        session.add(try program.attachTracepoint(category: format.category, name: format.name, cookie: 0))
        return Tracing(session: session, format: format, filter: filter, stringFields: strings.map(\.name), options: o)
    }

    /// `p:FUNC` / `r:FUNC` (BCC's trace syntax): each entry to or return from a kernel function,
    /// with pid, tid, cpu and comm (no arguments), through a kprobe (4.17 PMU, tracefs before).
    /// A tracefs kprobe event (kprobes:NAME) cannot take the tracepoint program: its perf event
    /// accepts only BPF_PROG_TYPE_KPROBE, so kernel functions are traced this way.
    /// - Throws: `BPFError(.unsupported)` on a kernel without kprobes; `.notFound` for a
    ///   function that cannot be probed.
    static func startKprobe(_ o: Options) throws -> Tracing {
        let retprobe = o.tracepoint.hasPrefix("r:")
        let function = String(o.tracepoint.dropFirst(2))
        guard !function.isEmpty, !function.contains(":") else {
            throw BPFError(.invalidArgument, operation: "trace", subject: o.tracepoint, message: "give a kernel function as p:FUNCTION or r:FUNCTION")
        }
        try BPFProgram.requireKprobes("\(retprobe ? "kretprobe" : "kprobe"):\(function)")
        let filter = try o.filter.map { try Filter(parsing: $0, fields: ["comm", "cpu", "pid", "tid"]) }
        if let pid = o.pid { try ProcessCheck.require(Int32(bitPattern: pid)) }
        let session = try ToolSession.start("trace", skipAttach: ["trace_tracepoint", "trace_kprobe"]) { spec in
            try spec.setAutoload(false, forProgram: "trace_tracepoint")
            if let pid = o.pid { try spec.setGlobal("target_pid", to: pid) }
            try spec.setGlobal("kernel_stacks", to: o.kernelStacks)
            try spec.setGlobal("user_stacks", to: o.userStacks)
        }
        do {
            session.add(try session.object.program(named: "trace_kprobe").attachKprobe(function: function, retprobe: retprobe))
        } catch {
            try? session.close()  // the first error is the one to report
            throw error
        }
        // A format with a name and no fields: the event line shows FUNC and no arguments.
        let format = try TracepointFormat(parsing: "name: \(function)\n", category: retprobe ? "r" : "p")
        return Tracing(session: session, format: format, filter: filter, stringFields: [], options: o)
    }

    /// The column header line: PID TID COMM FUNC -, with the columns `o` adds.
    public static func header(_ o: Options) -> String {
        (o.time ? pad("TIME", 8) + " " : "") + pad("PID", 7) + " " + pad("TID", 7) + " " + pad("COMM", 15) + " " + pad("FUNC", 16) + " -"
    }

    /// One output line under `header(o)`: the fields as name=value, then the stack frames.
    public static func line(_ e: Event, _ o: Options) -> String {
        let fn = e.tracepoint.split(separator: ":").last.map(String.init) ?? e.tracepoint
        return (o.time ? pad(Clock.wallTime(), 8) + " " : "") + pad(String(e.pid), 7) + " " + pad(String(e.tid), 7) + " "
            + pad(String(e.comm.prefix(15)), 15) + " " + pad(fn, 16) + " "
            + e.fields.map { "\($0.name)=\($0.value)" }.joined(separator: " ")
            + (e.kernelStack ?? []).map { "\n        " + $0 }.joined()
            + (e.userStack.map { ($0.isEmpty ? [] : e.kernelStack == nil ? [] : ["-"]) + $0 } ?? []).map { "\n        " + $0 }.joined()
    }

    /// `FIELD OP VALUE` terms joined by && and || (&& binds tighter). OP: == != < <= > >= and
    /// ~ (string contains). VALUE: a number (decimal or 0x hex) or a string, quoted or bare.
    public struct Filter: Sendable, Equatable {
        /// One `FIELD OP VALUE` comparison.
        public struct Term: Sendable, Equatable { var field: String; var op: String; var value: String }
        /// Disjunction of conjunctions.
        let groups: [[Term]]

        /// Parses `text`, accepting only field names in `fields`.
        /// - Throws: `BPFError(.invalidArgument)` naming what is wrong, its hint listing the fields.
        public init(parsing text: String, fields: [String]) throws {
            func bad(_ m: String) -> BPFError {
                BPFError(.invalidArgument, operation: "trace filter", subject: text, message: m,
                         hint: "FIELD OP VALUE joined by && or ||; OP is == != < <= > >= ~; fields: " + fields.joined(separator: ", "))
            }
            var groups: [[Term]] = []
            for orPart in text.components(separatedBy: "||") {
                var group: [Term] = []
                for andPart in orPart.components(separatedBy: "&&") {
                    let t = andPart.trimmingCharacters(in: " \t")
                    guard !t.isEmpty else { throw bad("empty condition") }
                    var found: (String, Range<String.Index>)?
                    for op in ["==", "!=", "<=", ">=", "<", ">", "~"] {
                        if let r = Substring(t).range(of: op) { found = (op, r); break }
                    }
                    guard let (op, r) = found else { throw bad("no operator in '\(t)'") }
                    let field = String(t[..<r.lowerBound]).trimmingCharacters(in: " \t")
                    var value = String(t[r.upperBound...]).trimmingCharacters(in: " \t")
                    if value.count >= 2, let f = value.first, f == "\"" || f == "'", value.last == f { value = String(value.dropFirst().dropLast()) }
                    guard fields.contains(field) else { throw bad("no field '\(field)' in this tracepoint") }
                    guard !value.isEmpty else { throw bad("no value in '\(t)'") }
                    group.append(Term(field: field, op: op, value: value))
                }
                groups.append(group)
            }
            self.groups = groups
        }

        /// Whether `e` satisfies the filter. Numbers compare as integers (a signal name counts
        /// as its number); a field that is missing, or not a number where one is needed, fails
        /// every comparison but `!=`.
        public func matches(_ e: Event) -> Bool {
            groups.contains { group in group.allSatisfy { term in
                guard let v = e.value(term.field) else { return false }
                return Self.compare(v, term.op, term.value)
            } }
        }

        static func compare(_ v: TraceValue, _ op: String, _ text: String) -> Bool {
            func number(_ s: String) -> Int64? {
                if s.hasPrefix("0x") { return UInt64(s.dropFirst(2), radix: 16).map { Int64(bitPattern: $0) } }
                return Int64(s) ?? SignalNames.number(s).map(Int64.init)
            }
            let lhs: Int64?
            switch v {
            case .signed(let n): lhs = n
            case .unsigned(let n), .pointer(let n): lhs = Int64(bitPattern: n)
            case .string(let s):
                switch op {
                case "==": return s == text
                case "!=": return s != text
                case "~": return s.hasSubstring(text)
                case "<": return s < text
                case ">": return s > text
                case "<=": return s <= text
                case ">=": return s >= text
                default: return false
                }
            default: lhs = nil
            }
            guard let l = lhs, let r = number(text) else { return op == "!=" }
            switch op {
            case "==": return l == r
            case "!=": return l != r
            case "<": return l < r
            case "<=": return l <= r
            case ">": return l > r
            case ">=": return l >= r
            default: return false
            }
        }
    }
}

extension String {
    func components(separatedBy separator: String) -> [String] {
        var out: [String] = []
        var rest = Substring(self)
        while let r = rest.range(of: separator) {
            out.append(String(rest[..<r.lowerBound]))
            rest = rest[r.upperBound...]
        }
        out.append(String(rest))
        return out
    }
}
