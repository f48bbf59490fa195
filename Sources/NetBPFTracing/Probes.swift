import CLibBPF
import CNetBPFShims
import Glibc
import NetBPF

/// A dynamic-probe PMU (kprobe or uprobe, kernel 4.17): its perf type and the config bit that
/// makes a return probe, read from /sys/bus/event_source/devices/NAME.
struct ProbePMU: Sendable, Equatable {
    var name: String
    var type: UInt32
    var retprobeBit: Int

    static func named(_ name: String) -> ProbePMU? {
        let dir = "/sys/bus/event_source/devices/\(name)"
        guard let t = readTextFile(dir + "/type"), let type = UInt32(t.trimmingCharacters(in: " \n")) else { return nil }
        // format/retprobe reads "config:0".
        var bit = 0
        if let f = readTextFile(dir + "/format/retprobe"), let colon = f.firstIndex(of: ":"),
           let b = Int(String(f[f.index(after: colon)...]).trimmingCharacters(in: " \n")) { bit = b }
        return ProbePMU(name: name, type: type, retprobeBit: bit)
    }
}

/// What a sampling perf event counts and how often it fires.
public struct SamplingEvent: Sendable, Equatable {
    /// PERF_TYPE_HARDWARE (0) or PERF_TYPE_SOFTWARE (1).
    public var type: UInt32
    /// PERF_COUNT_SW_CPU_CLOCK (0), PERF_COUNT_HW_CPU_CYCLES (0) ...
    public var config: UInt64
    /// How often the event fires.
    public enum Rate: Sendable, Equatable {
        /// Samples per second per CPU (perf_event_attr.sample_freq with freq = 1).
        case frequency(UInt64)
        /// One sample every N events (sample_period), nanoseconds for the clock events.
        case period(UInt64)
    }
    /// How often the event fires.
    public var rate: Rate

    /// Any perf event by type and config (see perf_event_open(2)).
    public init(type: UInt32, config: UInt64, rate: Rate) { self.type = type; self.config = config; self.rate = rate }

    /// The software cpu-clock event (works in VMs without a PMU): `hz` samples a second per CPU.
    public static func cpuClock(frequency hz: UInt64) -> SamplingEvent { SamplingEvent(type: 1, config: 0, rate: .frequency(hz)) }
    /// The software cpu-clock event every `nanoseconds` of CPU time.
    public static func cpuClock(periodNanoseconds ns: UInt64) -> SamplingEvent { SamplingEvent(type: 1, config: 0, rate: .period(ns)) }
}

/// Attaching programs to tracing hooks. Every function returns a `BPFLink` that detaches when
/// released. Hooks this kernel lacks fail with `.unsupported` and the reason, decided from probes
/// (`Features.shared`), never from the kernel version.
extension BPFProgram {
    private func requirePointer(_ operation: String) throws -> OpaquePointer {
        guard let pointer else {
            throw BPFError(.state, operation: operation, subject: name, message: "program has no libbpf object (opened by id or pin)")
        }
        return pointer
    }

    /// Attaches to a tracepoint after checking it exists in tracefs; `cookie` is what
    /// bpf_get_attach_cookie() returns in the program (5.15). libbpf
    /// bpf_program__attach_tracepoint_opts; kernel 4.7.
    /// - Throws: `BPFError(.notFound)` when the tracepoint does not exist; `.state` for a program
    ///   opened by id or pin.
    public func attachTracepoint(category: String, name event: String, cookie: UInt64) throws -> BPFLink {
        let p = try requirePointer("attach tracepoint")
        _ = try Tracefs.format(category: category, event: event) // precise "no such tracepoint"
        let ((link, err), log) = LibbpfLog.capture { (nb_attach_tracepoint(p, category, event, cookie), errno) }
        guard let link else {
            throw AttachErrors.error(operation: "attach tracepoint", subject: "\(category):\(event)", section: "tracepoint", errno: err, log: log)
        }
        return BPFLink(libbpfLink: link, program: self, description: "tracepoint/\(category)/\(event)")
    }

    /// Attaches to a raw tracepoint (BPF_RAW_TRACEPOINT_OPEN, 4.17; libbpf
    /// bpf_program__attach_raw_tracepoint). The program sees the tracepoint's raw arguments.
    /// - Throws: `BPFError(.notFound)` when there is no such tracepoint; `.state` for a program
    ///   opened by id or pin.
    public func attachRawTracepoint(_ event: String) throws -> BPFLink {
        let p = try requirePointer("attach raw tracepoint")
        let ((link, err), log) = LibbpfLog.capture { (bpf_program__attach_raw_tracepoint(p, event), errno) }
        guard let link else {
            var e = AttachErrors.error(operation: "attach raw tracepoint", subject: event, section: "raw_tracepoint", errno: err, log: log)
            if abs(err) == ENOENT { e.code = .notFound; e.hint = "no such tracepoint; list them with `netbpf trace tplist`" }
            throw e
        }
        return BPFLink(libbpfLink: link, program: self, description: "raw_tracepoint/\(event)")
    }

    /// Attaches a uprobe (or uretprobe) to `symbol` in an executable or shared library, or to a
    /// file offset when `symbol` is nil. `binary` is a path, a library name ("c", "libc.so.6") or a
    /// program on PATH; with `pid` the probe fires only in that process (and the library is looked
    /// up in its mappings). Uses the uprobe PMU (perf_event_open, 4.17) and
    /// bpf_program__attach_perf_event_opts (a BPF perf link on 5.15+).
    /// - Throws: `BPFError(.notFound)` for a process, file or function that does not exist;
    ///   `.unsupported` without the uprobe PMU (CONFIG_UPROBE_EVENTS).
    public func attachUprobe(binary: String, symbol: String?, offset: UInt64 = 0, pid: Int32? = nil,
                             retprobe: Bool = false, cookie: UInt64 = 0) throws -> BPFLink {
        let p = try requirePointer("attach uprobe")
        if let pid { try ProcessCheck.require(pid) }
        let path = try BinaryLocator.locate(binary, pid: pid)
        var fileOffset = offset
        if let symbol {
            let elf = try ELFFile(path: path)
            fileOffset = try elf.fileOffset(ofSymbol: symbol) + offset
        }
        guard let pmu = ProbePMU.named("uprobe") else {
            throw BPFError(.unsupported, operation: "attach uprobe", subject: binary,
                           message: "no uprobe PMU (/sys/bus/event_source/devices/uprobe): kernel built without CONFIG_UPROBE_EVENTS")
        }
        let what = "\(retprobe ? "uretprobe" : "uprobe"):\(path):\(symbol ?? "0x" + String(fileOffset, radix: 16))"
        let fd = nb_perf_open_probe(pmu.type, Int32(pmu.retprobeBit), retprobe ? 1 : 0, path, fileOffset, pid ?? -1)
        guard fd >= 0 else { throw BPFError.system("perf_event_open(uprobe)", subject: what, errno: fd) }
        return try attachPerfEventFD(p, fd: fd, cookie: cookie, description: what)
    }

    /// Attaches a kprobe (or kretprobe) to a kernel function: the kprobe PMU (perf_event_open,
    /// 4.17), else a tracefs kprobe_events entry opened as a tracepoint perf event. On a kernel
    /// built without CONFIG_KPROBES this fails with `.unsupported` and says so.
    /// - Throws: `BPFError(.unsupported)` without kprobes; `.notFound` for a function the kernel
    ///   cannot probe (not in /proc/kallsyms, or blacklisted).
    public func attachKprobe(function: String, offset: UInt64 = 0, retprobe: Bool = false, cookie: UInt64 = 0) throws -> BPFLink {
        let p = try requirePointer("attach kprobe")
        let what = "\(retprobe ? "kretprobe" : "kprobe"):\(function)\(offset > 0 ? "+\(offset)" : "")"
        try Self.requireKprobes(what)
        if let pmu = ProbePMU.named("kprobe") {
            let fd = nb_perf_open_probe(pmu.type, Int32(pmu.retprobeBit), retprobe ? 1 : 0, function, offset, -1)
            if fd >= 0 { return try attachPerfEventFD(p, fd: fd, cookie: cookie, description: what) }
            if -fd == ENOENT || -fd == EINVAL {
                throw BPFError(.notFound, operation: "attach kprobe", subject: what, errno: -fd,
                               message: "the kernel cannot probe \(function) (\(Errno.describe(fd)))",
                               hint: "it must be a function in /proc/kallsyms and not blacklisted")
            }
        }
        let event = try KprobeEvents.add(function: function, offset: offset, retprobe: retprobe)
        let fd = nb_perf_open_tracepoint(UInt64(event.id), -1, 0)
        guard fd >= 0 else {
            KprobeEvents.remove(event)
            throw BPFError.system("perf_event_open(kprobe_events)", subject: what, errno: fd)
        }
        return try attachPerfEventFD(p, fd: fd, cookie: cookie, description: what + " (kprobe_events)")
    }

    /// Attaches one kprobe_multi link (5.18) to every kernel function matching a glob
    /// (`tcp_*`), through bpf_program__attach_kprobe_multi_opts. The program must be loaded as
    /// SEC("kprobe.multi") (attach type BPF_TRACE_KPROBE_MULTI).
    /// - Throws: `BPFError(.unsupported)` without kprobes; otherwise the errno of
    ///   bpf_program__attach_kprobe_multi_opts (a kernel without CONFIG_FPROBE refuses kprobe.multi).
    public func attachKprobeMulti(pattern: String, retprobe: Bool = false) throws -> BPFLink {
        let p = try requirePointer("attach kprobe_multi")
        let what = "\(retprobe ? "kretprobe" : "kprobe").multi:\(pattern)"
        try Self.requireKprobes(what)
        let ((link, err), log) = LibbpfLog.capture { (nb_attach_kprobe_multi(p, pattern, nil, nil, 0, retprobe ? 1 : 0), errno) }
        guard let link else {
            throw AttachErrors.error(operation: "attach kprobe_multi", subject: what, section: "kprobe.multi", errno: err, log: log)
        }
        return BPFLink(libbpfLink: link, program: self, description: what)
    }

    /// Attaches one kprobe_multi link (5.18) to the named kernel functions, function i with BPF
    /// cookie `cookies[i]` (bpf_get_attach_cookie), so one program can tell them apart.
    /// - Throws: `BPFError(.unsupported)` without kprobes or, with EOPNOTSUPP, on a kernel built
    ///   without CONFIG_FPROBE (Debian 12's 6.1); otherwise the errno of
    ///   bpf_program__attach_kprobe_multi_opts.
    public func attachKprobeMulti(symbols: [String], cookies: [UInt64], retprobe: Bool = false) throws -> BPFLink {
        let p = try requirePointer("attach kprobe_multi")
        let what = "\(retprobe ? "kretprobe" : "kprobe").multi:\(symbols.count) functions"
        try Self.requireKprobes(what)
        guard symbols.count == cookies.count, !symbols.isEmpty else {
            throw BPFError(.invalidArgument, operation: "attach kprobe_multi", subject: what, message: "one cookie per function is needed")
        }
        let names = symbols.map { strdup($0) }
        defer { names.forEach { free($0) } }
        var pointers: [UnsafePointer<CChar>?] = names.map { $0.map { UnsafePointer($0) } }
        let ((link, err), log) = LibbpfLog.capture {
            pointers.withUnsafeMutableBufferPointer { syms in
                cookies.withUnsafeBufferPointer { c in
                    (nb_attach_kprobe_multi(p, nil, syms.baseAddress, c.baseAddress, symbols.count, retprobe ? 1 : 0), errno)
                }
            }
        }
        guard let link else {
            throw AttachErrors.error(operation: "attach kprobe_multi", subject: what, section: "kprobe.multi", errno: err, log: log)
        }
        return BPFLink(libbpfLink: link, program: self, description: what)
    }

    /// Attaches an fentry/fexit/fmod_ret program to the function named in its section
    /// (bpf_program__attach_trace, a BPF trampoline, 5.5). Fails with `.unsupported` and the reason
    /// where trampolines are refused (this project's kernels: ftrace direct calls locked down).
    public func attachTrampoline() throws -> BPFLink {
        let p = try requirePointer("attach fentry")
        let fentry = Features.shared.fentry
        guard fentry.available else {
            throw BPFError(.unsupported, operation: "attach fentry/fexit", subject: section.isEmpty ? name : section,
                           message: "fentry/fexit is not usable on this kernel: \(fentry.detail)",
                           hint: "use a tracepoint or raw tracepoint (`netbpf trace tplist`)")
        }
        let ((link, err), log) = LibbpfLog.capture { (bpf_program__attach_trace(p), errno) }
        guard let link else {
            throw AttachErrors.error(operation: "attach fentry/fexit", subject: section, section: section, errno: err, log: log)
        }
        return BPFLink(libbpfLink: link, program: self, description: section)
    }

    /// Attaches a perf_event program to a sampling event on each CPU (all online CPUs by default),
    /// optionally only while `pid` runs. One link per CPU; CPUs where the event does not exist
    /// are skipped. perf_event_open + BPF perf link (bpf_program__attach_perf_event, 4.9).
    /// - Throws: `BPFError(.notFound)` for a process that does not exist; `.permission` without
    ///   CAP_PERFMON; `.unsupported` when no CPU has the event.
    public func attachPerfEvent(_ event: SamplingEvent, cpus: [Int]? = nil, pid: Int32 = -1) throws -> [BPFLink] {
        let p = try requirePointer("attach perf_event")
        if pid >= 0 { try ProcessCheck.require(pid) }
        var links: [BPFLink] = []
        for cpu in cpus ?? CPUs.online() {
            let (value, freq): (UInt64, Int32) = switch event.rate { case .frequency(let f): (f, 1); case .period(let n): (n, 0) }
            let fd = nb_perf_open_sampling(event.type, event.config, value, freq, pid, Int32(cpu))
            if fd < 0 {
                if -fd == ENODEV || -fd == ENOENT || -fd == EOPNOTSUPP { continue } // CPU offline / no such counter here
                throw BPFError.system("perf_event_open(sampling)", subject: "cpu \(cpu)", errno: fd,
                                      hint: -fd == EACCES || -fd == EPERM ? "needs CAP_PERFMON; see /proc/sys/kernel/perf_event_paranoid" : nil)
            }
            links.append(try attachPerfEventFD(p, fd: fd, cookie: 0, description: "perf_event type \(event.type) config \(event.config) cpu \(cpu)"))
        }
        guard !links.isEmpty else {
            throw BPFError(.unsupported, operation: "attach perf_event", subject: name, message: "the event could not be opened on any CPU")
        }
        return links
    }

    /// The shared perf-event path of kprobes, uprobes, kprobe_events and sampling: the link owns
    /// the perf event fd.
    private func attachPerfEventFD(_ p: OpaquePointer, fd: Int32, cookie: UInt64, description: String) throws -> BPFLink {
        let ((link, err), log) = LibbpfLog.capture { (nb_attach_perf_event(p, fd, cookie), errno) }
        guard let link else {
            close(fd)
            throw AttachErrors.error(operation: "attach perf event", subject: description, section: section, errno: err, log: log)
        }
        return BPFLink(libbpfLink: link, program: self, description: description)
    }

    static func requireKprobes(_ what: String) throws {
        let k = Features.shared.kprobes
        guard k.available else {
            throw BPFError(.unsupported, operation: "attach kprobe", subject: what,
                           message: "kernel built without CONFIG_KPROBES (no kprobe PMU in /sys/bus/event_source/devices, no kprobe_events in tracefs)",
                           hint: "use a tracepoint (`netbpf trace tplist`), a raw tracepoint or a uprobe")
        }
    }
}

/// tracefs kprobe_events entries netbpf made (the fallback when there is no kprobe PMU); removed
/// by `removeAll()`, which tools call on exit.
public enum KprobeEvents {
    struct Event: Sendable { var group: String; var name: String; var id: UInt32 }
    nonisolated(unsafe) private static var made: [Event] = []
    nonisolated(unsafe) private static var counter = 0

    static func add(function: String, offset: UInt64, retprobe: Bool) throws -> Event {
        let root = try Tracefs.root()
        counter += 1
        let group = "netbpf", name = "nb_\(getpid())_\(counter)"
        let line = "\(retprobe ? "r" : "p"):\(group)/\(name) \(function)\(offset > 0 ? "+\(offset)" : "")\n"
        try appendFile(root + "/kprobe_events", line, what: "kprobe_events")
        guard let idText = readTextFile(root + "/events/\(group)/\(name)/id"), let id = UInt32(idText.trimmingCharacters(in: " \n")) else {
            throw BPFError.system("read kprobe event id", subject: name, errno: errno)
        }
        let event = Event(group: group, name: name, id: id)
        made.append(event)
        return event
    }

    static func remove(_ event: Event) {
        guard let root = try? Tracefs.root() else { return }
        try? appendFile(root + "/kprobe_events", "-:\(event.group)/\(event.name)\n", what: "kprobe_events")
        made.removeAll { $0.name == event.name }
    }

    /// Removes every kprobe_events entry this process made (call after its links are released;
    /// `ToolSession.close()` does).
    public static func removeAll() { for e in made { remove(e) } }

    static func appendFile(_ path: String, _ text: String, what: String) throws {
        let fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC)
        guard fd >= 0 else { throw BPFError.system("open \(what)", subject: path, errno: errno) }
        defer { close(fd) }
        let n = text.withCString { write(fd, $0, strlen($0)) }
        if n < 0 { throw BPFError.system("write \(what)", subject: text.trimmingCharacters(in: "\n"), errno: errno) }
    }
}

/// Online CPUs, from /sys/devices/system/cpu/online ("0-1,4").
public enum CPUs {
    /// The online CPUs; all `sysconf(_SC_NPROCESSORS_ONLN)` from 0 when the file cannot be read.
    public static func online() -> [Int] {
        guard let text = readTextFile("/sys/devices/system/cpu/online") else { return Array(0..<Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }
        return parseList(text)
    }

    /// The CPUs of a kernel CPU list ("0-3,8,10-11"); malformed parts are skipped.
    public static func parseList(_ text: String) -> [Int] {
        var out: [Int] = []
        for part in text.trimmingCharacters(in: " \n").split(separator: ",") {
            let ends = part.split(separator: "-").compactMap { Int($0) }
            if ends.count == 2 { out += Array(ends[0]...ends[1]) } else if ends.count == 1 { out.append(ends[0]) }
        }
        return out
    }
}

/// "No such process" as an error, before a probe or filter is set up for a PID.
enum ProcessCheck {
    static func exists(_ pid: Int32) -> Bool { pid > 0 && (kill(pid, 0) == 0 || errno == EPERM) }

    static func require(_ pid: Int32) throws {
        guard exists(pid) else {
            throw BPFError(.notFound, operation: "trace", subject: "pid \(pid)", errno: ESRCH, message: "no such process")
        }
    }
}

extension String {
    /// Trims the given characters from both ends (no Foundation).
    func trimmingCharacters(in set: String) -> String {
        var s = Substring(self)
        while let f = s.first, set.contains(f) { s.removeFirst() }
        while let l = s.last, set.contains(l) { s.removeLast() }
        return String(s)
    }
}
